/**
 * The pure core of the orchestrator: what happens next to a run, and how a run's records change
 * when a handler answers. No effects here: the functions take the stored records and the time,
 * and return a decision or the new records plus the history events that describe the change.
 * The orchestrator runs the handlers that the decisions ask for and commits the results.
 *
 * One tick of a run, as in the Python original (docs/semantics.md "One tick"):
 * 1. Any step failed: the run fails. Else any step cancelled: the run is cancelled. Else all steps
 *    finished: the run finishes.
 * 2. Else take the first step that is `created` or `pending`: `created` → run `onStart` (then, in
 *    the same tick, `onContinue`); `pending` → run `onContinue`.
 *
 * @since 0.1.0
 */
import type { ErrorInfo, EventType, HistoryEvent, RunRecord, Snapshot, StepRecord, TerminalStatus } from "./Run.js"
import { isTerminal } from "./Run.js"

/**
 * What the orchestrator should do next with a run.
 *
 * - `Done`: the run has ended; nothing to do.
 * - `Finalize`: the run's steps say that it ended (step 1 of a tick): set its status.
 * - `Sleep`: the run is not due before `until` (a timer or a retry delay).
 * - `Start`: run `onStart` of the step at `index` (a `created` step).
 * - `Continue`: run `onContinue` of the step at `index` (a `pending` step).
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
  | { readonly _tag: "Mismatch"; readonly detail: string }

/**
 * The part of a pipeline definition that the decision depends on: the names of its steps, in
 * order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly steps: ReadonlyArray<{ readonly name: string }>
}

const done: Decision = { _tag: "Done" }

/**
 * Decide what happens next to a run. Pure: the same pipeline shape, records and time always give
 * the same decision.
 *
 * @since 0.1.0
 * @category decisions
 */
export const decide = (shape: Shape, snapshot: Pick<Snapshot, "run" | "steps">, now: number): Decision => {
  const { run, steps } = snapshot
  if (isTerminal(run.status)) {
    return done
  }
  if (steps.length !== shape.steps.length) {
    return {
      _tag: "Mismatch",
      detail: `the run has ${steps.length} steps stored, the pipeline defines ${shape.steps.length}`
    }
  }
  let failed = -1
  let cancelled = -1
  let finished = 0
  let current = -1
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]
    if (step.name !== shape.steps[i].name) {
      return {
        _tag: "Mismatch",
        detail: `stored step ${i + 1} is ${JSON.stringify(step.name)}, the pipeline defines ${
          JSON.stringify(shape.steps[i].name)
        }`
      }
    }
    switch (step.status) {
      case "failed":
        if (failed < 0) failed = i
        break
      case "cancelled":
        if (cancelled < 0) cancelled = i
        break
      case "finished":
        finished++
        break
      default:
        if (current < 0) current = i
    }
  }
  if (failed >= 0) return { _tag: "Finalize", status: "failed", index: failed }
  if (cancelled >= 0) return { _tag: "Finalize", status: "cancelled", index: cancelled }
  if (finished === steps.length) return { _tag: "Finalize", status: "finished", index: steps.length - 1 }
  if (run.wake_at > now) return { _tag: "Sleep", until: run.wake_at }
  return steps[current].status === "created"
    ? { _tag: "Start", index: current }
    : { _tag: "Continue", index: current }
}

// -----------------------------------------------------------------------------
// transitions
// -----------------------------------------------------------------------------

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
  readonly events: ReadonlyArray<HistoryEvent>
}

/**
 * A draft with no change yet.
 *
 * @since 0.1.0
 * @category constructors
 */
export const draft = (snapshot: Pick<Snapshot, "run" | "steps">): Draft => ({
  run: snapshot.run,
  steps: snapshot.steps,
  changed: [],
  events: []
})

