/**
 * @internal the policy of a tick: how each observed event moves a run on, and the commands that
 * the runtime carries out (documented in `Interpreter` and docs/architecture.md "The interpreter")
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import { DecodeError, EncodeError, InvalidOperation, LeaseLost } from "../Errors.js"
import type {
  Answer,
  Actor,
  Call,
  Command,
  Creation,
  Definition,
  Event,
  Handler,
  Ids,
  StepDefinition,
  Tick,
  Transition
} from "../Interpreter.js"
import type * as Pipeline from "../Pipeline.js"
import type { Commit, ErrorInfo, HistoryEvent, RunRecord, Snapshot, StepRecord } from "../Run.js"
import { isTerminal } from "../Run.js"
import type * as Step from "../Step.js"
import * as Codecs from "./codec.js"
import * as Records from "./transitions.js"

const decide = Records.decide

/** @internal */
export const define = (pipeline: Pipeline.Any): Definition => ({
  pipeline,
  input: Codecs.make(pipeline.input),
  steps: pipeline.steps.map((step, index) => {
    const needs = Object.entries(step.needs).map(([key, need]) => [key, pipeline.indexOf(need.name)] as const)
    const each = step.each
    return {
      step,
      index,
      state: Codecs.make(step.state),
      output: Codecs.make(step.output),
      signal: Codecs.make(step.signal),
      needs,
      // a forEach: what its members run (they read what the forEach needs), and its items' codec
      member: each === undefined ? undefined : {
        step: each.member,
        index: -1,
        state: Codecs.make(each.member.state),
        output: Codecs.make(each.member.output),
        signal: Codecs.make(undefined),
        needs
      },
      item: each === undefined ? undefined : Codecs.make(each.item)
    }
  })
})

/** @internal the definition of the step record at `index` (documented as `Interpreter.stepOf`) */
export const stepOf = (definition: Definition, steps: ReadonlyArray<StepRecord>, index: number): StepDefinition => {
  if (index < definition.steps.length) return definition.steps[index]
  const parent = steps[index].metadata.parent as number
  return { ...definition.steps[parent].member!, index }
}

/** the positions of the group that the step record at `index` is a member of: a parallel group, or a forEach's members */
const groupOf = (definition: Definition, steps: ReadonlyArray<StepRecord>, index: number): readonly [number, number] | undefined => {
  if (index < definition.steps.length) return definition.pipeline.group(index)
  const parent = steps[index].metadata.parent as number
  return steps[parent].metadata.members as [number, number]
}

/** the group that is current when the step record at `index` is: a forEach's members, or the group it belongs to */
const currentGroup = (definition: Definition, steps: ReadonlyArray<StepRecord>, index: number) => {
  const members = steps[index].metadata.members
  return Array.isArray(members) ? members as [number, number] : groupOf(definition, steps, index)
}

/**
 * The step run id of a forEach's member: derived from the forEach's own (the same after a crash
 * that repeats the start), in the shape of a UUID (version 8, RFC 9562)
 */
