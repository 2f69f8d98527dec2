/**
 * @gantry/core — the pure scheduling domain: runs, queues, policy, the pending index
 * and `decide(snapshot)`. No I/O, no timers, no actors.
 *
 * The public API (docs/ARCHITECTURE.md "Public API"), in three parts:
 * - the domain, as Effect Schemas (types and their validation in one definition): runs and
 *   submissions, statuses, queues, policy, wait reasons, identities, projects and routing;
 * - the decision: `decide(snapshot)` and what it reads and answers, with the plain
 *   full-scan reference `decideByScan` (the same rules written as simply as possible);
 * - the building blocks an engine keeps between cycles (the pending index, the running set,
 *   the GPU lists, heaps), which @gantry/engine uses and another engine could.
 * Everything else (the cycle's admission books, the heap cursor, GPU picking) is internal.
 */

// ------------------------------------------------------------------ the domain
export {
  DurationMs,
  FailReason,
  freshLifecycle,
  isActive,
  isTerminal,
  Level,
  QueueName,
  Run,
  RunEvent,
  RunId,
  RunStatus,
  StopCause,
  Submission,
  SubmissionLimits,
  submissionOverLimit,
  type OverLimit,
  sizeText,
  utf8Bytes,
  TeamName,
  terminalStatuses,
  UserName
} from "./Run.js"
export {
  Aging,
  agingBoost,
  ApprovalRule,
  basePriorityOf,
  DEFAULT_QUEUE,
  defaultPolicy,
  effectiveMaxConcurrent,
  FairShareMode,
  LevelPriorities,
  Limits,
  makeQueue,
  matchesApprovalRule,
  Policy,
  QueueConfig,
  sharedPolicy
} from "./Policy.js"
export { type Reservation, type Start, WaitReason } from "./Admission.js"
export {
  atLeast,
  Identity,
  IdentityName,
  levelRank,
  Project,
  projectAllows,
  ProjectName,
  type QueueNotAllowed,
  routeQueue,
  UnixUserName
} from "./Identity.js"

// ------------------------------------------------------------------ the decision
export { type Decision, decide } from "./Decide.js"
export { decideByScan, type ScanDecision } from "./DecideByScan.js"
export { type ActiveRun, activeRunOf, type GpuView, minOrNull, RunningSet, type Snapshot, type UsageView } from "./Snapshot.js"
export { effectivePriority, type OrderKey, orderKeyOf, precedes } from "./Order.js"

// ------------------------------------------------------------------ building blocks an engine keeps
export { PendingIndex } from "./PendingIndex.js"
export { GpuLists, type GpuListsView } from "./GpuLists.js"
export { BinaryHeap, type HeapSlot, IndexedHeap } from "./Heap.js"
export { ChurnMap } from "./ChurnMap.js"
