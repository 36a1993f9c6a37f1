/**
 * The pure core of the orchestrator: the whole policy of a tick, as a transition function.
 *
 * The runtime observes things (it claimed a run, a handler answered or failed, a commit landed, the
 * lease was lost, an operator asked for a cancel) and feeds each as an `Event` to `transition`,
 * with the run as the interpreter sees it (a `Tick`) and the time. `transition` returns the next
 * `Tick` and the `Command`s that the runtime must carry out: call a handler with its decoded
 * context, plan a retry with the step's schedule, commit these writes, hand the lease back, wake
 * the workers at a time, end. No effects here; the runtime executes the commands and feeds their
 * results back (docs/architecture.md "The interpreter").
 *
 * One tick of a run, as in the Python original (docs/semantics.md "One tick"):
 * 1. Any step failed: the run fails. Else any step cancelled: the run is cancelled. Else all steps
 *    finished: the run finishes.
 * 2. Else take the first step that is `created` or `pending`: `created` → run `onStart` (then, in
 *    the same tick, `onContinue`); `pending` → run `onContinue`. When it is a member of a parallel
 *    group, every member of the group that is due on its own is started or continued, their calls
 *    running concurrently (docs/semantics.md "Parallel groups").
 *
 * The record transitions it is built from (`started`, `continued`, `handlerFailed`, `finalize`,
 * `cancelRun`, `retryRun`, `leaseLost`, `skipped`, `endGroup`, `groupWake`) are exported too: each changes a run's records for one
 * observed fact and returns the history events that describe the change.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Either from "effect/Either"
import type { DecodeError, EncodeError, InvalidOperation, LeaseLost } from "./Errors.js"
import * as Interpret from "./internal/interpret.js"
import * as Records from "./internal/transitions.js"
import type * as Pipeline from "./Pipeline.js"
import type { Commit, ErrorInfo, HistoryEvent, RunRecord, SignalRecord, Snapshot, Status, StepRecord, TerminalStatus } from "./Run.js"
import type * as Step from "./Step.js"

/**
 * A run's records after one or more transitions, with the positions of the steps that changed
 * and the history events to append, in order. Everything in a draft is committed together.
 *
 * @since 0.1.0
 * @category models
 */
export interface Draft {
  readonly run: RunRecord
  readonly steps: ReadonlyArray<StepRecord>
  readonly changed: ReadonlyArray<number>
  /** the positions of the step records that are new since the last commit (a `forEach`'s members) */
  readonly added: ReadonlyArray<number>
  readonly events: ReadonlyArray<HistoryEvent>
}

/**
 * A draft with no change yet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const draft = Records.draft

/**
 * Whether a draft holds changes to commit.
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasChanges = Records.hasChanges

/**
 * Who made a change, and when: recorded in the history.
 *
 * @since 0.1.0
 * @category models
 */
export interface Actor {
  readonly now: number
  readonly worker: string | null
}

/**
 * The run ends with the status that its steps give it (see `Interpreter.decide`). A failed run takes the
 * error of its failed step; a cancelled one the reason of its cancelled step.
 *
 * @since 0.1.0
 * @category transitions
 */
export const finalize = Records.finalize

/**
 * The result of `onStart` is in: the step becomes `pending` with its initial state (JSON text,
 * or `null` for a step without state), the run becomes `pending` and records the step as its
 * current one. A successful call resets the step's attempt counter and clears its last error.
 *
 * @since 0.1.0
 * @category transitions
 */
export const started = Records.started

/**
 * What `onContinue` answered, with its values encoded: finish with an output (JSON text or
 * `null`), wait until a time (with a new state, or `undefined` to keep the state), fail with an
 * error, or cancel with a reason.
 *
 * @since 0.1.0
 * @category models
 */
export type Answer =
  | { readonly _tag: "Finish"; readonly output: string | null }
  | {
    readonly _tag: "Wait"
    readonly state: string | null | undefined
    readonly wakeAt: number
    /** a plain `Step.wait()`: continued on the next pass (no timer); its event says so */
    readonly plain?: boolean | undefined
  }
  | { readonly _tag: "Fail"; readonly error: ErrorInfo }
  | { readonly _tag: "Cancel"; readonly reason: string }

