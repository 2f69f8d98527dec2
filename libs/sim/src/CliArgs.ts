/**
 * A check for command-line tools built on @effect/cli (the `sim` and `bench` CLIs): what
 * @effect/cli says about a wrong word before the command does not name it ("Invalid
 * subcommand"), so that word is checked first. Returns the message for the first word that is
 * neither a flag of the tool itself (@effect/cli's built-ins, and `ownFlags`) nor one of
 * `commands`; null when there is none.
 */
export const wrongWordBeforeCommand = (
  argv: ReadonlyArray<string>,
  tool: { readonly commands: ReadonlyArray<string>; readonly ownFlags: ReadonlyArray<string>; readonly noun: string }
): string | null => {
  const withValue = new Set(["--completions", "--log-level"])
  const flags = new Set(["-h", "--help", "--version", "--wizard", ...withValue, ...tool.ownFlags])
  for (let i = 2; i < argv.length; i++) {
    const word = argv[i]!
    const name = word.split("=")[0]!
    if (flags.has(name)) {
      if (withValue.has(word)) i++
      continue
    }
    if (word.startsWith("-")) return `unknown flag "${word}" (--help says more)`
    return tool.commands.includes(word) ? null : `unknown ${tool.noun} "${word}": use ${tool.commands.join(", ")} (--help says more)`
  }
  return null
}
