/**
 * Who submits, and where their runs go (SPEC §1): identities, projects and the routing rule.
 *
 * - An **identity** is a user with a level (admin, lead, researcher, viewer), an optional team
 *   and the projects they belong to (the first is their default, like Slurm's default
 *   account), and, for a runner serving as root, the Unix account their runs start under. A
 *   run's user, level and team come from the caller's identity, never from the request.
 * - A **project** groups runs: its default queue, and optionally the only queues it may use.
 * - **Routing**: a run's queue is the most specific one given — the submission's own queue
 *   (the CLI folds `--queue`, the task file's `queue` and `$GANTRY_QUEUE` into it, in that
 *   order), else its project's default, else `default`. A queue the project may not use is
 *   refused. `routeQueue` is the rule, pure, for the runner and the simulator alike.
 */
import { Either, Schema } from "effect"
import { DEFAULT_QUEUE } from "./Policy.js"
import { Level, QueueName, TeamName, UserName } from "./Run.js"

export const ProjectName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: () => "a project name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
  }),
  Schema.brand("ProjectName")
)
export type ProjectName = typeof ProjectName.Type

/**
 * A Unix account name as useradd accepts it (POSIX portable, plus a trailing `$`): no ':',
 * no control characters, never starting with '-' (it would read as an option).
 */
export const UnixUserName = Schema.String.pipe(
  Schema.pattern(/^[a-z_][a-z0-9_.-]{0,31}\$?$/i, { message: () => "a Unix account name is 1-32 letters, digits, '_', '.' or '-', starting with a letter or '_'" })
)

/**
 * A user's name in the directory: 1-128 characters that print on one line (no control
 * characters), without '/' or spaces at either end, and not "." or ".." ("ana",
 * "ana.lima@lab.org", "José").
 */
export const IdentityName = UserName.pipe(
  Schema.filter((s) => !/[\u0000-\u001f\u007f]/.test(s) || "a user name must not contain control characters (NUL, newline, tab, escape, ...)"),
  Schema.filter((s) => (s.trim() === s && s !== "" && s !== "." && s !== ".." && !s.includes("/")) || `a user name has no spaces at either end and no '/', and is not "." or "..": ${JSON.stringify(s.slice(0, 64))}`)
)

export const Identity = Schema.Struct({
  name: IdentityName,
  level: Level,
  team: Schema.NullOr(TeamName),
  /** The projects the user may submit to; the first is their default. Admins may use any. */
  projects: Schema.Array(ProjectName),
  /**
   * The Unix account the user's runs start under when the runner serves as root; null = the
   * account of the same name (never root unless mapped to it explicitly).
   */
  unixUser: Schema.NullOr(UnixUserName)
})
export type Identity = typeof Identity.Type

export const Project = Schema.Struct({
  name: ProjectName,
  /** Where a run of the project goes when it names no queue. */
  defaultQueue: QueueName,
  /** The only queues the project's runs may use; empty = any queue. Includes the default. */
  queues: Schema.Array(QueueName)
})
export type Project = typeof Project.Type

/** A queue the project may not use, with a message naming both and what it may use. */
export interface QueueNotAllowed {
  readonly _tag: "QueueNotAllowed"
  readonly queue: QueueName
  readonly project: ProjectName
  readonly message: string
}

/** Whether a project lets its runs use `queue`. */
export const projectAllows = (project: Project, queue: QueueName): boolean => project.queues.length === 0 || project.queues.includes(queue)

/**
 * The queue a run goes to (SPEC §1): its own (`requested`, already the most specific of
 * `--queue`, the task file and `$GANTRY_QUEUE`), else its project's default, else `default`;
 * refused when the project may not use it.
 */
export const routeQueue = (requested: QueueName | undefined, project: Project | null): Either.Either<QueueName, QueueNotAllowed> => {
  const queue = requested ?? project?.defaultQueue ?? DEFAULT_QUEUE
  if (project === null || projectAllows(project, queue)) return Either.right(queue)
  return Either.left({
    _tag: "QueueNotAllowed",
    queue,
    project: project.name,
    message: `project ${project.name} may not use queue ${queue} (it may use ${project.queues.join(", ")})`
  })
}

/** What each level may do (SPEC §8): the one table the runner's guards read. */
export const levelRank: Readonly<Record<Level, number>> = { viewer: 0, researcher: 1, lead: 2, admin: 3 }

/** At least `level`: `atLeast(caller, "lead")` is a lead or an admin. */
export const atLeast = (identity: { readonly level: Level }, level: Level): boolean => levelRank[identity.level] >= levelRank[level]