/**
 * The answer of `onContinue` is in: the step finishes, waits (the run sleeps until `wakeAt`),
 * fails or is cancelled. The history gets a `continued` event and one for the answer. A finish or
 * a wait resets the attempt counter and clears the last error: retries count consecutive failures.
 *
 * @since 0.1.0
 * @category transitions
 */
export const continued = Records.continued

/**
 * A handler call failed (a typed error, a defect or a timeout). With `retryAt`, the step keeps
 * its status, its attempt counter grows and the run sleeps until `retryAt` (a durable retry);
 * without it, the step fails with the error.
 *
 * @since 0.1.0
 * @category transitions
 */
export const handlerFailed = Records.handlerFailed

/**
 * A conditional step (`when`) became current and its predicate is false: the step is `skipped`
 * (it never runs), the run is `pending` with the step as its current one, and the history gets a
 * `skipped` event.
 *
 * @since 0.2.0
 * @category transitions
 */
export const skipped = Records.skipped

/**
 * The worker that held the run's lease lost it (its lease expired and this worker claimed the
 * run): recorded in the history, by the worker that takes over.
 *
 * @since 0.1.0
 * @category transitions
 */
export const leaseLost = Records.leaseLost

/**
 * An operator cancels the run: its current step (the first one not ended) and the run become
 * `cancelled`; later steps stay `created` and never start. With `to`, the steps not ended from
 * the current one up to `to` (exclusive) are cancelled: the members of the current parallel group.
 *
 * @since 0.1.0
 * @category transitions
 */
export const cancelRun = Records.cancelRun

/**
 * An operator retries a failed run: its failed step goes back to `pending` (or to `created` when
 * its `onStart` never completed), its attempt counter is reset, and the run is due at once. With
 * `group` (the positions of the failed step's parallel group), the members that its failure
 * cancelled (`endGroup`) resume too.
 *
 * @since 0.1.0
 * @category transitions
 */
export const retryRun = Records.retryRun

/**
 * A member of a parallel group failed or was cancelled: the group's other members that have not
 * ended are cancelled with `reason` (and marked as ended by their group, so that a retry of the run
 * resumes them), each with a `cancelled` event.
 *
 * @since 0.2.0
 * @category transitions
 */
export const endGroup = Records.endGroup

/**
 * A `forEach` step starts: its members' records (`created`, one per item) are added after the
 * run's other records, the step becomes `pending` with the positions of its members in its
 * metadata (`members: [from, to]`), and the history gets its `started` event (with the count).
 *
 * @since 0.2.0
 * @category transitions
 */
export const fanOut = Records.fanOut

/**
 * Every member of a `forEach` step has finished: the step finishes with their outputs (a JSON
 * array, in item order).
 *
 * @since 0.2.0
 * @category transitions
 */
export const fanIn = Records.fanIn

/**
 * The run of a parallel group is due when the first of its members that have not ended is: each
 * member keeps its own wake-up time (of its last wait or planned retry; none is due at once).
 *
 * @since 0.2.0
 * @category transitions
 */
export const groupWake = Records.groupWake

/**
 * What the orchestrator should do next with a run.
 *
 * - `Done`: the run has ended; nothing to do.
 * - `Finalize`: the run's steps say that it ended (step 1 of a tick): set its status.
 * - `Sleep`: the run is not due before `until` (a timer or a retry delay).
 * - `Start`: run `onStart` of the step at `index` (a `created` step).
 * - `Continue`: run `onContinue` of the step at `index` (a `pending` step).
 * - `Group`: the current element is the parallel group of the steps `from` to `to` (exclusive);
 *   each of its members that has not ended is started or continued when it is due on its own (its
 *   wake-up time, or a signal for it), so the run's `wake_at` is not read. With `head`, the group is
 *   the members of the `forEach` step at `head` (their records follow the pipeline's steps).
 * - `Mismatch`: the stored steps do not match the pipeline definition (a step was added, removed
 *   or renamed since the run was created).
 *
 * @since 0.1.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Finalize"; readonly status: TerminalStatus; readonly index: number }
  | { readonly _tag: "Sleep"; readonly until: number }
  | { readonly _tag: "Start"; readonly index: number }
  | { readonly _tag: "Continue"; readonly index: number }
  | { readonly _tag: "Group"; readonly from: number; readonly to: number; readonly head?: number | undefined }
  | { readonly _tag: "Mismatch"; readonly detail: string }

/**
 * The part of a pipeline definition that the decision depends on: the names of its steps, in
 * order, and (for a pipeline with parallel groups) the group each step is a member of.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly steps: ReadonlyArray<{ readonly name: string }>
  readonly group?: ((position: number) => readonly [from: number, to: number] | undefined) | undefined
}

/**
 * Decide what happens next to a run. Pure: the same pipeline shape, records and time always give
 * the same decision.
 *
 * @since 0.1.0
 * @category decisions
 */
