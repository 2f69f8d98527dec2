/**
 * Saved run templates (the common queue API's `config_name`): `config save NAME --file
 * task.json` stores a submission as `submit --file` takes one (without a user: whoever submits
 * the template owns the run); `config list`, `config show NAME`, `config delete NAME`. Its
 * creator or an admin may replace or delete it.
 */
import { Args, Command, Options } from "@effect/cli"
import { TemplateJson, TemplateName } from "@gantry/api"
import { Effect, Schema } from "effect"
import { print, printJson, printPlain, withControl } from "./CliCommon.js"
import * as F from "./Format.js"
import { decodeTemplate } from "./Judge.js"
import { CliError, common, decodeWith, readJsonFile } from "./Input.js"

const nameArg = Args.text({ name: "name" }).pipe(Args.withDescription("the template's name (letters, digits, '.', '_', '-')"))

const templatesTable = (templates: ReadonlyArray<TemplateJson>) =>
  F.table(
    ["name", "command", "gpus", "queue", "by", "saved"],
    templates.map((t) => [t.name, F.truncate(F.commandLine(t.submission.command), 48), t.submission.gpus ?? 1, t.submission.queue ?? null, t.createdBy, F.localTime(t.updatedAt)])
  )

const configSaveOptions = {
  ...common,
  file: Options.text("file").pipe(Options.withDescription("a JSON submission, as `gantry submit --file` takes one (no user: whoever submits it owns the run)")),
  name: nameArg
}
const configSave = Command.make("save", configSaveOptions, (a) =>
  Effect.gen(function* () {
    const name = yield* decodeWith(TemplateName, "template name")(a.name)
    // judged as the daemon judges it: over a limit exit 65, malformed exit 64, naming the field
    const submission = yield* Effect.flatMap(readJsonFile(a.file), (body) => Effect.mapError(decodeTemplate(body), (e) => new CliError({ message: `${a.file}: ${e.message}`, exit: e.exit })))
    yield* withControl(a, (control) =>
      Effect.flatMap(control.saveTemplate(name, submission), (t) => (a.format === "json" ? printJson(TemplateJson, t) : print(`template ${t.name} saved`))),
      { create: true }
    )
  })
).pipe(Command.withDescription("save a run template under NAME (what the common queue API's config_name names)"))

const configList = Command.make("list", common, (a) =>
  withControl(a, (control) => Effect.flatMap(control.templates, (ts) => (a.format === "json" ? printJson(Schema.Array(TemplateJson), ts) : print(templatesTable(ts)))))
).pipe(Command.withDescription("list the saved run templates"))

const configNameOptions = { ...common, name: nameArg }
const configShow = Command.make("show", configNameOptions, (a) =>
  withControl(a, (control) => Effect.flatMap(control.template(a.name), (t) => (a.format === "json" ? printJson(TemplateJson, t) : print(F.json(t.submission)))))
).pipe(Command.withDescription("print a saved template's submission"))

const configDelete = Command.make("delete", configNameOptions, (a) =>
  withControl(a, (control) => Effect.flatMap(control.deleteTemplate(a.name), () => (a.format === "json" ? printPlain({ deleted: a.name }) : print(`template ${a.name} deleted`))))
).pipe(Command.withDescription("delete a saved template (its creator or an admin)"))

export const configCommand = Command.make("config").pipe(
  Command.withSubcommands([configSave, configList, configShow, configDelete]),
  Command.withDescription("saved run templates: save, list, show, delete")
)

export const configSpecs = [
  ["config save", configSaveOptions],
  ["config list", common],
  ["config show", configNameOptions],
  ["config delete", configNameOptions]
] as const