/**
 * Whether a draft holds changes to commit.
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasChanges = (self: Draft): boolean => self.events.length > 0

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

const event = (
  run: RunRecord,
  actor: Actor,
  type: EventType,
  step: StepRecord | null,
  data: unknown = null
): HistoryEvent => ({
  run_uuid: run.uuid,
  at: actor.now,
  type,
  step: step === null ? null : step.name,
  attempt: step === null ? null : step.attempt,
  worker: actor.worker,
  data
})

const withStep = (
  self: Draft,
  index: number,
  step: StepRecord,
  run: RunRecord,
  events: ReadonlyArray<HistoryEvent>
): Draft => {
  const steps = self.steps.slice()
  steps[index] = step
  return {
    run,
    steps,
    changed: self.changed.includes(index) ? self.changed : [...self.changed, index],
    events: [...self.events, ...events]
  }
}

/**
 * The run ends with the status that its steps give it (see `decide`). A failed run takes the
 * error of its failed step; a cancelled one the reason of its cancelled step.
 *
 * @since 0.1.0
 * @category transitions
 */
export const finalize = (self: Draft, status: TerminalStatus, index: number, actor: Actor): Draft => {
  const step = self.steps[index]
  const run: RunRecord = {
    ...self.run,
    status,
    error: status === "finished" ? null : step.error,
    metadata: { current_step: step.name },
    updated_at: actor.now,
    ended_at: actor.now
  }
  return { ...self, run, events: [...self.events, event(run, actor, status, null, { step: step.name })] }
}

/**
 * The result of `onStart` is in: the step becomes `pending` with its initial state (JSON text,
 * or `null` for a step without state), the run becomes `pending` and records the step as its
 * current one. A successful call resets the step's attempt counter and clears its last error.
 *
 * @since 0.1.0
 * @category transitions
 */
export const started = (self: Draft, index: number, state: string | null, actor: Actor): Draft => {
  const before = self.steps[index]
  const step: StepRecord = {
    ...before,
    status: "pending",
    state,
    attempt: 1,
    error: null,
    started_at: actor.now,
    updated_at: actor.now
  }
  const run: RunRecord = {
    ...self.run,
    status: "pending",
    metadata: { current_step: step.name },
    updated_at: actor.now
  }
  return withStep(self, index, step, run, [event(run, actor, "started", { ...step, attempt: before.attempt })])
}

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
export const continued = (self: Draft, index: number, answer: Answer, actor: Actor): Draft => {
  const before = self.steps[index]
  const continuations = typeof before.metadata.continuations === "number" ? before.metadata.continuations : 0
  const base: StepRecord = {
    ...before,
    metadata: { ...before.metadata, continuations: continuations + 1 },
    updated_at: actor.now
  }
  const run0: RunRecord = { ...self.run, updated_at: actor.now }
  // the events of this call carry its attempt, also when a success resets the counter
  const continuedEvent = event(run0, actor, "continued", base)
  const of = (step: StepRecord): StepRecord => ({ ...step, attempt: before.attempt })
  switch (answer._tag) {
    case "Finish": {
      const step: StepRecord = {
        ...base,
        status: "finished",
        output: answer.output,
        attempt: 1,
        error: null,
        ended_at: actor.now
      }
      // the run stays due (it is, since it is being ticked): the next step starts in this tick
      return withStep(self, index, step, run0, [continuedEvent, event(run0, actor, "finished", of(step))])
    }
    case "Wait": {
      const step: StepRecord = {
        ...base,
        state: answer.state === undefined ? base.state : answer.state,
        attempt: 1,
        error: null
      }
      const run: RunRecord = { ...run0, wake_at: answer.wakeAt }
      return withStep(self, index, step, run, [
        continuedEvent,
        event(
          run,
          actor,
          "waited",
          of(step),
          answer.plain === true
            ? { next: "pass", until: new Date(answer.wakeAt).toISOString() }
            : { until: new Date(answer.wakeAt).toISOString() }
        )
      ])
    }
    case "Fail": {
      const step: StepRecord = { ...base, status: "failed", error: answer.error, ended_at: actor.now }
      return withStep(self, index, step, run0, [
        continuedEvent,
        event(run0, actor, "failed", step, {
          message: answer.error.message,
          ...(answer.error.cause === null ? {} : { details: answer.error.cause })
        })
      ])
    }
    case "Cancel": {
      const step: StepRecord = {
        ...base,
        status: "cancelled",
        error: { message: answer.reason, pretty: null, cause: null },
        ended_at: actor.now
      }
      return withStep(self, index, step, run0, [
        continuedEvent,
        event(run0, actor, "cancelled", step, { reason: answer.reason })
      ])
    }
  }
}