const memberId = (head: string, index: number): string => {
  const h = createHash("sha1").update(`${head}/${index}`).digest("hex")
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** a step record that is `created`: a run's step when the run is made, a forEach's member when it starts */
const createdStep = (
  uuid: string,
  name: string,
  run: string,
  position: number,
  metadata: StepRecord["metadata"],
  now: number
): StepRecord => ({
  uuid,
  name,
  pipeline_uuid: run,
  position,
  status: "created",
  metadata,
  attempt: 1,
  state: null,
  output: null,
  error: null,
  created_at: now,
  updated_at: now,
  started_at: null,
  ended_at: null
})

/** @internal */
export const unregistered = (name: string): Definition => ({
  pipeline: {
    name,
    elements: [],
    steps: [],
    input: undefined,
    indexOf: () => -1,
    group: () => undefined
  } as unknown as Pipeline.Any,
  input: Codecs.make(undefined),
  steps: []
})

/** @internal */
export const initial = (
  definition: Definition,
  creation: Creation,
  now: number,
  ids: Ids
): Either.Either<{ readonly snapshot: Snapshot; readonly events: ReadonlyArray<HistoryEvent> }, EncodeError> => {
  const input = definition.input.encode(creation.input)
  if (Either.isLeft(input)) {
    return Either.left(
      new EncodeError({ what: `input of pipeline ${JSON.stringify(definition.pipeline.name)}`, detail: input.left })
    )
  }
  const leased = creation.leaseExpiresAt !== null
  const run: RunRecord = {
    uuid: ids.run,
    name: definition.pipeline.name,
    status: "created",
    metadata: { current_step: null },
    input: input.right,
    idempotency_key: creation.idempotencyKey ?? null,
    revision: 1,
    wake_at: creation.wakeAt,
    lease_owner: leased ? creation.worker : null,
    lease_expires_at: creation.leaseExpiresAt,
    pending_signals: 0,
    error: null,
    created_at: now,
    updated_at: now,
    ended_at: null
  }
  const steps: Array<StepRecord> = definition.steps.map(({ step }, position) =>
    createdStep(ids.steps[position], step.name, ids.run, position, {}, now)
  )
  const event: HistoryEvent = {
    run_uuid: ids.run,
    at: now,
    type: "created",
    step: null,
    attempt: null,
    worker: creation.worker,
    data: creation.idempotencyKey === undefined ? null : { idempotencyKey: creation.idempotencyKey }
  }
  return Either.right({ snapshot: { run, steps, signals: [] }, events: [event] })
}

const noIds: ReadonlyArray<string> = []
const noCalls: ReadonlyArray<Call> = []
const noSignals: Array<unknown> = []
const noSettled: ReadonlyArray<number> = []
const none: ReadonlyArray<Command> = []

/**
 * The tick a transition makes: one copy of the tick it was given, changed in place while the
 * transition runs and never after (the tick given is never changed: `transition` is pure). One
 * object per transition, not one per rule applied: the tick is the hot path of every run
 */
type Work = { -readonly [K in keyof Tick]: Tick[K] }

const copy = (t: Tick): Work => ({
  runId: t.runId,
  worker: t.worker,
  stage: t.stage,
  phase: t.phase,
  draft: t.draft,
  base: t.base,
  signals: t.signals,
  consumed: t.consumed,
  calls: t.calls,
  input: t.input,
  waitMillis: t.waitMillis,
  ranHandlers: t.ranHandlers,
  settled: t.settled,
  begun: t.begun
})

const actor = (w: Work, now: number): Actor => ({ now, worker: w.worker })

const done = (w: Work): Command => ({ _tag: "Done", status: w.draft.run.status, ranHandlers: w.ranHandlers })

const reject = (w: Work, error: DecodeError | EncodeError | InvalidOperation | LeaseLost): ReadonlyArray<Command> => {
  w.stage = "done"
  return [{ _tag: "Reject", error }]
}

/**
 * The commit of what the draft holds. The tick goes on over the records as they will be once it
 * lands (`base`, with the lease columns as the runtime writes them once it answers `Committed`), so
 * that a later commit is guarded by this one's revision
 */
const commitOf = (w: Work, lease: "hold" | "release" | "keep"): Command => {
  const { base, consumed, draft: d } = w
  const run: RunRecord = { ...d.run, revision: base.revision + 1 }
  const commit: Commit = {
    run,
    previous: base,
    steps: d.changed.map((i) => d.steps[i]),
    added: d.added.length === 0 ? undefined : d.added.map((i) => d.steps[i]),
    events: d.events,
    expectedRevision: base.revision,
    consumedSignals: consumed
  }
  const next = afterSignals(run, consumed.length)
  w.base = next
  w.draft = Records.draft({ run: next, steps: d.steps })
  w.consumed = noIds
  return { _tag: "Commit", commit, lease }
}

/** the run once a commit that hands signals to steps has landed: they are no longer pending */
const afterSignals = (run: RunRecord, consumed: number): RunRecord =>
  consumed === 0 ? run : { ...run, pending_signals: run.pending_signals - consumed }

/** @internal the next tick and commands, for what the runtime observed (documented as `Interpreter.transition`) */
export const transition = (definition: Definition, tick: Tick, event: Event, now: number): Transition => {
  if (tick.stage === "done") return { tick, commands: none }
  const w = copy(tick)
  return { commands: apply(definition, w, event, now), tick: w }
}

const apply = (definition: Definition, w: Work, event: Event, now: number): ReadonlyArray<Command> => {
  switch (event._tag) {
    case "Claimed":
      return claimed(definition, w, event.previousOwner, event.waitMillis, now)
    case "Committed":
      return committed(w, event.commit)
    case "Returned": {
      const call = endCall(w, event.step)
      // the answer of a call that an ended group interrupted: it is not recorded
      if (call === undefined) return none
      return event.handler === "onStart"
        ? startReturned(definition, w, event.step, event.value, now)
        : continueReturned(definition, w, call, event.step, event.value, now)
    }
    case "Failed":
      if (endCall(w, event.step) === undefined) return none
      return callFailed(definition, w, event.step, event.handler, event.cause, now)
    case "RetryPlanned":
      return recordFailure(definition, w, event.step, event.handler, Codecs.errorInfo(event.cause), event.at, now)
    case "LeaseLost":
      // nothing is written: the run belongs to another worker (or was cancelled here)
      if (!event.cancelled) return reject(w, new LeaseLost({ runId: w.runId, owner: w.worker }))
      w.stage = "done"
      return [{ _tag: "Done", status: "cancelled", ranHandlers: w.ranHandlers || event.inFlight }]
    case "CancelAsked":
      return cancelAsked(definition, w, event.reason, now)
    case "RetryAsked":
      return retryAsked(definition, w, now)
    case "SignalAsked":
      return signalAsked(definition, w, event.step, event.payload, event.id, now)
  }
}

const claimed = (
  definition: Definition,
  w: Work,
  previousOwner: string | null,
  waitMillis: number,
  now: number
): ReadonlyArray<Command> => {
  const input = definition.input.decode(w.base.input)
  if (Either.isLeft(input)) {
    return reject(w, new DecodeError({ runId: w.runId, what: "pipeline input", detail: input.left }))
  }
  // a take-over is recorded with the tick's first commit: a run whose records do not decode writes
  // nothing, however often it is claimed (docs/runtime.md "Leases")
  if (previousOwner !== null && previousOwner !== w.worker && !isTerminal(w.base.status)) {
    w.draft = Records.leaseLost(w.draft, previousOwner, actor(w, now))
  }
  w.stage = "running"
  w.input = input.right
  w.waitMillis = waitMillis
  return advance(definition, w, now)
}

const committed = (w: Work, commit: Commit): ReadonlyArray<Command> => {
  const written = afterSignals(commit.run, commit.consumedSignals.length)
  // the last commit made so far: the run is as it wrote it (a later one, made meanwhile, is
  // guarded by the revision this one wrote and knows its records already)
  if (written.revision !== w.base.revision) return none
  w.base = written
  if (w.stage !== "closing") return none
  w.stage = "done"
  // the run waits: this process's idle workers plan their sleep by its wake-up time
  return isTerminal(written.status) ? [done(w)] : [{ _tag: "Wake", at: written.wake_at }, done(w)]
}

/** the decision loop: what the run's records say is next (docs/semantics.md "One tick") */
const advance = (definition: Definition, w: Work, now: number): ReadonlyArray<Command> => {
  const decision = decide(definition.pipeline, w.draft, now)
  switch (decision._tag) {
    case "Mismatch":
      return reject(w, new DecodeError({ runId: w.runId, what: "step list", detail: decision.detail }))
    case "Done":
    case "Sleep":
      return close(w)
    case "Finalize":
      return finalize(definition, w, decision.status, decision.index, now)
    case "Group":
      return advanceGroup(definition, w, decision.from, decision.to, now, decision.head)
    case "Start":
    case "Continue": {
      const sd = definition.steps[decision.index]
      // what the handlers are given is decoded before anything is written
      const context = startContext(definition, w, sd)
      if (context instanceof DecodeError) return reject(w, context)
      // a conditional step about to start: its predicate says whether it runs or is skipped
      if (decision._tag === "Start" && sd.step.condition !== undefined) {
        const holds = condition(sd, context)
        if (holds !== true) {
          w.draft = holds === false
            ? Records.skipped(w.draft, sd.index, actor(w, now))
            : Records.handlerFailed(w.draft, sd.index, "when", holds, undefined, actor(w, now))
          return advance(definition, w, now)
        }
      }
      // a forEach about to start: its members are created, and started as a group
      if (decision._tag === "Start" && sd.step.each !== undefined) return fanOut(definition, w, sd, context, now)
      // a step's handlers are about to run: what earlier steps did is committed first
      const commit = Records.hasChanges(w.draft) ? commitOf(w, "hold") : undefined
      let call: ReadonlyArray<Command>
      if (decision._tag === "Continue") {
        call = callContinue(w, sd, context)
      } else if (sd.step.onStart === undefined) {
        call = startReturned(definition, w, sd.index, undefined, now)
      } else {
        beginCall(w, sd.index, "onStart", noIds)
        call = [{ _tag: "Call", step: sd.index, handler: "onStart", context }]
      }
      if (commit === undefined) return call
      // a context that does not decode: nothing is written, not even what came before
      for (const c of call) if (c._tag === "Reject") return [c]
      return [commit, ...call]
    }
  }
}

/**
 * The run ends. A member of a parallel group that failed or was cancelled ends its group first:
 * the calls of its other members still in flight are interrupted, and those members cancelled
 */
const finalize = (
  definition: Definition,
  w: Work,
  status: "finished" | "failed" | "cancelled",
  index: number,
  now: number
): ReadonlyArray<Command> => {
  const group = status === "finished" ? undefined : groupOf(definition, w.draft.steps, index)
  let interrupt: Command | undefined
  if (group !== undefined) {
    if (w.calls.length > 0) {
      interrupt = { _tag: "Interrupt", steps: w.calls.map((c) => c.step) }
      w.calls = noCalls
    }
    const name = JSON.stringify(w.draft.steps[index].name)
    const reason = status === "failed" ? `member ${name} of the group failed` : `member ${name} of the group was cancelled`
    w.draft = Records.endGroup(w.draft, group[0], group[1], reason, actor(w, now))
    // a forEach's member: the forEach ends with it
    const head = w.draft.steps[index].metadata.parent
    if (typeof head === "number") w.draft = Records.endGroup(w.draft, head, head + 1, reason, actor(w, now))
  }
  w.draft = Records.finalize(w.draft, status, index, actor(w, now))
  const closing = close(w)
  return interrupt === undefined ? closing : [interrupt, ...closing]
}

/**
 * How many members of a forEach a tick starts or continues at most: past it, the tick commits and
 * ends, the run due at once, so that a fan-out of thousands of members is worked through in ticks of
 * bounded size (memory, commit size, and what a crash can repeat)
 */
const membersPerTick = 500

/** whether a member of a group is due: its own wake-up time has come, or a signal for it is there */
const memberDue = (w: Work, record: StepRecord, now: number): boolean => {
  if (Records.memberWake(record) <= now) return true
  for (const signal of w.signals) if (signal.step === record.name) return true
  return false
}

/**
 * The current element is a parallel group: each member not ended, not in flight and not settled
 * for this tick is started or continued if it is due, all in one go (their calls run concurrently).
 * With nothing due and nothing in flight, the tick ends, the run due when its first member is.
 */
const advanceGroup = (
  definition: Definition,
  w: Work,
  from: number,
  to: number,
  now: number,
  head?: number
): ReadonlyArray<Command> => {
  const due: Array<number> = []
  let decided = false
  // a forEach: at most `concurrency` members active (started and not ended, or starting)
  const limit = head === undefined ? Number.POSITIVE_INFINITY : definition.steps[head].step.each!.concurrency ?? Number.POSITIVE_INFINITY
  let active = 0
  let open = 0
  const flying = new Set<number>()
  for (const call of w.calls) flying.add(call.step)
  const settled = new Set(w.settled)
  if (head !== undefined) {
    for (let i = from; i < to; i++) {
      const status = w.draft.steps[i].status
      if (isTerminal(status)) continue
      open++
      if (status === "pending" || flying.has(i)) active++
    }
    // every member has finished: so does the forEach, with their outputs in order
    if (open === 0) {
      const outputs: Array<string> = []
      for (let i = from; i < to; i++) outputs.push(w.draft.steps[i].output ?? "null")
      w.draft = Records.fanIn(w.draft, head, `[${outputs.join(",")}]`, actor(w, now))
      return advance(definition, w, now)
    }
  }
  // a forEach's members: a bounded number of calls per tick
  let budget = head === undefined ? Number.POSITIVE_INFINITY : membersPerTick - w.begun
  for (let i = from; i < to && budget > 0; i++) {
    const record = w.draft.steps[i]
    if (isTerminal(record.status) || flying.has(i) || settled.has(i) || !memberDue(w, record, now)) continue
    if (record.status === "created") {
      if (active >= limit) continue
      active++
    }
    budget--
    const sd = stepOf(definition, w.draft.steps, i)
    // a conditional member about to start: its predicate says whether it runs or is skipped
    if (record.status === "created" && sd.step.condition !== undefined) {
      const context = startContext(definition, w, sd)
      if (context instanceof DecodeError) return reject(w, context)
      const holds = condition(sd, context)
      if (holds !== true) {
        w.draft = holds === false
          ? Records.skipped(w.draft, i, actor(w, now))
          : Records.handlerFailed(w.draft, i, "when", holds, undefined, actor(w, now))
        decided = true
        continue
      }
    }
    due.push(i)
  }
  // a member skipped or failed: the group may be over (the run goes on, or ends)
  if (decided) {
    const next = decide(definition.pipeline, w.draft, now)
    if (next._tag !== "Group") return advance(definition, w, now)
  }
  if (due.length === 0) {
    if (w.calls.length > 0) return none
    // a forEach whose members wait for a free slot: only the started ones say when the run is due
    w.draft = Records.groupWake(w.draft, from, to, head !== undefined && active >= limit)
    if (budget <= 0) w.draft = Records.dueNow(w.draft, now)
    return close(w)
  }
  w.begun += head === undefined ? 0 : due.length
  // what the handlers are given is decoded before anything is written
  const contexts: Array<Step.StartContext<unknown, {}>> = []
  for (const i of due) {
    const context = startContext(definition, w, stepOf(definition, w.draft.steps, i))
    if (context instanceof DecodeError) return reject(w, context)
    contexts.push(context)
  }
  // the members' handlers are about to run: what came before is committed first
  const commands: Array<Command> = []
  if (Records.hasChanges(w.draft)) commands.push(commitOf(w, "hold"))
  due.forEach((i, k) => {
    const sd = stepOf(definition, w.draft.steps, i)
    const status = w.draft.steps[i].status
    if (status === "pending") {
      commands.push(...callContinue(w, sd, contexts[k]))
    } else if (sd.step.onStart === undefined) {
      commands.push(...startReturned(definition, w, i, undefined, now))
    } else {
      beginCall(w, i, "onStart", noIds)
      commands.push({ _tag: "Call", step: i, handler: "onStart", context: contexts[k] })
    }
  })
  // a context that does not decode: nothing is written, not even what came before
  for (const c of commands) if (c._tag === "Reject") return [c]
  return commands
}

/** a member of a group waits (or will be retried) at `at`: it is done for this tick */
const settle = (w: Work, step: number, at: number): void => {
  w.draft = Records.memberWaits(w.draft, step, at)
  w.settled = [...w.settled, step]
}

/** the tick ends: its last commit releases the lease; with nothing to write, the lease is handed back */
const close = (w: Work): ReadonlyArray<Command> => {
  if (!Records.hasChanges(w.draft)) {
    w.stage = "done"
    return [{ _tag: "Release" }, done(w)]
  }
  const commit = commitOf(w, "release")
  w.stage = "closing"
  return [commit]
}

const beginCall = (w: Work, step: number, handler: Handler, delivered: ReadonlyArray<string>): void => {
  const call: Call = { step, handler, delivered }
  w.calls = w.calls.length === 0 ? [call] : [...w.calls, call]
}

/** the call of a step answered or failed: it is no longer in flight */
const endCall = (w: Work, step: number): Call | undefined => {
  w.ranHandlers = true
  const calls = w.calls
  const at = calls.findIndex((c) => c.step === step)
  if (at < 0) return undefined
  const call = calls[at]
  w.calls = calls.length === 1 ? noCalls : calls.filter((_, i) => i !== at)
  return call
}

const startReturned = (
  definition: Definition,
  w: Work,
  step: number,
  value: unknown,
  now: number
): ReadonlyArray<Command> => {
  const sd = stepOf(definition, w.draft.steps, step)
  const state = sd.state.encode(value)
  if (Either.isLeft(state)) {
    const error = new EncodeError({ what: `state of step ${JSON.stringify(sd.step.name)}`, detail: state.left })
    return callFailed(definition, w, step, "onStart", Cause.fail(error), now)
  }
  w.draft = Records.started(w.draft, step, state.right, actor(w, now))
  // onContinue, right after onStart, in the same tick and without a commit between
  const context = startContext(definition, w, sd)
  if (context instanceof DecodeError) return reject(w, context)
  return callContinue(w, sd, context)
}

/** the call of `onContinue`, with the step's state decoded and the signals for the step handed to it */
const callContinue = (w: Work, sd: StepDefinition, start: Step.StartContext<unknown, {}>): ReadonlyArray<Command> => {
  const record = w.draft.steps[sd.index]
  const state = sd.state.decode(record.state)
  if (Either.isLeft(state)) {
    return reject(
      w,
      new DecodeError({ runId: w.runId, what: `state of step ${JSON.stringify(record.name)}`, detail: state.left })
    )
  }
  let delivered = noIds as Array<string>
  let payloads = noSignals
  for (const signal of w.signals) {
    if (signal.step !== record.name) continue
    const payload = sd.signal.decode(signal.payload)
    if (Either.isLeft(payload)) {
      return reject(w, new DecodeError({ runId: w.runId, what: `signal ${signal.id}`, detail: payload.left }))
    }
    if (delivered === noIds) {
      delivered = []
      payloads = []
    }
    delivered.push(signal.id)
    payloads.push(payload.right)
  }
  // every property written out: a spread of the start context would make a slower object
  const context: Step.ContinueContext<unknown, {}, unknown, unknown> = {
    runId: start.runId,
    stepRunId: start.stepRunId,
    pipeline: start.pipeline,
    step: start.step,
    attempt: record.attempt,
    input: start.input,
    outputs: start.outputs,
    state: state.right,
    signals: payloads,
    continuations: typeof record.metadata.continuations === "number" ? record.metadata.continuations : 0
  }
  // a forEach's member: its item too
  if ("item" in start) Object.assign(context, { item: start.item, index: (start as unknown as { index: number }).index })
  beginCall(w, sd.index, "onContinue", delivered)
  return [{ _tag: "Call", step: sd.index, handler: "onContinue", context }]
}

const continueReturned = (
  definition: Definition,
  w: Work,
  call: Call | undefined,
  step: number,
  value: unknown,
  now: number
): ReadonlyArray<Command> => {
  const sd = stepOf(definition, w.draft.steps, step)
  const answer = toAnswer(sd, value as Step.Outcome, now, w.waitMillis)
  if (answer instanceof EncodeError) return callFailed(definition, w, step, "onContinue", Cause.fail(answer), now)
  const delivered = call?.delivered ?? noIds
  if (delivered.length > 0) {
    w.consumed = [...w.consumed, ...delivered]
    w.signals = w.signals.filter((s) => !delivered.includes(s.id))
  }
  w.draft = Records.continued(w.draft, step, answer, actor(w, now))
  if (answer._tag !== "Wait") return advance(definition, w, now)
  // a wait ends the tick; a member's wait ends its own part of the tick
  if (groupOf(definition, w.draft.steps, step) === undefined) return close(w)
  settle(w, step, answer.wakeAt)
  return advance(definition, w, now)
}

/** a failed call: its retry is planned with the step's schedule, or the step fails */
const callFailed = (
  definition: Definition,
  w: Work,
  step: number,
  handler: Handler,
  cause: Cause.Cause<unknown>,
  now: number
): ReadonlyArray<Command> => {
  if (stepOf(definition, w.draft.steps, step).step.retry === undefined) {
    return recordFailure(definition, w, step, handler, Codecs.errorInfo(cause), undefined, now)
  }
  return [{ _tag: "PlanRetry", step, handler, attempt: w.draft.steps[step].attempt, cause, now }]
}

/** a durable retry ends the tick (the run sleeps until `at`); a failed step moves the run on */
const recordFailure = (
  definition: Definition,
  w: Work,
  step: number,
  handler: Handler,
  error: ErrorInfo,
  at: number | undefined,
  now: number
): ReadonlyArray<Command> => {
  w.ranHandlers = true
  w.draft = Records.handlerFailed(w.draft, step, handler, error, at, actor(w, now))
  if (at === undefined) return advance(definition, w, now)
  // a durable retry ends the tick; a member's ends its own part of the tick
  if (groupOf(definition, w.draft.steps, step) === undefined) return close(w)
  settle(w, step, at)
  return advance(definition, w, now)
}

/** the answer of a conditional step's predicate; a predicate that throws, or answers no boolean, fails the step */
const condition = (sd: StepDefinition, context: Step.StartContext<unknown, {}>): boolean | ErrorInfo => {
  let holds: unknown
  try {
    holds = sd.step.condition!({ input: context.input, outputs: context.outputs })
  } catch (defect) {
    return Codecs.errorInfo(Cause.die(defect))
  }
  if (typeof holds === "boolean") return holds
  return {
    message: `the predicate of when(..., ${JSON.stringify(sd.step.name)}) answered ${typeof holds}, not a boolean`,
    pretty: null,
    cause: null
  }
}

/** the context of a step's handlers: the run, the step, the input and the outputs it needs, decoded */
const startContext = (
  definition: Definition,
  w: Work,
  sd: StepDefinition
): Step.StartContext<unknown, {}> | DecodeError => {
  const steps = w.draft.steps
  const outputs: Record<string, unknown> = {}
  for (const [key, index] of sd.needs) {
    const needed = definition.steps[index]
    // a conditional step's output is an Option: None when it was skipped
    if (needed.step.condition !== undefined && steps[index].status === "skipped") {
      outputs[key] = Option.none()
      continue
    }
    const decoded = needed.output.decode(steps[index].output)
    if (Either.isLeft(decoded)) {
      return new DecodeError({
        runId: w.runId,
        what: `output of step ${JSON.stringify(steps[index].name)}`,
        detail: decoded.left
      })
    }
    outputs[key] = needed.step.condition === undefined ? decoded.right : Option.some(decoded.right)
  }
  const record = steps[sd.index]
  const context = {
    runId: w.runId,
    stepRunId: record.uuid,
    pipeline: definition.pipeline.name,
    step: record.name,
    attempt: record.attempt,
    input: w.input,
    outputs
  }
  // a forEach's member: its item, decoded with the forEach's item schema
  const parent = record.metadata.parent
  if (typeof parent !== "number") return context
  const item = definition.steps[parent].item!.decode(
    record.metadata.item === undefined ? null : JSON.stringify(record.metadata.item)
  )
  if (Either.isLeft(item)) {
    return new DecodeError({ runId: w.runId, what: `item of step ${JSON.stringify(record.name)}`, detail: item.left })
  }
  return Object.assign(context, { item: item.right, index: record.metadata.index as number })
}

/**
 * A forEach becomes current: `items` gives its items (pure, like a predicate: a throw or an answer
 * that is no array fails the step), each encoded with the item schema into its member's record;
 * the members are then started as a group (none: the step finishes with `[]`)
 */
const fanOut = (
  definition: Definition,
  w: Work,
  sd: StepDefinition,
  context: Step.StartContext<unknown, {}>,
  now: number
): ReadonlyArray<Command> => {
  const each = sd.step.each!
  const fail = (error: ErrorInfo) => {
    w.draft = Records.handlerFailed(w.draft, sd.index, "items", error, undefined, actor(w, now))
    return advance(definition, w, now)
  }
  let items: unknown
  try {
    items = each.items({ input: context.input, outputs: context.outputs })
  } catch (defect) {
    return fail(Codecs.errorInfo(Cause.die(defect)))
  }
  if (!Array.isArray(items)) {
    return fail({ message: `the items of forEach ${JSON.stringify(sd.step.name)} are not an array`, pretty: null, cause: null })
  }
  const head = w.draft.steps[sd.index]
  const from = w.draft.steps.length
  const members: Array<StepRecord> = []
  for (let index = 0; index < items.length; index++) {
    const encoded = sd.item!.encode(items[index])
    if (Either.isLeft(encoded)) {
      return fail({
        message: `item ${index} of forEach ${JSON.stringify(sd.step.name)} does not encode: ${encoded.left}`,
        pretty: null,
        cause: null
      })
    }
    const item = encoded.right === null ? null : JSON.parse(encoded.right)
    members.push(
      createdStep(memberId(head.uuid, index), `${head.name}[${index}]`, head.pipeline_uuid, from + index, {
        parent: sd.index,
        index,
        item
      }, now)
    )
  }
  w.draft = Records.fanOut(w.draft, sd.index, members, actor(w, now))
  return advance(definition, w, now)
}

/** what `onContinue` answered, its values encoded with the step's schemas */
const toAnswer = (sd: StepDefinition, outcome: Step.Outcome, now: number, waitMillis: number): Answer | EncodeError => {
  // for error messages only
  const name = () => JSON.stringify(sd.step.name)
  switch (outcome?._tag) {
    case "Finish": {
      const output = sd.output.encode(outcome.output)
      return Either.isLeft(output)
        ? new EncodeError({ what: `output of step ${name()}`, detail: output.left })
        : { _tag: "Finish", output: output.right }
    }
    case "Wait": {
      let state: string | null | undefined
      if (outcome.hasState) {
        const encoded = sd.state.encode(outcome.state)
        if (Either.isLeft(encoded)) return new EncodeError({ what: `state of step ${name()}`, detail: encoded.left })
        state = encoded.right
      }
      const wakeAt = outcome.until !== undefined
        ? outcome.until.getTime()
        : outcome.after !== undefined
        ? now + Duration.toMillis(outcome.after)
        : now + waitMillis
      const plain = outcome.until === undefined && outcome.after === undefined
      return { _tag: "Wait", state, wakeAt, plain }
    }
    case "Fail":
      return {
        _tag: "Fail",
        error: {
          message: outcome.reason,
          pretty: null,
          cause: outcome.details === undefined ? null : Codecs.toJson(outcome.details)
        }
      }
    case "Cancel":
      return { _tag: "Cancel", reason: outcome.reason }
    default:
      return new EncodeError({
        what: `answer of step ${name()}`,
        detail: "onContinue must answer Step.finish(), Step.wait(), Step.fail() or Step.cancel()"
      })
  }
}

// -----------------------------------------------------------------------------
// management
// -----------------------------------------------------------------------------

/** a management write: committed as drafted (the lease columns as the transition left them) */
const manageCommit = (w: Work): ReadonlyArray<Command> => {
  const commit = commitOf(w, "keep")
  w.stage = "closing"
  return [commit]
}

const invalid = (w: Work, operation: string, detail: string): ReadonlyArray<Command> =>
  reject(w, new InvalidOperation({ runId: w.runId, operation, detail }))

/** an operator cancels the run: its current step and the run become `cancelled` */
const cancelAsked = (definition: Definition, w: Work, reason: string, now: number): ReadonlyArray<Command> => {
  if (isTerminal(w.base.status)) return invalid(w, "cancel", `it has ended (${w.base.status})`)
  // the current step, and every member of the current group (a parallel group, or a forEach's members)
  const current = w.draft.steps.findIndex((step) => !isTerminal(step.status))
  const group = current < 0 ? undefined : currentGroup(definition, w.draft.steps, current)
  w.draft = Records.cancelRun(w.draft, reason, actor(w, now), group)
  return manageCommit(w)
}

/** an operator retries a failed run: its failed step resumes, and the run is due at once */
const retryAsked = (definition: Definition, w: Work, now: number): ReadonlyArray<Command> => {
  if (w.base.status !== "failed") return invalid(w, "retry", `only a failed run can be retried, it is ${w.base.status}`)
  const failed = w.draft.steps.findIndex((step) => step.status === "failed")
  w.draft = Records.retryRun(w.draft, actor(w, now), failed < 0 ? undefined : groupOf(definition, w.draft.steps, failed))
  return manageCommit(w)
}

/**
 * A signal for a step of the run: stored for the step, which receives it with its next
 * `onContinue`; a signal for the current step makes the run due at once, one for a later step
 * waits for it without waking the step that is under way (docs/semantics.md "Signals").
 */
const signalAsked = (
  definition: Definition,
  w: Work,
  name: string,
  payload: unknown,
  id: string,
  now: number
): ReadonlyArray<Command> => {
  const index = definition.pipeline.indexOf(name)
  if (index < 0) {
    return invalid(w, "signal", `pipeline ${JSON.stringify(w.base.name)} has no step ${JSON.stringify(name)}`)
  }
  const sd = definition.steps[index]
  if (sd.step.signal === undefined) {
    return invalid(w, "signal", `step ${JSON.stringify(name)} declares no signal schema`)
  }
  const steps = w.draft.steps
  const record = steps[index] as StepRecord | undefined
  if (record === undefined || isTerminal(record.status)) {
    return invalid(w, "signal", `step ${JSON.stringify(name)} has ended (${record?.status})`)
  }
  const encoded = sd.signal.encode(payload)
  if (Either.isLeft(encoded)) {
    return reject(w, new EncodeError({ what: `signal of step ${JSON.stringify(name)}`, detail: encoded.left }))
  }
  const text = encoded.right ?? "null"
  const current = steps.findIndex((step) => !isTerminal(step.status))
  // a signal for a member of the current group wakes the run as one for the current step does
  const group = current < 0 ? undefined : definition.pipeline.group(current)
  const due = group === undefined ? current === index : index >= group[0] && index < group[1]
  w.stage = "done"
  return [
    {
      _tag: "Signal",
      signal: { id, run_uuid: w.runId, step: name, payload: text, created_at: now },
      event: {
        run_uuid: w.runId,
        at: now,
        type: "signalled",
        step: name,
        attempt: record.attempt,
        worker: w.worker,
        data: { signal: id, payload: JSON.parse(text) }
      },
      due
    },
    { _tag: "Wake", at: now },
    done(w)
  ]
}

/** @internal */
export const load = (snapshot: Snapshot, worker: string): Tick => ({
  runId: snapshot.run.uuid,
  worker,
  stage: "loaded",
  phase: "forward",
  draft: Records.draft(snapshot),
  base: snapshot.run,
  signals: snapshot.signals,
  consumed: noIds,
  calls: noCalls,
  input: undefined,
  waitMillis: 0,
  ranHandlers: false,
  settled: noSettled,
  begun: 0
})
