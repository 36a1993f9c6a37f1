/**
 * @internal how a run's records change: the transitions of one run's records, each pure, each
 * giving the new records and the history events that describe the change (docs/semantics.md
 * "What is written, and when"). `Interpreter.transition` composes them into the tick's policy;
 * they are exported from `Interpreter` as its building blocks.
 */
import type { Actor, Answer, Decision, Draft, Shape } from "../Interpreter.js"
import type { ErrorInfo, EventType, HistoryEvent, RunRecord, Snapshot, StepRecord, TerminalStatus } from "../Run.js"
import { isTerminal } from "../Run.js"

// -----------------------------------------------------------------------------
// transitions
// -----------------------------------------------------------------------------


/** @internal A draft with no change yet. (documented as `Interpreter.draft`) */
export const draft = (snapshot: Pick<Snapshot, "run" | "steps">): Draft => ({
  run: snapshot.run,
  steps: snapshot.steps,
  changed: [],
  events: []
})

/** @internal Whether a draft holds changes to commit. (documented as `Interpreter.hasChanges`) */
export const hasChanges = (self: Draft): boolean => self.events.length > 0


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

/** @internal The run ends with the status that its steps give it (see `Interpreter.decide`). A failed run takes the (documented as `Interpreter.finalize`) */
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

/** @internal The result of `onStart` is in: the step becomes `pending` with its initial state (JSON text, (documented as `Interpreter.started`) */
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


/** @internal The answer of `onContinue` is in: the step finishes, waits (the run sleeps until `wakeAt`), (documented as `Interpreter.continued`) */
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

/** @internal A handler call failed (a typed error, a defect or a timeout). With `retryAt`, the step keeps (documented as `Interpreter.handlerFailed`) */
export const handlerFailed = (
  self: Draft,
  index: number,
  handler: "onStart" | "onContinue" | "when",
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

/** @internal A conditional step's predicate is false (documented as `Interpreter.skipped`) */
export const skipped = (self: Draft, index: number, actor: Actor): Draft => {
  const before = self.steps[index]
  const step: StepRecord = { ...before, status: "skipped", updated_at: actor.now, ended_at: actor.now }
  const run: RunRecord = {
    ...self.run,
    status: "pending",
    metadata: { current_step: step.name },
    updated_at: actor.now
  }
  return withStep(self, index, step, run, [event(run, actor, "skipped", step)])
}

/** @internal The worker that held the run's lease lost it (its lease expired and this worker claimed the (documented as `Interpreter.leaseLost`) */
export const leaseLost = (self: Draft, previousOwner: string, actor: Actor): Draft => ({
  ...self,
  events: [...self.events, event(self.run, actor, "lease_lost", null, { previousOwner })]
})

/** @internal An operator cancels the run: its current step (the first one not ended) and the run become (documented as `Interpreter.cancelRun`) */
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

/** @internal An operator retries a failed run: its failed step goes back to `pending` (or to `created` when (documented as `Interpreter.retryRun`) */
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

// -----------------------------------------------------------------------------
// decisions
// -----------------------------------------------------------------------------



const over: Decision = { _tag: "Done" }

/** @internal Decide what happens next to a run. Pure: the same pipeline shape, records and time always give (documented as `Interpreter.decide`) */
export const decide = (shape: Shape, snapshot: Pick<Snapshot, "run" | "steps">, now: number): Decision => {
  const { run, steps } = snapshot
  if (isTerminal(run.status)) {
    return over
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
      case "skipped":
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