/**
 * A handler call failed (a typed error, a defect or a timeout). With `retryAt`, the step keeps
 * its status, its attempt counter grows and the run sleeps until `retryAt` (a durable retry);
 * without it, the step fails with the error.
 *
 * @since 0.1.0
 * @category transitions
 */
export const handlerFailed = (
  self: Draft,
  index: number,
  handler: "onStart" | "onContinue",
  error: ErrorInfo,
  retryAt: number | undefined,
  actor: Actor
): Draft => {
  const before = self.steps[index]
  if (retryAt !== undefined) {
    const step: StepRecord = { ...before, attempt: before.attempt + 1, error, updated_at: actor.now }
    const run: RunRecord = {
      ...self.run,
      status: "pending",
      metadata: { current_step: step.name },
      wake_at: retryAt,
      updated_at: actor.now
    }
    return withStep(self, index, step, run, [
      event(run, actor, "retried", before, { handler, retryAt: new Date(retryAt).toISOString(), message: error.message })
    ])
  }
  const step: StepRecord = { ...before, status: "failed", error, updated_at: actor.now, ended_at: actor.now }
  const run: RunRecord = {
    ...self.run,
    status: "pending",
    metadata: { current_step: step.name },
    updated_at: actor.now
  }
  return withStep(self, index, step, run, [event(run, actor, "failed", step, { handler, message: error.message })])
}

/**
 * The worker that held the run's lease lost it (its lease expired and this worker claimed the
 * run): recorded in the history, by the worker that takes over.
 *
 * @since 0.1.0
 * @category transitions
 */
export const leaseLost = (self: Draft, previousOwner: string, actor: Actor): Draft => ({
  ...self,
  events: [...self.events, event(self.run, actor, "lease_lost", null, { previousOwner })]
})

/**
 * An operator cancels the run: its current step (the first one not ended) and the run become
 * `cancelled`; later steps stay `created` and never start.
 *
 * @since 0.1.0
 * @category transitions
 */
export const cancelRun = (self: Draft, reason: string, actor: Actor): Draft => {
  const index = self.steps.findIndex((step) => !isTerminal(step.status))
  const error: ErrorInfo = { message: reason, pretty: null, cause: null }
  let next = self
  if (index >= 0) {
    const before = self.steps[index]
    const step: StepRecord = { ...before, status: "cancelled", error, updated_at: actor.now, ended_at: actor.now }
    next = withStep(next, index, step, next.run, [event(next.run, actor, "cancelled", step, { reason })])
  }
  const run: RunRecord = {
    ...next.run,
    status: "cancelled",
    error,
    lease_owner: null,
    lease_expires_at: null,
    updated_at: actor.now,
    ended_at: actor.now
  }
  return { ...next, run, events: [...next.events, event(run, actor, "cancelled", null, { reason })] }
}

/**
 * An operator retries a failed run: its failed step goes back to `pending` (or to `created` when
 * its `onStart` never completed), its attempt counter is reset, and the run is due at once.
 *
 * @since 0.1.0
 * @category transitions
 */
export const retryRun = (self: Draft, actor: Actor): Draft => {
  const index = self.steps.findIndex((step) => step.status === "failed")
  const before = self.steps[index]
  const step: StepRecord = {
    ...before,
    status: before.started_at === null ? "created" : "pending",
    attempt: 1,
    error: null,
    ended_at: null,
    updated_at: actor.now
  }
  const run: RunRecord = {
    ...self.run,
    status: "pending",
    error: null,
    metadata: { current_step: step.name },
    wake_at: actor.now,
    updated_at: actor.now,
    ended_at: null
  }
  return withStep(self, index, step, run, [event(run, actor, "retried", step, { manual: true })])
}
