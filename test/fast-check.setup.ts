/**
 * fast-check seeds, the one setup for every project with property tests (test/, libs/core
 * and libs/sim name this file in their vitest config's `setupFiles`): a run on a developer's
 * machine draws a fresh seed (and prints it with any counterexample); CI (CI=true) uses a
 * fixed one so a submission's result does not depend on luck; FC_SEED=n replays a seed anywhere.
 */
import fc from "fast-check"

const fromEnv = process.env["FC_SEED"]
const seed = fromEnv !== undefined ? Number(fromEnv) : process.env["CI"] === "true" ? 20_261_122 : undefined
if (seed !== undefined) fc.configureGlobal({ seed })