export const decide = Records.decide

// -----------------------------------------------------------------------------
// definitions
// -----------------------------------------------------------------------------

/**
 * A user value to and from JSON text with its schema (a pipeline input, a step's state, output or
 * signal payload). Without a schema nothing is stored; `null` text is nothing.
 *
 * @since 0.2.0
 * @category models
 */
export interface Codec {
  readonly encode: (value: unknown) => Either.Either<string | null, string>
  readonly decode: (text: string | null) => Either.Either<unknown, string>
}

/**
 * A step of a pipeline as the interpreter reads it: the step, its position, its values' codecs and
 * the positions of the steps whose outputs it needs.
 *
 * @since 0.2.0
 * @category models
 */
export interface StepDefinition {
  readonly step: Step.Any
  readonly index: number
  readonly state: Codec
  readonly output: Codec
  readonly signal: Codec
  readonly needs: ReadonlyArray<readonly [key: string, index: number]>
  /** for a `forEach` step: the definition that its members run, and the codec of its items */
  readonly member?: StepDefinition | undefined
  readonly item?: Codec | undefined
}

/**
 * A pipeline as the interpreter reads it (`define`): made once per registered pipeline.
 *
 * @since 0.2.0
 * @category models
 */
export interface Definition {
  readonly pipeline: Pipeline.Any
  readonly input: Codec
  readonly steps: ReadonlyArray<StepDefinition>
}

/**
 * The definition of the step record at `index` of a run: a step of the pipeline, or a member of one
 * of its `forEach` steps (whose records follow the pipeline's steps), with its position.
 *
 * @since 0.2.0
 * @category definitions
 */
export const stepOf: (definition: Definition, steps: ReadonlyArray<StepRecord>, index: number) => StepDefinition =
  Interpret.stepOf

/**
 * The definition that the interpreter reads for a pipeline: its codecs built once.
 *
 * @since 0.2.0
 * @category constructors
 */
export const define: (pipeline: Pipeline.Any) => Definition = Interpret.define

/**
 * The definition of a run whose pipeline this process does not register: no step is known. An
 * operator's cancel and retry apply to such a run (they read the stored records only); a tick of
 * it is a step-list mismatch, and a signal finds no step.
 *
 * @since 0.2.0
 * @category constructors
 */
export const unregistered: (name: string) => Definition = Interpret.unregistered

// -----------------------------------------------------------------------------
// creation
// -----------------------------------------------------------------------------

/**
 * What a new run is made of, besides its definition.
 *
 * - `wakeAt`: when it is first due (epoch milliseconds).
 * - `leaseExpiresAt`: a run created leased to `worker` (`Orchestrator.start` ticks it at once),
 *   until then; `null` for a run that any worker may claim.
 *
 * @since 0.2.0
 * @category models
 */
export interface Creation {
  readonly input: unknown
  readonly idempotencyKey?: string | undefined
  readonly wakeAt: number
  readonly worker: string
  readonly leaseExpiresAt: number | null
}

/**
 * The ids of a new run: its own and one per step, in order (the step run ids).
 *
 * @since 0.2.0
 * @category models
 */
export interface Ids {
  readonly run: string
  readonly steps: ReadonlyArray<string>
}

