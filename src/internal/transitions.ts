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
  added: [],
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
    // a record added since the last commit is written whole: it is not also an update
    changed: self.changed.includes(index) || (self.added.length > 0 && index >= self.steps.length - self.added.length)
      ? self.changed
      : [...self.changed, index],
    added: self.added,
    events: events.length === 0 ? self.events : self.events.concat(events)
  }
}

/** @internal The members of a forEach step are created (documented as `Interpreter.fanOut`) */
export const fanOut = (
  self: Draft,
  head: number,
  members: ReadonlyArray<StepRecord>,
  actor: Actor
): Draft => {
  const before = self.steps[head]
  const from = self.steps.length
  const to = from + members.length
  const step: StepRecord = {
    ...before,
    status: "pending",
    metadata: { ...before.metadata, members: [from, to] },
    attempt: 1,
    error: null,
    started_at: actor.now,
    updated_at: actor.now
  }
  const run: RunRecord = { ...self.run, status: "pending", metadata: { current_step: step.name }, updated_at: actor.now }
  const steps = self.steps.slice()
  steps[head] = step
  for (const member of members) steps.push(member)
  const added = self.added.slice()
  for (let i = from; i < to; i++) added.push(i)
  return {
    run,
    steps,
    changed: self.changed.includes(head) ? self.changed : [...self.changed, head],
    added,
    events: [...self.events, event(run, actor, "started", { ...step, attempt: before.attempt }, { members: members.length })]
  }
}

/** @internal Every member of a forEach step has finished: so does the step, with their outputs (documented as `Interpreter.fanIn`) */
export const fanIn = (self: Draft, head: number, output: string, actor: Actor): Draft => {
  const before = self.steps[head]
  const step: StepRecord = { ...before, status: "finished", output, error: null, ended_at: actor.now, updated_at: actor.now }
  const run: RunRecord = { ...self.run, updated_at: actor.now }
  return withStep(self, head, step, run, [event(run, actor, "finished", step)])
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
  handler: "onStart" | "onContinue" | "when" | "items",
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
export const cancelRun = (self: Draft, reason: string, actor: Actor, members?: readonly [number, number]): Draft => {
  const index = self.steps.findIndex((step) => !isTerminal(step.status))
  const error: ErrorInfo = { message: reason, pretty: null, cause: null }
  let next = self
  const cancel = (i: number) => {
    const before = next.steps[i]
    if (isTerminal(before.status)) return
    const step: StepRecord = { ...before, status: "cancelled", error, updated_at: actor.now, ended_at: actor.now }
    next = withStep(next, i, step, next.run, [event(next.run, actor, "cancelled", step, { reason })])
  }
  // the current step, and every member of the current group that has not ended
  if (index >= 0) cancel(index)
  if (members !== undefined) for (let i = members[0]; i < members[1]; i++) cancel(i)
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
export const retryRun = (self: Draft, actor: Actor, group?: readonly [number, number]): Draft => {
  const index = self.steps.findIndex((step) => step.status === "failed")
  const reopen = (draft: Draft, i: number, data: unknown): Draft => {
    const before = draft.steps[i]
    const { groupEnded: _, ...metadata } = before.metadata
    const step: StepRecord = {
      ...before,
      status: before.started_at === null ? "created" : "pending",
      metadata,
      attempt: 1,
      error: null,
      ended_at: null,
      updated_at: actor.now
    }
    const run: RunRecord = {
      ...draft.run,
      status: "pending",
      error: null,
      metadata: { current_step: draft.steps[index].name },
      wake_at: actor.now,
      updated_at: actor.now,
      ended_at: null
    }
    return withStep(draft, i, step, run, [event(run, actor, "retried", step, data)])
  }
  let next = reopen(self, index, { manual: true })
  // the members that the failure of a group's member cancelled resume with it (and a forEach step
  // that its member's failure ended)
  if (group !== undefined) {
    const head = next.steps[index].metadata.parent
    if (typeof head === "number" && next.steps[head].metadata.groupEnded === true) {
      next = reopen(next, head, { manual: true, member: true })
    }
    for (let i = group[0]; i < group[1]; i++) {
      if (next.steps[i].status === "cancelled" && next.steps[i].metadata.groupEnded === true) {
        next = reopen(next, i, { manual: true, member: true })
      }
    }
  }
  return next
}

/** @internal A member of a parallel group failed or was cancelled: the group's other members that (documented as `Interpreter.endGroup`) */
export const endGroup = (self: Draft, from: number, to: number, reason: string, actor: Actor): Draft => {
  const error: ErrorInfo = { message: reason, pretty: null, cause: null }
  let next = self
  for (let i = from; i < to; i++) {
    const before = next.steps[i]
    if (isTerminal(before.status)) continue
    const step: StepRecord = {
      ...before,
      status: "cancelled",
      metadata: { ...before.metadata, groupEnded: true },
      error,
      updated_at: actor.now,
      ended_at: actor.now
    }
    next = withStep(next, i, step, next.run, [event(next.run, actor, "cancelled", step, { reason })])
  }
  return next
}

/** @internal the run is due at once (a tick that stopped with work left) */
export const dueNow = (self: Draft, now: number): Draft =>
  self.run.wake_at === now ? self : { ...self, run: { ...self.run, wake_at: now } }

/** @internal when a member of a parallel group is next due: a wait's or a retry's time, kept on the member */
export const memberWaits = (self: Draft, index: number, wakeAt: number): Draft => {
  const before = self.steps[index]
  const step: StepRecord = { ...before, metadata: { ...before.metadata, wakeAt } }
  return withStep(self, index, step, self.run, [])
}

/** @internal when a member of a parallel group is due: at once when it never said otherwise */
export const memberWake = (step: StepRecord): number =>
  typeof step.metadata.wakeAt === "number" ? step.metadata.wakeAt : 0

/** @internal The run of a parallel group is due when its first member is (documented as `Interpreter.groupWake`) */
export const groupWake = (self: Draft, from: number, to: number, started = false): Draft => {
  let at = Number.POSITIVE_INFINITY
  for (let i = from; i < to; i++) {
    const step = self.steps[i]
    // with `started`, only the members that have started count (the others wait for a free slot)
    if (!isTerminal(step.status) && (!started || step.status === "pending")) at = Math.min(at, memberWake(step))
  }
  if (at === Number.POSITIVE_INFINITY || at === self.run.wake_at) return self
  return { ...self, run: { ...self.run, wake_at: at } }
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
  // the records after the pipeline's steps are members of its forEach steps
  const defined = shape.steps.length
  if (steps.length < defined || (steps.length > defined && typeof steps[defined].metadata.parent !== "number")) {
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
    if (i < defined && step.name !== shape.steps[i].name) {
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
  if (finished === steps.length) return { _tag: "Finalize", status: "finished", index: defined - 1 }
  // a forEach step under way: its members are the group
  const members = steps[current].metadata.members
  if (current < defined && steps[current].status === "pending" && Array.isArray(members)) {
    return { _tag: "Group", from: members[0], to: members[1], head: current }
  }
  // a parallel group: its members are due each on its own (the interpreter reads their wake-ups)
  const group = shape.group?.(current)
  if (group !== undefined) return { _tag: "Group", from: group[0], to: group[1] }
  if (run.wake_at > now) return { _tag: "Sleep", until: run.wake_at }
  return steps[current].status === "created"
    ? { _tag: "Start", index: current }
    : { _tag: "Continue", index: current }
}
