/**
 * What every command of the CLI shares: where it goes (`targetOf`), reaching the runner
 * (`withControl`), printing, the version and the exit code a command asks for.
 */
import type { ApiError } from "@gantry/api"
import { Effect, Option, Schema } from "effect"
import * as Connect from "./Connect.js"
import type { Control } from "./Control.js"
import { readCredentials, tokenFor } from "./Credentials.js"
import * as F from "./Format.js"
import type { CliError, Common } from "./Input.js"
import { resolvePaths } from "./Paths.js"

export const VERSION = "0.1.0"

/** What the command asks the process to exit with (0 unless `run` says otherwise). */
export const outcome = { exitCode: 0 }

/**
 * Where a command goes: `--url`, else `--db`, else `$GANTRY_URL`, else the URL of the last
 * `gantry login`, else the local database. A URL's token: `--token`, else `$GANTRY_TOKEN`,
 * else the one `gantry login` stored for it.
 */
export const targetOf = (c: Common, env: NodeJS.ProcessEnv = process.env): Connect.Target => {
  const db = Option.getOrUndefined(c.db)
  const url = Option.getOrUndefined(c.url) ?? (db !== undefined ? undefined : env.GANTRY_URL !== undefined && env.GANTRY_URL !== "" ? env.GANTRY_URL : (readCredentials(env).current ?? undefined))
  const token = url === undefined ? undefined : (Option.getOrUndefined(c.token) ?? (env.GANTRY_TOKEN !== undefined && env.GANTRY_TOKEN !== "" ? env.GANTRY_TOKEN : tokenFor(url, env)))
  return { paths: resolvePaths(db), url, token, version: VERSION }
}

/** `create`: the command writes, so it may create the database (the others need one). */
export const withControl = <A>(c: Common, use: (control: Control) => Effect.Effect<A, ApiError | CliError>, options: { readonly create?: boolean } = {}) =>
  Effect.suspend(() => {
    let inner: CliError | undefined
    return Connect.withControl(
      targetOf(c),
      (control) =>
        use(control).pipe(
          Effect.catchTag("CliError", (e) => {
            inner = e
            return Effect.void as Effect.Effect<never>
          })
        ),
      options
    ).pipe(Effect.flatMap((a) => (inner === undefined ? Effect.succeed(a) : Effect.fail(inner))))
  })

export const print = (text: string) => Effect.sync(() => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))
/**
 * JSON as the API's schema encodes it, the shape the HTTP API sends: times as ISO-8601 UTC
 * text (`IsoTime`), never epoch milliseconds.
 */
export const printJson = <A, I>(schema: Schema.Schema<A, I>, value: A) => Effect.flatMap(Effect.orDie(Schema.encode(schema)(value)), (encoded) => print(F.json(encoded)))

/** JSON of what a command makes itself (`{ cancelled }`, `{ removed }`, ...): flat, and no times in it. */
export const printPlain = (value: Readonly<Record<string, string | number | boolean | ReadonlyArray<string>>>) => print(F.json(value))