/**
 * The records that a create writes (docs/semantics.md "What is written, and when"): the run
 * `created`, one `created` step record per step, and the `created` event. Fails when the input
 * does not encode with the pipeline's schema.
 *
 * @since 0.2.0
 * @category constructors
 */
export const initial: (
  definition: Definition,
  creation: Creation,
  now: number,
  ids: Ids
) => Either.Either<{ readonly snapshot: Snapshot; readonly events: ReadonlyArray<HistoryEvent> }, EncodeError> =
  Interpret.initial

// -----------------------------------------------------------------------------
// ticks
// -----------------------------------------------------------------------------

/**
 * A step's handlers.
 *
 * @since 0.2.0
 * @category models
 */
export type Handler = "onStart" | "onContinue"

/**
 * A handler call in flight: which step, which handler, and the signals handed to it (consumed when
 * its answer is recorded).
 *
 * @since 0.2.0
 * @category models
 */
export interface Call {
  readonly step: number
  readonly handler: Handler
  readonly delivered: ReadonlyArray<string>
}

/**
 * How far a tick has come.
 *
 * - `loaded`: the run as stored; nothing observed yet.
 * - `running`: claimed; handlers are called and their answers recorded.
 * - `closing`: the tick's last commit is on its way.
 * - `done`: a `Done` or `Reject` was given; nothing more happens.
 *
 * @since 0.2.0
 * @category models
 */
export type Stage = "loaded" | "running" | "closing" | "done"

/**
 * Which way the run walks its steps. Every run walks `forward` today: the first step not ended is
 * the current one. A phase that walks the started steps backwards (compensation) is a second
 * value of this type.
 *
 * @since 0.2.0
 * @category models
 */
export type Phase = "forward"

/**
 * A run as the interpreter sees it during a tick or a management operation.
 *
 * - `draft`: the run's records with what changed since the last commit (the changed steps and the
 *   events to append); `base`: the run as last written (or loaded), whose revision guards the next
 *   commit.
 * - `signals`: the signals stored for the run and not yet handed to a step; `consumed`: those
 *   handed since the last commit.
 * - `calls`: the handler calls in flight. Several may be in flight in one run (the members of a
 *   parallel group); in a sequence of steps there is at most one.
 * - `input`: the pipeline input, decoded when the run was claimed.
 * - `waitMillis`: how long a plain `Step.wait()` waits (the pass interval; 0 for the next pass).
 * - `settled`: the members of a parallel group that are done for this tick (they waited, or a
 *   retry of theirs is planned): not called again before the next tick.
 * - `begun`: how many members of a `forEach` this tick has started or continued (a tick makes at
 *   most 100 such calls, then commits and ends with the run due at once).
 *
 * @since 0.2.0
 * @category models
 */
export interface Tick {
  readonly runId: string
  readonly worker: string
  readonly stage: Stage
  readonly phase: Phase
  readonly draft: Draft
  readonly base: RunRecord
  readonly signals: ReadonlyArray<SignalRecord>
  readonly consumed: ReadonlyArray<string>
  readonly calls: ReadonlyArray<Call>
  readonly input: unknown
  readonly waitMillis: number
  readonly ranHandlers: boolean
  readonly settled: ReadonlyArray<number>
  readonly begun: number
}

/**
 * What the runtime observed, fed to `transition`.
 *
 * - `Claimed`: this worker holds the run's lease (from `previousOwner`, when it took an expired
 *   lease over); the tick begins.
 * - `Committed`: a `Commit` landed, as written (with the lease the runtime set).
 * - `Returned` / `Failed`: a handler call answered with a value, or failed (a typed error, a defect
 *   or a timeout).
 * - `RetryPlanned`: the step's retry schedule answered a `PlanRetry`: try again at `at`, or not at
 *   all (`undefined`).
 * - `LeaseLost`: the lease was taken (by another worker, or by a `cancel` of this process); with
 *   `inFlight`, a handler call was interrupted.
 * - `CancelAsked`, `RetryAsked`, `SignalAsked`: an operator's request on a loaded run.
 *
 * @since 0.2.0
 * @category models
 */
