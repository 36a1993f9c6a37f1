/**
 * @internal the policy of a tick: how each observed event moves a run on, and the commands that
 * the runtime carries out (documented in `Interpreter` and docs/architecture.md "The interpreter")
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
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
  steps: pipeline.steps.map((step, index) => ({
    step,
    index,
    state: Codecs.make(step.state),
    output: Codecs.make(step.output),
    signal: Codecs.make(step.signal),
    needs: Object.entries(step.needs).map(([key, need]) => [key, pipeline.indexOf(need.name)] as const)
  }))
})

/** @internal */
export const unregistered = (name: string): Definition => ({
  pipeline: { name, steps: [], input: undefined, indexOf: () => -1 } as unknown as Pipeline.Any,
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
  const steps: Array<StepRecord> = definition.steps.map(({ step }, position) => ({
    uuid: ids.steps[position],
    name: step.name,
    pipeline_uuid: ids.run,
    position,
    status: "created",
    metadata: {},
    attempt: 1,
    state: null,
    output: null,
    error: null,
    created_at: now,
    updated_at: now,
    started_at: null,
    ended_at: null
  }))
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
const none: ReadonlyArray<Command> = []

const out = (tick: Tick, commands: ReadonlyArray<Command>): Transition => ({ tick, commands })

const actor = (tick: Tick, now: number): Actor => ({ now, worker: tick.worker })

const done = (tick: Tick): Command => ({ _tag: "Done", status: tick.draft.run.status, ranHandlers: tick.ranHandlers })

const reject = (tick: Tick, error: DecodeError | EncodeError | InvalidOperation | LeaseLost): Transition =>
  out({ ...tick, stage: "done" }, [{ _tag: "Reject", error }])

/**
 * The commit of what the draft holds. The tick goes on over the records as they will be once it
 * lands (`base`, with the lease columns as the runtime writes them once it answers `Committed`), so
 * that a later commit is guarded by this one's revision
 */
const commitOf = (tick: Tick, lease: "hold" | "release" | "keep"): [Tick, Command] => {
  const { base, consumed, draft: d } = tick
  const run: RunRecord = { ...d.run, revision: base.revision + 1 }
  const commit: Commit = {
    run,
    previous: base,
    steps: d.changed.map((i) => d.steps[i]),
    events: d.events,
    expectedRevision: base.revision,
    consumedSignals: consumed
  }
  const next = afterSignals(run, consumed.length)
  return [{ ...tick, base: next, draft: Records.draft({ run: next, steps: d.steps }), consumed: noIds }, {
    _tag: "Commit",
    commit,
    lease
  }]
}

/** the run once a commit that hands signals to steps has landed: they are no longer pending */
const afterSignals = (run: RunRecord, consumed: number): RunRecord =>
  consumed === 0 ? run : { ...run, pending_signals: run.pending_signals - consumed }

/** @internal the next tick and commands, for what the runtime observed (documented as `Interpreter.transition`) */
export const transition = (definition: Definition, tick: Tick, event: Event, now: number): Transition => {
  if (tick.stage === "done") return out(tick, none)
  switch (event._tag) {
    case "Claimed":
      return claimed(definition, tick, event.previousOwner, event.waitMillis, now)
    case "Committed":
      return committed(tick, event.commit)
    case "Returned":
      return event.handler === "onStart"
        ? startReturned(definition, tick, event.step, event.value, now)
        : continueReturned(definition, tick, event.step, event.value, now)
    case "Failed":
      return callFailed(definition, tick, event.step, event.handler, event.cause, now)
    case "RetryPlanned":
      return recordFailure(
        definition,
        { ...tick, ranHandlers: true },
        event.step,
        event.handler,
        Codecs.errorInfo(event.cause),
        event.at,
        now
      )
    case "LeaseLost":
      // nothing is written: the run belongs to another worker (or was cancelled here)
      return event.cancelled
        ? out({ ...tick, stage: "done" }, [{
          _tag: "Done",
          status: "cancelled",
          ranHandlers: tick.ranHandlers || event.inFlight
        }])
        : reject(tick, new LeaseLost({ runId: tick.runId, owner: tick.worker }))
    case "CancelAsked":
      return cancelAsked(tick, event.reason, now)
    case "RetryAsked":
      return retryAsked(tick, now)
    case "SignalAsked":
      return signalAsked(definition, tick, event.step, event.payload, event.id, now)
  }
}

const claimed = (
  definition: Definition,
  tick: Tick,
  previousOwner: string | null,
  waitMillis: number,
  now: number
): Transition => {
  const input = definition.input.decode(tick.base.input)
  if (Either.isLeft(input)) {
    return reject(tick, new DecodeError({ runId: tick.runId, what: "pipeline input", detail: input.left }))
  }
  // a take-over is recorded with the tick's first commit: a run whose records do not decode writes
  // nothing, however often it is claimed (docs/runtime.md "Leases")
  const d = previousOwner !== null && previousOwner !== tick.worker && !isTerminal(tick.base.status)
    ? Records.leaseLost(tick.draft, previousOwner, actor(tick, now))
    : tick.draft
  return advance(definition, { ...tick, stage: "running", input: input.right, waitMillis, draft: d }, now)
}

const committed = (tick: Tick, commit: Commit): Transition => {
  const written = afterSignals(commit.run, commit.consumedSignals.length)
  // the last commit made so far: the run is as it wrote it (a later one, made meanwhile, is
  // guarded by the revision this one wrote and knows its records already)
  const last = written.revision === tick.base.revision
  const next: Tick = last ? { ...tick, base: written } : tick
  if (tick.stage !== "closing" || !last) return out(next, none)
  const ended: Tick = { ...next, stage: "done" }
  // the run waits: this process's idle workers plan their sleep by its wake-up time
  return out(ended, isTerminal(written.status) ? [done(ended)] : [{ _tag: "Wake", at: written.wake_at }, done(ended)])
}

/** the decision loop: what the run's records say is next (docs/semantics.md "One tick") */
const advance = (definition: Definition, tick: Tick, now: number): Transition => {
  const decision = decide(definition.pipeline, tick.draft, now)
  switch (decision._tag) {
    case "Mismatch":
      return reject(tick, new DecodeError({ runId: tick.runId, what: "step list", detail: decision.detail }))
    case "Done":
    case "Sleep":
      return close(tick)
    case "Finalize":
      return close({ ...tick, draft: Records.finalize(tick.draft, decision.status, decision.index, actor(tick, now)) })
    case "Start":
    case "Continue": {
      const sd = definition.steps[decision.index]
      // what the handlers are given is decoded before anything is written
      const context = startContext(definition, tick, sd)
      if (context instanceof DecodeError) return reject(tick, context)
      // a step's handlers are about to run: what earlier steps did is committed first
      let next = tick
      let commit: Command | undefined
      if (Records.hasChanges(tick.draft)) [next, commit] = commitOf(tick, "hold")
      const call = decision._tag === "Continue"
        ? callContinue(next, sd, context)
        : sd.step.onStart === undefined
        ? startReturned(definition, next, sd.index, undefined, now)
        : out({ ...next, calls: [...next.calls, { step: sd.index, handler: "onStart", delivered: noIds }] }, [{
          _tag: "Call",
          step: sd.index,
          handler: "onStart",
          context
        }])
      // a context that does not decode: nothing is written, not even what came before
      const refused = call.commands.find((c) => c._tag === "Reject")
      if (refused !== undefined) return out({ ...tick, stage: "done" }, [refused])
      return commit === undefined ? call : out(call.tick, [commit, ...call.commands])
    }
  }
}

/** the tick ends: its last commit releases the lease; with nothing to write, the lease is handed back */
const close = (tick: Tick): Transition => {
  if (!Records.hasChanges(tick.draft)) {
    const ended: Tick = { ...tick, stage: "done" }
    return out(ended, [{ _tag: "Release" }, done(ended)])
  }
  const [next, commit] = commitOf(tick, "release")
  return out({ ...next, stage: "closing" }, [commit])
}

const withoutCall = (tick: Tick, step: number): { readonly tick: Tick; readonly call: Call | undefined } => {
  const call = tick.calls.find((c) => c.step === step)
  return {
    tick: { ...tick, ranHandlers: true, calls: call === undefined ? tick.calls : tick.calls.filter((c) => c !== call) },
    call
  }
}

const startReturned = (definition: Definition, tick0: Tick, step: number, value: unknown, now: number): Transition => {
  const { tick } = withoutCall(tick0, step)
  const sd = definition.steps[step]
  const state = sd.state.encode(value)
  if (Either.isLeft(state)) {
    const error = new EncodeError({ what: `state of step ${JSON.stringify(sd.step.name)}`, detail: state.left })
    return callFailed(definition, tick, step, "onStart", failCause(error), now)
  }
  const next: Tick = { ...tick, draft: Records.started(tick.draft, step, state.right, actor(tick, now)) }
  // onContinue, right after onStart, in the same tick and without a commit between
  const context = startContext(definition, next, sd)
  if (context instanceof DecodeError) return reject(next, context)
  return callContinue(next, sd, context)
}

/** the call of `onContinue`, with the step's state decoded and the signals for the step handed to it */
const callContinue = (
  tick: Tick,
  sd: StepDefinition,
  start: Step.StartContext<unknown, {}>
): Transition => {
  const record = tick.draft.steps[sd.index]
  const state = sd.state.decode(record.state)
  if (Either.isLeft(state)) {
    return reject(
      tick,
      new DecodeError({ runId: tick.runId, what: `state of step ${JSON.stringify(record.name)}`, detail: state.left })
    )
  }
  let delivered = noIds as Array<string>
  let payloads = noSignals
  for (const signal of tick.signals) {
    if (signal.step !== record.name) continue
    const payload = sd.signal.decode(signal.payload)
    if (Either.isLeft(payload)) {
      return reject(tick, new DecodeError({ runId: tick.runId, what: `signal ${signal.id}`, detail: payload.left }))
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
  return out(
    { ...tick, calls: [...tick.calls, { step: sd.index, handler: "onContinue", delivered }] },
    [{ _tag: "Call", step: sd.index, handler: "onContinue", context }]
  )
}

const continueReturned = (
  definition: Definition,
  tick0: Tick,
  step: number,
  value: unknown,
  now: number
): Transition => {
  const { call, tick } = withoutCall(tick0, step)
  const sd = definition.steps[step]
  const answer = toAnswer(sd, value as Step.Outcome, now, tick.waitMillis)
  if (answer instanceof EncodeError) return callFailed(definition, tick, step, "onContinue", failCause(answer), now)
  let next = tick
  const delivered = call?.delivered ?? noIds
  if (delivered.length > 0) {
    next = {
      ...next,
      consumed: [...next.consumed, ...delivered],
      signals: next.signals.filter((s) => !delivered.includes(s.id))
    }
  }
  next = { ...next, draft: Records.continued(next.draft, step, answer, actor(next, now)) }
  // a wait ends the tick; any other answer moves on (to the next step, or to the run's end)
  return answer._tag === "Wait" ? close(next) : advance(definition, next, now)
}

/** a failed call: its retry is planned with the step's schedule, or the step fails */
const callFailed = (
  definition: Definition,
  tick0: Tick,
  step: number,
  handler: Handler,
  cause: Cause.Cause<unknown>,
  now: number
): Transition => {
  const { tick } = withoutCall(tick0, step)
  if (definition.steps[step].step.retry === undefined) {
    return recordFailure(definition, tick, step, handler, Codecs.errorInfo(cause), undefined, now)
  }
  return out(tick, [{ _tag: "PlanRetry", step, handler, attempt: tick.draft.steps[step].attempt, cause, now }])
}

/** a durable retry ends the tick (the run sleeps until `at`); a failed step moves the run on */
const recordFailure = (
  definition: Definition,
  tick: Tick,
  step: number,
  handler: Handler,
  error: ErrorInfo,
  at: number | undefined,
  now: number
): Transition => {
  const next: Tick = { ...tick, draft: Records.handlerFailed(tick.draft, step, handler, error, at, actor(tick, now)) }
  return at !== undefined ? close(next) : advance(definition, next, now)
}

/** the context of a step's handlers: the run, the step, the input and the outputs it needs, decoded */
const startContext = (
  definition: Definition,
  tick: Tick,
  sd: StepDefinition
): Step.StartContext<unknown, {}> | DecodeError => {
  const steps = tick.draft.steps
  const outputs: Record<string, unknown> = {}
  for (const [key, index] of sd.needs) {
    const decoded = definition.steps[index].output.decode(steps[index].output)
    if (Either.isLeft(decoded)) {
      return new DecodeError({
        runId: tick.runId,
        what: `output of step ${JSON.stringify(steps[index].name)}`,
        detail: decoded.left
      })
    }
    outputs[key] = decoded.right
  }
  const record = steps[sd.index]
  return {
    runId: tick.runId,
    stepRunId: record.uuid,
    pipeline: definition.pipeline.name,
    step: record.name,
    attempt: record.attempt,
    input: tick.input,
    outputs
  }
}

const failCause = (error: unknown): Cause.Cause<unknown> => Cause.fail(error)

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
const manageCommit = (tick: Tick): Transition => {
  const [next, commit] = commitOf(tick, "keep")
  return out({ ...next, stage: "closing" }, [commit])
}

const invalid = (tick: Tick, operation: string, detail: string): Transition =>
  reject(tick, new InvalidOperation({ runId: tick.runId, operation, detail }))

/** an operator cancels the run: its current step and the run become `cancelled` */
const cancelAsked = (tick: Tick, reason: string, now: number): Transition =>
  isTerminal(tick.base.status)
    ? invalid(tick, "cancel", `it has ended (${tick.base.status})`)
    : manageCommit({ ...tick, draft: Records.cancelRun(tick.draft, reason, actor(tick, now)) })

/** an operator retries a failed run: its failed step resumes, and the run is due at once */
const retryAsked = (tick: Tick, now: number): Transition =>
  tick.base.status !== "failed"
    ? invalid(tick, "retry", `only a failed run can be retried, it is ${tick.base.status}`)
    : manageCommit({ ...tick, draft: Records.retryRun(tick.draft, actor(tick, now)) })

/**
 * A signal for a step of the run: stored for the step, which receives it with its next
 * `onContinue`; a signal for the current step makes the run due at once, one for a later step
 * waits for it without waking the step that is under way (docs/semantics.md "Signals").
 */
const signalAsked = (
  definition: Definition,
  tick: Tick,
  name: string,
  payload: unknown,
  id: string,
  now: number
): Transition => {
  const index = definition.pipeline.indexOf(name)
  if (index < 0) {
    return invalid(tick, "signal", `pipeline ${JSON.stringify(tick.base.name)} has no step ${JSON.stringify(name)}`)
  }
  const sd = definition.steps[index]
  if (sd.step.signal === undefined) {
    return invalid(tick, "signal", `step ${JSON.stringify(name)} declares no signal schema`)
  }
  const steps = tick.draft.steps
  const record = steps[index] as StepRecord | undefined
  if (record === undefined || isTerminal(record.status)) {
    return invalid(tick, "signal", `step ${JSON.stringify(name)} has ended (${record?.status})`)
  }
  const encoded = sd.signal.encode(payload)
  if (Either.isLeft(encoded)) {
    return reject(tick, new EncodeError({ what: `signal of step ${JSON.stringify(name)}`, detail: encoded.left }))
  }
  const text = encoded.right ?? "null"
  const current = steps.findIndex((step) => !isTerminal(step.status))
  const ended: Tick = { ...tick, stage: "done" }
  return out(ended, [
    {
      _tag: "Signal",
      signal: { id, run_uuid: tick.runId, step: name, payload: text, created_at: now },
      event: {
        run_uuid: tick.runId,
        at: now,
        type: "signalled",
        step: name,
        attempt: record.attempt,
        worker: tick.worker,
        data: { signal: id, payload: JSON.parse(text) }
      },
      due: current === index
    },
    { _tag: "Wake", at: now },
    done(ended)
  ])
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
  ranHandlers: false
})