export type Event =
  | { readonly _tag: "Claimed"; readonly previousOwner: string | null; readonly waitMillis: number }
  | { readonly _tag: "Committed"; readonly commit: Commit }
  | { readonly _tag: "Returned"; readonly step: number; readonly handler: Handler; readonly value: unknown }
  | { readonly _tag: "Failed"; readonly step: number; readonly handler: Handler; readonly cause: Cause.Cause<unknown> }
  | {
    readonly _tag: "RetryPlanned"
    readonly step: number
    readonly handler: Handler
    readonly at: number | undefined
    readonly cause: Cause.Cause<unknown>
  }
  | { readonly _tag: "LeaseLost"; readonly cancelled: boolean; readonly inFlight: boolean }
  | { readonly _tag: "CancelAsked"; readonly reason: string }
  | { readonly _tag: "RetryAsked" }
  | { readonly _tag: "SignalAsked"; readonly step: string; readonly payload: unknown; readonly id: string }

/**
 * What the interpreter asks the runtime to do, in order.
 *
 * - `Call`: call a handler of a step with its context (decoded); answer with `Returned` or
 *   `Failed`.
 * - `PlanRetry`: replay the step's retry schedule for this attempt and cause from `now`; answer
 *   with `RetryPlanned`.
 * - `Commit`: write these records in one guarded `Repository.commit`; the runtime sets the lease
 *   columns (`hold`: this worker keeps the lease; `release`: it hands it back; `keep`: as drafted,
 *   for a management write); answer with `Committed`.
 * - `Interrupt`: interrupt the handler calls in flight of these steps (members of a parallel group
 *   that another member ended); their answers, if any come, are not fed back.
 * - `Release`: hand the lease back without writing (nothing changed).
 * - `Signal`: store the signal with its event; `due`: the signal is for the current step, so the
 *   run is due at once.
 * - `Wake`: tell this process's workers that the run is due at `at`.
 * - `Done`: the tick or operation is over; the run's status, and whether handlers were called.
 * - `Reject`: it is over with an error, and nothing more is written.
 *
 * @since 0.2.0
 * @category models
 */
export type Command =
  | {
    readonly _tag: "Call"
    readonly step: number
    readonly handler: "onStart"
    readonly context: Step.StartContext<unknown, {}>
  }
  | {
    readonly _tag: "Call"
    readonly step: number
    readonly handler: "onContinue"
    readonly context: Step.ContinueContext<unknown, {}, unknown, unknown>
  }
  | {
    readonly _tag: "PlanRetry"
    readonly step: number
    readonly handler: Handler
    readonly attempt: number
    readonly cause: Cause.Cause<unknown>
    readonly now: number
  }
  | { readonly _tag: "Commit"; readonly commit: Commit; readonly lease: "hold" | "release" | "keep" }
  | { readonly _tag: "Interrupt"; readonly steps: ReadonlyArray<number> }
  | { readonly _tag: "Release" }
  | { readonly _tag: "Signal"; readonly signal: SignalRecord; readonly event: HistoryEvent; readonly due: boolean }
  | { readonly _tag: "Wake"; readonly at: number }
  | { readonly _tag: "Done"; readonly status: Status; readonly ranHandlers: boolean }
  | { readonly _tag: "Reject"; readonly error: DecodeError | EncodeError | InvalidOperation | LeaseLost }

/**
 * The next tick, and what the runtime must carry out.
 *
 * @since 0.2.0
 * @category models
 */
export interface Transition {
  readonly tick: Tick
  readonly commands: ReadonlyArray<Command>
}
/**
 * A run as loaded, before anything is observed: the starting point of a tick (fed `Claimed`) or
 * of a management operation (fed `CancelAsked`, `RetryAsked` or `SignalAsked`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const load: (snapshot: Snapshot, worker: string) => Tick = Interpret.load

/**
 * The next tick and commands, for what the runtime observed (docs/semantics.md "One tick" and
 * "What is written, and when"). Pure: the same definition, tick, event and time always give the
 * same transition, and the tick given is not changed.
 *
 * @since 0.2.0
 * @category transitions
 */
export const transition: (definition: Definition, tick: Tick, event: Event, now: number) => Transition =
  Interpret.transition
