/**
 * Property tests of the pure core: random pipelines of 1 to 6 steps (with and without `onStart`,
 * with and without a retry schedule) are driven through `Interpreter.transition` itself. A small
 * driver plays the runtime: it carries out the commands (answering each `Call` from a random
 * script of handler outcomes, each `PlanRetry` from the script's retry delay, each `Commit` by
 * writing into an in-memory store as a repository does), and feeds what it observed back. The
 * invariants of the run, of its steps, of the commands and of the stored records are checked after
 * every transition and every commit. Between ticks time advances (sometimes not far enough: the
 * run sleeps), a handler may "crash" the worker (the tick stops without its uncommitted writes, and
 * the next tick takes the expired lease over), and an operator may cancel the run or retry a
 * failed one, through the same transition.
 *
 * test/Orchestrator.property.test.ts drives the real runtime with random outcomes too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, FastCheck as fc, Schedule, Schema } from "effect"
import { Interpreter, Pipeline, type Run, Step, step as stepOf, when } from "prorch"

/** a step's condition in a random pipeline: none, or a predicate that holds, does not, or throws */
type Condition = "none" | "holds" | "fails" | "throws"

// -----------------------------------------------------------------------------
// records
// -----------------------------------------------------------------------------

type Records = { readonly run: Run.RunRecord; readonly steps: ReadonlyArray<Run.StepRecord> }
type Shape = Interpreter.Shape

const WORKER = "worker-1"
const OTHER = "worker-0"
const RUN_ID = "run-0001"
const actorAt = (now: number): Interpreter.Actor => ({ now, worker: WORKER })

const errorInfo = (message: string): Run.ErrorInfo => ({
  message,
  pretty: `Error: ${message}\n    at handler`,
  cause: { _id: "Cause", _tag: "Fail", failure: { message } }
})

const shapeOf = (names: ReadonlyArray<string>): Shape => ({ steps: names.map((name) => ({ name })) })

/** a pipeline whose handlers are never called here: the driver answers for them */
const definitionOf = (
  names: ReadonlyArray<string>,
  noStart: ReadonlyArray<boolean>,
  noRetry: ReadonlyArray<boolean>,
  conditions: ReadonlyArray<Condition> = []
) => {
  const unreachable = () => Effect.dieMessage("the driver answers for the handlers")
  const steps = names.map((name, i) => {
    const plain = Step.make(name, {
      ...(noStart[i] ? {} : { state: Schema.Unknown, onStart: unreachable }),
      output: Schema.Unknown,
      signal: Schema.Unknown,
      onContinue: unreachable,
      ...(noRetry[i] ? {} : { retry: Schedule.forever })
    })
    const condition = conditions[i] ?? "none"
    if (condition === "none") return plain
    return when((ctx) => {
      // the predicate is given the decoded input
      expect(ctx.input).toEqual({ n: 1 })
      if (condition === "throws") throw new Error("no rule")
      return condition === "holds"
    }, plain)
  })
  return Interpreter.define(Effect.runSync(Pipeline.makeEffect("Pipeline", { input: Schema.Struct({ n: Schema.Number }) }, steps)))
}

const initialRecords = (
  definition: Interpreter.Definition,
  createdAt: number,
  wakeAt: number
): Records => {
  const made = Interpreter.initial(
    definition,
    { input: { n: 1 }, wakeAt, worker: WORKER, leaseExpiresAt: null },
    createdAt,
    { run: RUN_ID, steps: definition.steps.map((_, position) => `${RUN_ID}/step-${position}`) }
  )
  if (made._tag === "Left") throw made.left
  expect(made.right.events.map((e) => e.type)).toEqual(["created"])
  return made.right.snapshot
}

/** the records of a new run of a pipeline of these steps */
const recordsOf = (names: ReadonlyArray<string>, createdAt: number, wakeAt: number): Records =>
  initialRecords(definitionOf(names, [], []), createdAt, wakeAt)

const isTerminal = (status: Run.StepStatus) =>
  status === "finished" || status === "failed" || status === "cancelled" || status === "skipped"

/** a step that has moved the run past it: finished, or skipped */
const passed = (status: Run.StepStatus) => status === "finished" || status === "skipped"

const code: Record<Run.StepStatus, string> = {
  finished: "F",
  pending: "P",
  failed: "X",
  cancelled: "C",
  created: "N",
  skipped: "S"
}
/** the statuses of the steps, one letter each: F finished, S skipped, P pending, X failed, C cancelled, N created */
const pattern = (steps: ReadonlyArray<Run.StepRecord>) => steps.map((s) => code[s.status]).join("")
/** a sequential pipeline: finished or skipped steps, at most one current (pending or ended badly), then created ones */
const SEQUENTIAL = /^[FS]*[PXC]?N*$/

const firstOpen = (steps: ReadonlyArray<Run.StepRecord>) =>
  steps.findIndex((s) => s.status === "created" || s.status === "pending")

/** step transitions that the interpreter may make (an operator retry is checked on its own) */
const allowed: Record<Run.StepStatus, ReadonlyArray<Run.StepStatus>> = {
  created: ["created", "pending", "failed", "cancelled", "skipped"],
  pending: ["pending", "finished", "failed", "cancelled"],
  finished: ["finished"],
  failed: ["failed"],
  cancelled: ["cancelled"],
  skipped: ["skipped"]
}

// -----------------------------------------------------------------------------
// plans: what the handlers answer, how time goes, what an operator does
// -----------------------------------------------------------------------------

type StartOutcome =
  | { readonly _tag: "Ok"; readonly state: string | null; readonly took: number }
  | { readonly _tag: "Error"; readonly retryIn: number | undefined; readonly took: number }
  | { readonly _tag: "Crash"; readonly took: number }

type WaitKind =
  | { readonly _tag: "Plain" }
  | { readonly _tag: "After"; readonly millis: number }
  | { readonly _tag: "Past"; readonly millis: number }

type ContinueOutcome =
  | { readonly _tag: "Finish"; readonly output: string | null; readonly took: number }
  | { readonly _tag: "Wait"; readonly state: string | null | undefined; readonly kind: WaitKind; readonly took: number }
  | { readonly _tag: "Fail"; readonly reason: string; readonly took: number }
  | { readonly _tag: "Cancel"; readonly reason: string; readonly took: number }
  | { readonly _tag: "Error"; readonly retryIn: number | undefined; readonly took: number }
  | { readonly _tag: "Crash"; readonly took: number }

type Advance =
  | { readonly _tag: "Due" }
  | { readonly _tag: "Early" }
  | { readonly _tag: "By"; readonly millis: number }

/** what an operator does between two ticks; a signal goes to the step at `signal % steps` */
type Operator = "none" | "cancel" | "retry" | { readonly signal: number; readonly payload: number }

interface Between {
  readonly advance: Advance
  readonly operator: Operator
}

interface Plan {
  readonly names: ReadonlyArray<string>
  /** steps without `onStart` (they start with no state, and `onContinue` is called at once) */
  readonly noStart: ReadonlyArray<boolean>
  /** steps without a retry schedule (a failed call fails the step, no `PlanRetry`) */
  readonly noRetry: ReadonlyArray<boolean>
  /** conditional steps (`when`) and what their predicates answer */
  readonly conditions: ReadonlyArray<Condition>
  readonly createdAt: number
  readonly firstWake: number
  readonly waitMillis: number
  readonly starts: ReadonlyArray<StartOutcome>
  readonly continues: ReadonlyArray<ContinueOutcome>
  readonly between: ReadonlyArray<Between>
}

const took = fc.integer({ min: 0, max: 2_000 })
const json = fc.oneof(
  fc.constant(null),
  fc.integer().map((n) => JSON.stringify({ n })),
  fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s))
)
const retryIn = fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined })

interface Weights {
  readonly fail: number
  readonly cancel: number
  readonly error: number
  readonly crash: number
}

const startOutcome = (w: Weights): fc.Arbitrary<StartOutcome> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.record({ _tag: fc.constant("Ok" as const), state: json, took }) },
    { weight: w.error, arbitrary: fc.record({ _tag: fc.constant("Error" as const), retryIn, took }) },
    { weight: w.crash, arbitrary: fc.record({ _tag: fc.constant("Crash" as const), took }) }
  )

const waitKind: fc.Arbitrary<WaitKind> = fc.oneof(
  fc.constant({ _tag: "Plain" as const }),
  fc.record({ _tag: fc.constant("After" as const), millis: fc.integer({ min: 1, max: 120_000 }) }),
  fc.record({ _tag: fc.constant("Past" as const), millis: fc.integer({ min: 1, max: 10_000 }) })
)

const continueOutcome = (w: Weights): fc.Arbitrary<ContinueOutcome> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ _tag: fc.constant("Finish" as const), output: json, took }) },
    {
      weight: 8,
      arbitrary: fc.record({
        _tag: fc.constant("Wait" as const),
        state: fc.option(json, { nil: undefined }),
        kind: waitKind,
        took
      })
    },
    { weight: w.fail, arbitrary: fc.record({ _tag: fc.constant("Fail" as const), reason: fc.string(), took }) },
    { weight: w.cancel, arbitrary: fc.record({ _tag: fc.constant("Cancel" as const), reason: fc.string(), took }) },
    { weight: w.error, arbitrary: fc.record({ _tag: fc.constant("Error" as const), retryIn, took }) },
    { weight: w.crash, arbitrary: fc.record({ _tag: fc.constant("Crash" as const), took }) }
  )

const advance: fc.Arbitrary<Advance> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ _tag: "Due" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Early" as const }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("By" as const), millis: fc.integer({ min: 0, max: 90_000 }) }) }
)

const stepNames = fc.uniqueArray(
  fc.oneof(
    fc.string({ minLength: 1, maxLength: 6 }).filter((s) => s.trim() !== ""),
    fc.constantFrom("Generation", "Transfer", "Notify")
  ),
  { minLength: 1, maxLength: 6 }
)

const plan = (w: Weights, operators: fc.Arbitrary<Operator>): fc.Arbitrary<Plan> =>
  fc.record({
    names: stepNames,
    noStart: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    noRetry: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), {
      minLength: 6,
      maxLength: 6
    }),
    conditions: fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constant<Condition>("none") },
        { weight: 2, arbitrary: fc.constant<Condition>("holds") },
        { weight: 2, arbitrary: fc.constant<Condition>("fails") },
        { weight: 1, arbitrary: fc.constant<Condition>("throws") }
      ),
      { minLength: 6, maxLength: 6 }
    ),
    createdAt: fc.integer({ min: 0, max: 2_000_000_000_000 }),
    firstWake: fc.integer({ min: 0, max: 10_000 }),
    waitMillis: fc.constantFrom(0, 0, 1_000),
    starts: fc.array(startOutcome(w), { maxLength: 12 }),
    continues: fc.array(continueOutcome(w), { maxLength: 30 }),
    between: fc.array(fc.record({ advance, operator: operators }), { maxLength: 40 })
  })

/** what a repository holds after a commit must satisfy */
const checkCommitted = (shape: Shape, records: Records, committedStarts: ReadonlySet<number>): void => {
  const { run, steps } = records
  const statuses = steps.map((s) => s.status)
  expect(pattern(steps)).toMatch(SEQUENTIAL)
  // finished iff all steps finished; a failed step fails the run; a cancelled one cancels it
  expect(run.status === "finished").toBe(statuses.every(passed))
  expect(run.status === "failed").toBe(statuses.includes("failed"))
  expect(run.status === "cancelled").toBe(!statuses.includes("failed") && statuses.includes("cancelled"))
  expect(run.ended_at !== null).toBe(isTerminal(run.status))
  if (run.status === "created") {
    expect(statuses.every((s) => s === "created")).toBe(true)
    expect(run.metadata.current_step).toBeNull()
  }
  if (run.status === "pending") {
    const open = firstOpen(steps)
    expect(open).toBeGreaterThanOrEqual(0)
    // the current step: the open one, or the one that just finished before it (committed before
    // the open one's onStart runs)
    const candidates = [steps[open].name]
    if (steps[open].status === "created" && open > 0) candidates.push(steps[open - 1].name)
    expect(candidates).toContain(run.metadata.current_step)
  }
  if (run.status === "failed") {
    const failed = steps.find((s) => s.status === "failed")!
    expect(run.error).toEqual(failed.error)
    expect(run.error).not.toBeNull()
  }
  if (run.status === "finished") expect(run.error).toBeNull()
  for (const [i, s] of steps.entries()) {
    // a step that was started has started_at; a committed start is remembered
    if (s.status === "pending" || s.status === "finished") {
      expect(s.started_at).not.toBeNull()
      expect(committedStarts.has(i)).toBe(true)
    }
    if (s.status === "created") expect(s.started_at).toBeNull()
    expect(s.ended_at !== null).toBe(isTerminal(s.status))
    expect(s.attempt).toBeGreaterThanOrEqual(1)
  }
  // decide is Done exactly for terminal runs, else never a mismatch for the right shape
  const decision = Interpreter.decide(shape, records, run.wake_at)
  expect(decision._tag === "Done").toBe(isTerminal(run.status))
  expect(decision._tag).not.toBe("Mismatch")
  // Sleep exactly while wake_at is in the future
  if (!isTerminal(run.status)) {
    const early = Interpreter.decide(shape, records, run.wake_at - 1)
    const due = Interpreter.decide(shape, records, run.wake_at)
    const open = firstOpen(steps)
    expect(early).toEqual({ _tag: "Sleep", until: run.wake_at })
    expect(due).toEqual({ _tag: steps[open].status === "created" ? "Start" : "Continue", index: open })
  }
  // a stored step list that does not match the pipeline is a mismatch (unless the run ended)
  const names = shape.steps.map((s) => s.name)
  const renamed = names.map((name, i) => (i === names.length - 1 ? `${name}'` : name))
  const others: ReadonlyArray<ReadonlyArray<string>> = [
    [...names, `${names.join("")}+`],
    names.slice(0, -1),
    renamed,
    names.length > 1 ? [...names].reverse() : [`${names[0]}*`]
  ]
  for (const other of others) {
    const d = Interpreter.decide(shapeOf(other), records, Number.MAX_SAFE_INTEGER)
    expect(d._tag).toBe(isTerminal(run.status) ? "Done" : "Mismatch")
  }
}

// -----------------------------------------------------------------------------
// the driver: the runtime's part, played against the real transition
// -----------------------------------------------------------------------------

interface Stats {
  runs: number
  finished: number
  failed: number
  cancelled: number
  operatorCancels: number
  operatorRetries: number
  retriedToCreated: number
  retriedToPending: number
  handlerRetries: number
  plannedRetries: number
  failuresWithoutSchedule: number
  startsWithoutOnStart: number
  crashes: number
  takeovers: number
  sleeps: number
  releases: number
  restartsAfterCrash: number
  signals: number
  signalsDelivered: number
  signalsRefused: number
  skips: number
  conditionFailures: number
  maxSteps: number
}

const newStats = (): Stats => ({
  runs: 0,
  finished: 0,
  failed: 0,
  cancelled: 0,
  operatorCancels: 0,
  operatorRetries: 0,
  retriedToCreated: 0,
  retriedToPending: 0,
  handlerRetries: 0,
  plannedRetries: 0,
  failuresWithoutSchedule: 0,
  startsWithoutOnStart: 0,
  crashes: 0,
  takeovers: 0,
  sleeps: 0,
  releases: 0,
  restartsAfterCrash: 0,
  signals: 0,
  signalsDelivered: 0,
  signalsRefused: 0,
  skips: 0,
  conditionFailures: 0,
  maxSteps: 0
})

interface Simulation {
  readonly definition: Interpreter.Definition
  readonly conditions: ReadonlyArray<Condition>
  readonly shape: Shape
  /** the records as stored, and the signals stored and not yet handed to a step */
  records: Records
  signals: Array<Run.SignalRecord>
  now: number
  readonly committedStarts: Set<number>
  readonly history: Array<Run.HistoryEvent>
  readonly starts: Array<StartOutcome>
  readonly continues: Array<ContinueOutcome>
  readonly waitMillis: number
  readonly stats: Stats
  crashedLastTick: boolean
  /** the retry delay that the script gave with the failure the driver answered last */
  retryIn: number | undefined
  signalCount: number
}

type Observation =
  | { readonly _tag: "start"; readonly step: number; readonly outcome: StartOutcome | undefined }
  | { readonly _tag: "continue"; readonly step: number; readonly outcome: ContinueOutcome; readonly wakeAt: number }
  | { readonly _tag: "other" }

const produced = (prev: Interpreter.Tick, next: Interpreter.Transition): Array<Run.HistoryEvent> => {
  const committed = next.commands.flatMap((c) => (c._tag === "Commit" ? c.commit.events : []))
  return [...committed, ...next.tick.draft.events].slice(prev.draft.events.length)
}

const withoutStacks = (value: unknown) =>
  JSON.parse(JSON.stringify(value, (key, v) => (key === "pretty" || key === "stack" ? null : v)))

const tags = (t: Interpreter.Transition) => t.commands.map((c) => c._tag)

/**
 * `transition`, with the checks that every transition must pass: pure, the tick given untouched,
 * steps that only move forward, one sequential pipeline, events of this run written now by this
 * worker, and what each observation must do to its step
 */
const step = (
  sim: Simulation,
  prev: Interpreter.Tick,
  event: Interpreter.Event,
  observed: Observation = { _tag: "other" }
): Interpreter.Transition => {
  const now = sim.now
  const frozen = JSON.stringify(prev)
  const next = Interpreter.transition(sim.definition, prev, event, now)
  // pure: the same inputs give the same transition, and the inputs are not touched
  // (but for the stack trace of an error that a predicate throws, which names where it was called)
  expect(withoutStacks(Interpreter.transition(sim.definition, prev, event, now))).toEqual(withoutStacks(next))
  expect(JSON.stringify(prev)).toBe(frozen)

  const events = produced(prev, next)
  for (const e of events) {
    expect(e.run_uuid).toBe(RUN_ID)
    expect(e.at).toBe(now)
    expect(e.worker).toBe(WORKER)
  }
  const a = prev.draft
  const b = next.tick.draft
  expect(b.run.uuid).toBe(a.run.uuid)
  expect(b.run.input).toBe(a.run.input)
  expect(b.run.created_at).toBe(a.run.created_at)
  expect(b.steps.length).toBe(a.steps.length)
  if (event._tag !== "CancelAsked" && event._tag !== "RetryAsked") {
    for (let i = 0; i < a.steps.length; i++) {
      expect(allowed[a.steps[i].status]).toContain(b.steps[i].status)
      if (isTerminal(a.steps[i].status)) expect(b.steps[i]).toEqual(a.steps[i])
      expect([b.steps[i].uuid, b.steps[i].name, b.steps[i].position]).toEqual([
        a.steps[i].uuid,
        a.steps[i].name,
        a.steps[i].position
      ])
    }
  }
  expect(pattern(b.steps)).toMatch(SEQUENTIAL)
  // a sequence of steps: at most one handler call in flight, and at most one call asked for
  expect(next.tick.calls.length).toBeLessThanOrEqual(1)
  expect(next.commands.filter((c) => c._tag === "Call").length).toBeLessThanOrEqual(1)
  // nothing follows the end
  const end = next.commands.findIndex((c) => c._tag === "Done" || c._tag === "Reject")
  if (end >= 0) {
    expect(end).toBe(next.commands.length - 1)
    expect(next.tick.stage).toBe("done")
  }
  if (next.tick.stage === "done") expect(end).toBeGreaterThanOrEqual(0)
  const types = events.map((e) => e.type)
  // a run event (the end of the run) comes last, and only once
  const runEvents = events.filter((e) => e.step === null && e.type !== "lease_lost")
  expect(runEvents.length).toBeLessThanOrEqual(1)
  if (runEvents.length === 1) expect(events[events.length - 1]).toBe(runEvents[0])

  switch (event._tag) {
    case "Committed":
      expect(events).toEqual([])
      expect(b.steps).toBe(a.steps)
      break
    case "Returned":
    case "Failed":
    case "RetryPlanned": {
      const i = event.step
      const before = a.steps[i]
      const after = b.steps[i]
      if (observed._tag === "start") {
        expect(before.status).toBe("created")
        const o = observed.outcome
        if (o === undefined || o._tag === "Ok") {
          // started, and onContinue is asked for at once, in the same tick
          expect(after.status).toBe("pending")
          expect(after.started_at).toBe(now)
          expect(after.attempt).toBe(1)
          expect(after.error).toBeNull()
          expect(after.state).toBe(o === undefined ? null : o.state)
          expect(types).toEqual(["started"])
          expect(tags(next)).toEqual(["Call"])
          const call = next.commands[0] as Extract<Interpreter.Command, { _tag: "Call" }>
          expect([call.step, call.handler]).toEqual([i, "onContinue"])
        }
      }
      if (observed._tag === "continue" && event._tag === "Returned") {
        expect(before.status).toBe("pending")
        const continuations = typeof before.metadata.continuations === "number" ? before.metadata.continuations : 0
        expect(after.metadata.continuations).toBe(continuations + 1)
        expect(after.started_at).toBe(before.started_at)
        const o = observed.outcome
        switch (o._tag) {
          case "Finish":
            expect(after.status).toBe("finished")
            expect(after.output).toBe(o.output)
            expect(after.state).toBe(before.state)
            expect(after.attempt).toBe(1)
            expect(types.slice(0, 2)).toEqual(["continued", "finished"])
            break
          case "Wait":
            expect(after.status).toBe("pending")
            // a step without a state schema stores none
            expect(after.state).toBe(
              sim.definition.steps[i].step.state === undefined ? null : o.state === undefined ? before.state : o.state
            )
            expect(after.attempt).toBe(1)
            expect(after.error).toBeNull()
            expect(b.run.wake_at).toBe(observed.wakeAt)
            expect(types).toEqual(["continued", "waited"])
            // a wait ends the tick: its last commit releases the lease
            expect(next.commands).toMatchObject([{ _tag: "Commit", lease: "release" }])
            break
          case "Fail":
            expect(after.status).toBe("failed")
            expect(after.error?.message).toBe(o.reason)
            expect(types).toEqual(["continued", "failed", "failed"])
            break
          case "Cancel":
            expect(after.status).toBe("cancelled")
            expect(after.error?.message).toBe(o.reason)
            expect(types).toEqual(["continued", "cancelled", "cancelled"])
            break
        }
      }
      if (event._tag === "Failed") {
        if (sim.definition.steps[i].step.retry === undefined) {
          sim.stats.failuresWithoutSchedule++
          expect(after.status).toBe("failed")
          expect(types).toEqual(["failed", "failed"])
        } else {
          // the retry is planned with the step's schedule, for this attempt, from now
          expect(events).toEqual([])
          expect(next.commands).toEqual([{
            _tag: "PlanRetry",
            step: i,
            handler: event.handler,
            attempt: before.attempt,
            cause: event.cause,
            now
          }])
        }
      }
      if (event._tag === "RetryPlanned") {
        expect(after.error?.message).toBe(`${event.handler} failed`)
        expect(after.state).toBe(before.state)
        if (event.at !== undefined) {
          // a durable retry: same status, one more attempt, the run sleeps until then
          expect(after.status).toBe(before.status)
          expect(after.attempt).toBe(before.attempt + 1)
          expect(b.run.wake_at).toBe(event.at)
          expect(b.run.status).toBe("pending")
          expect(types).toEqual(["retried"])
          expect(next.commands).toMatchObject([{ _tag: "Commit", lease: "release" }])
        } else {
          expect(after.status).toBe("failed")
          expect(after.attempt).toBe(before.attempt)
          expect(types).toEqual(["failed", "failed"])
        }
      }
      break
    }
  }
  return next
}

/** write a commit as a repository does: guarded by its revision, the run, the steps it lists */
const commit = (sim: Simulation, command: Extract<Interpreter.Command, { _tag: "Commit" }>): Run.Commit => {
  const c = command.commit
  const stored = sim.records
  expect(c.expectedRevision).toBe(stored.run.revision)
  expect(c.run.revision).toBe(stored.run.revision + 1)
  expect(c.previous).toEqual(stored.run)
  const run: Run.RunRecord = command.lease === "keep" ? c.run : {
    ...c.run,
    lease_owner: command.lease === "release" ? null : WORKER,
    lease_expires_at: command.lease === "release" ? null : sim.now + 30_000
  }
  const steps = stored.steps.slice()
  for (const s of c.steps) steps[s.position] = s
  for (const e of c.events) {
    if (e.type === "started" && e.step !== null) sim.committedStarts.add(sim.shape.steps.findIndex((s) => s.name === e.step))
  }
  for (const id of c.consumedSignals) {
    const at = sim.signals.findIndex((s) => s.id === id)
    expect(at).toBeGreaterThanOrEqual(0)
    sim.signals.splice(at, 1)
    sim.stats.signalsDelivered++
  }
  // no signal arrives during a tick here: the drafted count is the stored one
  expect(run.pending_signals).toBe(stored.run.pending_signals)
  sim.records = { run: { ...run, pending_signals: stored.run.pending_signals - c.consumedSignals.length }, steps }
  for (const e of c.events) {
    const i = sim.shape.steps.findIndex((s) => s.name === e.step)
    if (e.type === "skipped") {
      // only a conditional step whose predicate does not hold is skipped, once, before it starts
      expect(sim.conditions[i]).toBe("fails")
      expect(steps[i]).toMatchObject({ status: "skipped", started_at: null })
      sim.stats.skips++
    }
    if (e.type === "failed" && (e.data as { handler?: string } | null)?.handler === "when") {
      expect(sim.conditions[i]).toBe("throws")
      expect(steps[i]).toMatchObject({ status: "failed", started_at: null, error: { message: "no rule" } })
      sim.stats.conditionFailures++
    }
  }
  sim.history.push(...c.events)
  checkCommitted(sim.shape, sim.records, sim.committedStarts)
  return { ...c, run }
}

const startValue = (o: StartOutcome & { _tag: "Ok" }) => (o.state === null ? undefined : JSON.parse(o.state))

const continueValue = (sim: Simulation, o: ContinueOutcome): { readonly value: unknown; readonly wakeAt: number } => {
  switch (o._tag) {
    case "Finish":
      return { value: Step.finish(o.output === null ? undefined : JSON.parse(o.output)), wakeAt: 0 }
    case "Wait": {
      const state = o.state === undefined ? {} : { state: o.state === null ? undefined : JSON.parse(o.state) }
      switch (o.kind._tag) {
        case "Plain":
          return { value: Step.wait(state), wakeAt: sim.now + sim.waitMillis }
        case "After":
          return { value: Step.wait({ ...state, after: o.kind.millis }), wakeAt: sim.now + o.kind.millis }
        case "Past":
          return { value: Step.wait({ ...state, until: new Date(sim.now - o.kind.millis) }), wakeAt: sim.now - o.kind.millis }
      }
    }
    // falls through: every kind returns
    case "Fail":
      return { value: Step.fail(o.reason), wakeAt: 0 }
    case "Cancel":
      return { value: Step.cancel(o.reason), wakeAt: 0 }
    default:
      throw new Error(`not an answer: ${o._tag}`)
  }
}

/** one tick; a take-over of a crashed worker's lease is recorded with the tick's first write */
const tick = (sim: Simulation): void => {
  const tookOver = sim.crashedLastTick
  const written = sim.history.length
  const terminal = isTerminal(sim.records.run.status)
  tickBody(sim, tookOver)
  const mine = sim.history.slice(written)
  expect(mine.filter((e) => e.type === "lease_lost").length).toBe(tookOver && !terminal && mine.length > 0 ? 1 : 0)
  if (tookOver && mine.length > 0 && !terminal) {
    expect(mine[0]).toMatchObject({ type: "lease_lost", step: null, data: { previousOwner: OTHER } })
  }
}

/** one tick, as the runtime carries it out; returns early where the worker "crashes" */
const tickBody = (sim: Simulation, tookOver: boolean): void => {
  const stored = sim.records
  sim.crashedLastTick = false
  if (tookOver) sim.stats.takeovers++
  let t = step(sim, Interpreter.load({ ...stored, signals: sim.signals.slice() }, WORKER), {
    _tag: "Claimed",
    previousOwner: tookOver ? OTHER : null,
    waitMillis: sim.waitMillis
  })
  const queue = t.commands.slice()
  let committedThisTick = false
  while (true) {
    const command = queue.shift()!
    expect(command).toBeDefined()
    let event: Interpreter.Event
    let observed: Observation = { _tag: "other" }
    switch (command!._tag) {
      case "Done":
        expect(queue).toEqual([])
        expect(command.status).toBe(sim.records.run.status)
        // everything the tick did is stored
        expect(sim.records.steps).toEqual(t.tick.draft.steps)
        if (isTerminal(stored.run.status)) expect(sim.records).toBe(stored)
        return
      case "Reject":
        throw new Error(`the tick was refused: ${command.error.message}`)
      case "Release":
        // nothing changed: the lease is handed back without a write
        expect(committedThisTick).toBe(false)
        expect(sim.records).toBe(stored)
        if (!isTerminal(stored.run.status)) {
          expect(stored.run.wake_at).toBeGreaterThan(sim.now)
          sim.stats.sleeps++
        }
        sim.stats.releases++
        continue
      case "Wake":
        expect(command.at).toBe(sim.records.run.wake_at)
        expect(isTerminal(sim.records.run.status)).toBe(false)
        continue
      case "Signal":
        throw new Error("a tick stores no signal")
      case "Interrupt":
        throw new Error("a sequence of steps has no calls to interrupt")
      case "Commit":
        committedThisTick = true
        event = { _tag: "Committed", commit: commit(sim, command) }
        break
      case "PlanRetry": {
        expect(sim.definition.steps[command.step].step.retry).toBeDefined()
        expect(command.attempt).toBe(t.tick.draft.steps[command.step].attempt)
        const at = sim.retryIn === undefined ? undefined : command.now + sim.retryIn
        if (at !== undefined) sim.stats.handlerRetries++
        sim.stats.plannedRetries++
        event = { _tag: "RetryPlanned", step: command.step, handler: command.handler, at, cause: command.cause }
        break
      }
      case "Call": {
        const i = command.step
        const record = t.tick.draft.steps[i]
        const ctx = command.context
        // a step whose predicate does not hold never runs
        if (record.status === "created") expect(["none", "holds"]).toContain(sim.conditions[i] ?? "none")
        expect([ctx.runId, ctx.stepRunId, ctx.step, ctx.attempt]).toEqual([RUN_ID, record.uuid, record.name, record.attempt])
        expect(ctx.input).toEqual({ n: 1 })
        // every step before it has finished
        for (let j = 0; j < i; j++) expect(passed(t.tick.draft.steps[j].status)).toBe(true)
        if (command.handler === "onStart") {
          expect(record.status).toBe("created")
          // once a step's start is committed, it is never started again
          expect(sim.committedStarts.has(i)).toBe(false)
          // what earlier steps did is committed before a step's handlers run
          expect(Interpreter.hasChanges(t.tick.draft)).toBe(false)
          expect(sim.records.steps).toEqual(t.tick.draft.steps)
          const o = sim.starts.shift() ?? { _tag: "Ok" as const, state: null, took: 0 }
          sim.now += o.took
          if (o._tag === "Crash") {
            sim.stats.crashes++
            sim.crashedLastTick = true
            return
          }
          observed = { _tag: "start", step: i, outcome: o }
          if (o._tag === "Ok") {
            event = { _tag: "Returned", step: i, handler: "onStart", value: startValue(o) }
          } else {
            sim.retryIn = o.retryIn
            event = { _tag: "Failed", step: i, handler: "onStart", cause: Cause.fail(new Error("onStart failed")) }
          }
        } else {
          expect(record.status).toBe("pending")
          // a step without onStart is started (with no state) and continued at once
          if (sim.definition.steps[i].step.onStart === undefined && !sim.committedStarts.has(i)) {
            expect(record.state).toBeNull()
            sim.stats.startsWithoutOnStart++
          }
          const c = ctx as Step.ContinueContext<unknown, {}, unknown, unknown>
          expect(c.state).toEqual(record.state === null ? undefined : JSON.parse(record.state))
          expect(c.continuations).toBe(typeof record.metadata.continuations === "number" ? record.metadata.continuations : 0)
          // the signals stored for this step, in order, are handed to it
          const mine = t.tick.signals.filter((s) => s.step === record.name)
          expect(c.signals).toEqual(mine.map((s) => JSON.parse(s.payload)))
          if (record.started_at === null || !sim.committedStarts.has(i)) {
            // right after onStart, in the same tick: only that start is not committed yet
            expect(t.tick.draft.changed).toEqual([i])
          }
          const o = sim.continues.shift() ?? { _tag: "Finish" as const, output: null, took: 0 }
          sim.now += o.took
          if (o._tag === "Crash") {
            sim.stats.crashes++
            sim.crashedLastTick = true
            return
          }
          if (o._tag === "Error") {
            sim.retryIn = o.retryIn
            event = { _tag: "Failed", step: i, handler: "onContinue", cause: Cause.fail(new Error("onContinue failed")) }
          } else {
            const { value, wakeAt } = continueValue(sim, o)
            observed = { _tag: "continue", step: i, outcome: o, wakeAt }
            event = { _tag: "Returned", step: i, handler: "onContinue", value }
          }
        }
        break
      }
    }
    t = step(sim, t.tick, event, observed)
    for (const c of t.commands) queue.push(c)
  }
}

/** an operator's request on the stored run, carried out as the runtime does */
const operate = (sim: Simulation, request: Interpreter.Event): Interpreter.Transition => {
  let t = step(sim, Interpreter.load({ ...sim.records, signals: sim.signals.slice() }, WORKER), request)
  const first = t.commands[0]
  if (first._tag === "Commit") {
    expect(first.lease).toBe("keep")
    expect(tags(t)).toEqual(["Commit"])
    t = step(sim, t.tick, { _tag: "Committed", commit: commit(sim, first) })
  }
  return t
}

/** an operator retries a failed run: checked on its own, it may send a step back to `created` */
const operatorRetry = (sim: Simulation): void => {
  const before = sim.records
  const index = before.steps.findIndex((s) => s.status === "failed")
  const now = sim.now
  const t = operate(sim, { _tag: "RetryAsked" })
  if (before.run.status !== "failed") {
    expect(t.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "InvalidOperation", operation: "retry" } }])
    expect(sim.records).toBe(before)
    return
  }
  // the run is due at once: the workers are woken
  expect(t.commands).toEqual([{ _tag: "Wake", at: now }, { _tag: "Done", status: "pending", ranHandlers: false }])
  const after = sim.records
  const failed = before.steps[index]
  const resumed = after.steps[index]
  // the failed step resumes: pending when its onStart had completed, else created again
  expect(resumed.status).toBe(failed.started_at === null ? "created" : "pending")
  if (resumed.status === "created") {
    sim.stats.retriedToCreated++
    // it never had a committed start, so starting it again is not a second start
    expect(sim.committedStarts.has(index)).toBe(false)
  } else {
    sim.stats.retriedToPending++
  }
  expect(resumed).toMatchObject({ attempt: 1, error: null, ended_at: null, state: failed.state, started_at: failed.started_at })
  expect([resumed.uuid, resumed.name]).toEqual([failed.uuid, failed.name])
  // earlier finished steps stay finished, with their outputs; later steps stay created
  for (let i = 0; i < index; i++) expect(after.steps[i]).toEqual(before.steps[i])
  for (let i = index + 1; i < after.steps.length; i++) {
    expect(after.steps[i]).toEqual(before.steps[i])
    expect(after.steps[i].status).toBe("created")
  }
  expect(after.run).toMatchObject({ status: "pending", error: null, ended_at: null, wake_at: now })
  expect(after.run.metadata.current_step).toBe(failed.name)
  const events = sim.history.slice(-1)
  expect(events[0]).toMatchObject({ type: "retried", run_uuid: RUN_ID, at: now, step: failed.name, data: { manual: true } })
  // and the next decision resumes that step
  expect(Interpreter.decide(sim.shape, after, now)).toEqual({ _tag: resumed.status === "created" ? "Start" : "Continue", index })
  sim.stats.operatorRetries++
}

const operatorCancel = (sim: Simulation): void => {
  const before = sim.records
  const t = operate(sim, { _tag: "CancelAsked", reason: "stopped by an operator" })
  if (isTerminal(before.run.status)) {
    expect(t.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "InvalidOperation", operation: "cancel" } }])
    expect(sim.records).toBe(before)
    return
  }
  expect(t.commands).toEqual([{ _tag: "Done", status: "cancelled", ranHandlers: false }])
  const open = firstOpen(before.steps)
  const after = sim.records
  expect(after.run).toMatchObject({ status: "cancelled", ended_at: sim.now, lease_owner: null })
  expect(after.run.error?.message).toBe("stopped by an operator")
  expect(after.steps[open].status).toBe("cancelled")
  // later steps stay created
  for (let i = open + 1; i < after.steps.length; i++) expect(after.steps[i].status).toBe("created")
  expect(sim.history.slice(-2).map((e) => `${e.type}:${e.step}`)).toEqual([`cancelled:${after.steps[open].name}`, "cancelled:null"])
  expect(Interpreter.decide(sim.shape, after, sim.now)).toEqual({ _tag: "Done" })
  sim.stats.operatorCancels++
}

/** a signal for a step: stored with its event, due at once when it is for the current step */
const operatorSignal = (sim: Simulation, target: number, payload: number): void => {
  const before = sim.records
  const index = target % before.steps.length
  const name = before.steps[index].name
  const id = `signal-${++sim.signalCount}`
  const t = operate(sim, { _tag: "SignalAsked", step: name, payload: { n: payload }, id })
  if (isTerminal(before.steps[index].status)) {
    expect(t.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "InvalidOperation", operation: "signal" } }])
    sim.stats.signalsRefused++
    return
  }
  const current = before.steps.findIndex((s) => !isTerminal(s.status))
  expect(t.commands).toEqual([
    {
      _tag: "Signal",
      signal: { id, run_uuid: RUN_ID, step: name, payload: JSON.stringify({ n: payload }), created_at: sim.now },
      event: {
        run_uuid: RUN_ID,
        at: sim.now,
        type: "signalled",
        step: name,
        attempt: before.steps[index].attempt,
        worker: WORKER,
        data: { signal: id, payload: { n: payload } }
      },
      due: index === current
    },
    { _tag: "Wake", at: sim.now },
    { _tag: "Done", status: before.run.status, ranHandlers: false }
  ])
  // stored as a repository does: one more pending signal; one for the current step makes the run due
  const signal = (t.commands[0] as Extract<Interpreter.Command, { _tag: "Signal" }>).signal
  sim.signals.push(signal)
  sim.history.push((t.commands[0] as Extract<Interpreter.Command, { _tag: "Signal" }>).event)
  sim.records = {
    run: {
      ...before.run,
      revision: before.run.revision + 1,
      pending_signals: before.run.pending_signals + 1,
      wake_at: index === current ? Math.min(before.run.wake_at, sim.now) : before.run.wake_at
    },
    steps: before.steps
  }
  sim.stats.signals++
}

const advanceTime = (sim: Simulation, a: Advance): void => {
  const wake = sim.records.run.wake_at
  switch (a._tag) {
    case "Due":
      sim.now = Math.max(sim.now, wake)
      break
    case "Early":
      sim.now = Math.max(sim.now, wake - 1)
      break
    case "By":
      sim.now += a.millis
      break
  }
}

const simulate = (p: Plan, stats: Stats): Simulation => {
  const definition = definitionOf(p.names, p.noStart, p.noRetry, p.conditions)
  const sim: Simulation = {
    definition,
    conditions: p.conditions,
    shape: shapeOf(p.names),
    records: initialRecords(definition, p.createdAt, p.createdAt + p.firstWake),
    signals: [],
    now: p.createdAt,
    committedStarts: new Set(),
    history: [],
    starts: [...p.starts],
    continues: [...p.continues],
    waitMillis: p.waitMillis,
    stats,
    crashedLastTick: false,
    retryIn: undefined,
    signalCount: 0
  }
  checkCommitted(sim.shape, sim.records, sim.committedStarts)
  stats.runs++
  stats.maxSteps = Math.max(stats.maxSteps, p.names.length)
  // the run's first tick at creation (`start`): it may find the run not due yet
  tick(sim)
  const between = [...p.between]
  for (let round = 0; round < 1_000; round++) {
    const terminal = isTerminal(sim.records.run.status)
    const next = between.shift()
    if (next === undefined && terminal) break
    const { advance: a, operator } = next ?? { advance: { _tag: "Due" } as const, operator: "none" as const }
    if (operator === "cancel") {
      operatorCancel(sim)
      continue
    }
    if (operator === "retry") {
      operatorRetry(sim)
      continue
    }
    if (typeof operator === "object") {
      operatorSignal(sim, operator.signal, operator.payload)
      continue
    }
    const crashed = sim.crashedLastTick
    advanceTime(sim, a)
    const before = sim.records
    const eventsBefore = sim.history.length
    tick(sim)
    if (crashed && !sim.crashedLastTick) sim.stats.restartsAfterCrash++
    if (terminal) {
      // a terminal run never changes again
      expect(sim.records).toBe(before)
      expect(sim.history.length).toBe(eventsBefore)
    }
  }
  // every run ends once the handlers stop failing and time goes on
  expect(isTerminal(sim.records.run.status)).toBe(true)
  const status = sim.records.run.status as Run.TerminalStatus
  stats[status]++
  // a terminal run stays Done at any time
  for (const t of [sim.now, sim.now + 1, sim.records.run.wake_at + 10 ** 9]) {
    expect(Interpreter.decide(sim.shape, sim.records, t)).toEqual({ _tag: "Done" })
  }
  // the history tells the story: the run's end last, every event of this run
  const runEvents = sim.history.filter((e) => e.step === null && e.type !== "lease_lost")
  expect(runEvents[runEvents.length - 1].type).toBe(status)
  for (const e of sim.history) expect(e.run_uuid).toBe(RUN_ID)
  return sim
}

// -----------------------------------------------------------------------------
// properties
// -----------------------------------------------------------------------------

const RUNS = 400

const rarely = <A>(value: A, weight = 1) => ({ weight, arbitrary: fc.constant(value) })

describe("Interpreter.transition (properties)", () => {
  it("random pipelines and handler outcomes keep the run's invariants", () => {
    const stats = newStats()
    fc.assert(
      fc.property(
        plan(
          { fail: 1, cancel: 1, error: 2, crash: 1 },
          fc.oneof(
            rarely("none" as Operator, 30),
            rarely("cancel" as Operator),
            {
              weight: 3,
              arbitrary: fc.record({ signal: fc.nat(), payload: fc.integer() })
            }
          )
        ),
        (p) => {
          simulate(p, stats)
        }
      ),
      { numRuns: RUNS }
    )
    // the generators reach every kind of ending and event (so the checks above are not vacuous)
    expect(stats.runs).toBeGreaterThanOrEqual(RUNS)
    expect(stats.finished).toBeGreaterThan(0)
    expect(stats.failed).toBeGreaterThan(0)
    expect(stats.cancelled).toBeGreaterThan(0)
    expect(stats.operatorCancels).toBeGreaterThan(0)
    expect(stats.handlerRetries).toBeGreaterThan(0)
    expect(stats.plannedRetries).toBeGreaterThan(stats.handlerRetries)
    expect(stats.failuresWithoutSchedule).toBeGreaterThan(0)
    expect(stats.startsWithoutOnStart).toBeGreaterThan(0)
    expect(stats.crashes).toBeGreaterThan(0)
    expect(stats.takeovers).toBeGreaterThan(0)
    expect(stats.restartsAfterCrash).toBeGreaterThan(0)
    expect(stats.sleeps).toBeGreaterThan(0)
    expect(stats.signals).toBeGreaterThan(0)
    expect(stats.signalsDelivered).toBeGreaterThan(0)
    expect(stats.signalsRefused).toBeGreaterThan(0)
    expect(stats.skips).toBeGreaterThan(0)
    expect(stats.conditionFailures).toBeGreaterThan(0)
    expect(stats.maxSteps).toBe(6)
  })

  it("an operator's retry resumes a failed run from its failed step, with its attempts reset", () => {
    const stats = newStats()
    fc.assert(
      fc.property(
        plan(
          { fail: 4, cancel: 0, error: 4, crash: 1 },
          fc.oneof(rarely("none" as Operator, 3), rarely("retry" as Operator, 2))
        ),
        (p) => {
          simulate(p, stats)
        }
      ),
      { numRuns: RUNS }
    )
    expect(stats.operatorRetries).toBeGreaterThan(0)
    expect(stats.retriedToCreated).toBeGreaterThan(0)
    expect(stats.retriedToPending).toBeGreaterThan(0)
    expect(stats.finished).toBeGreaterThan(0)
  })

  it("decide is pure and sleeps exactly while wake_at is in the future", () => {
    fc.assert(
      fc.property(
        stepNames,
        fc.integer({ min: 0, max: 10 ** 12 }),
        fc.integer({ min: -5_000, max: 5_000 }),
        (names, wakeAt, offset) => {
          const records = recordsOf(names, 0, wakeAt)
          const now = wakeAt + offset
          const first = Interpreter.decide(shapeOf(names), records, now)
          expect(Interpreter.decide(shapeOf(names), structuredClone(records), now)).toEqual(first)
          expect(first).toEqual(offset < 0 ? { _tag: "Sleep", until: wakeAt } : { _tag: "Start", index: 0 })
        }
      ),
      { numRuns: 200 }
    )
  })

  it("decide reports a mismatch when the stored steps do not match the pipeline", () => {
    fc.assert(
      fc.property(stepNames, fc.nat(), fc.constantFrom("add", "remove", "rename"), (names, at, change) => {
        const records = recordsOf(names, 0, 0)
        const i = at % names.length
        const other = change === "add"
          ? [...names.slice(0, i), `${names.join("|")}#new`, ...names.slice(i)]
          : change === "remove"
          ? names.filter((_, j) => j !== i)
          : names.map((n, j) => (j === i ? `${n}#renamed` : n))
        const decision = Interpreter.decide(shapeOf(other), records, 0)
        expect(decision._tag).toBe("Mismatch")
        // the same records with the right shape are fine
        expect(Interpreter.decide(shapeOf(names), records, 0)).toEqual({ _tag: "Start", index: 0 })
      }),
      { numRuns: 200 }
    )
  })
})

describe("Interpreter (examples)", () => {
  const names = ["A", "B", "C"]
  const shape = shapeOf(names)
  const fresh = () => Interpreter.draft(recordsOf(names, 1_000, 1_000))

  it("a happy run: each step starts, continues and finishes, then the run finishes", () => {
    let d = fresh()
    const decisions: Array<string> = []
    for (let now = 1_000; !isTerminal(d.run.status); now++) {
      const decision = Interpreter.decide(shape, d, now)
      decisions.push(`${decision._tag}${"index" in decision ? decision.index : ""}`)
      if (decision._tag === "Finalize") d = Interpreter.finalize(d, decision.status, decision.index, actorAt(now))
      else if (decision._tag === "Start") d = Interpreter.started(d, decision.index, null, actorAt(now))
      else if (decision._tag === "Continue") {
        d = Interpreter.continued(d, decision.index, { _tag: "Finish", output: `"${decision.index}"` }, actorAt(now))
      } else throw new Error(`unexpected ${decision._tag}`)
    }
    expect(decisions).toEqual(["Start0", "Continue0", "Start1", "Continue1", "Start2", "Continue2", "Finalize2"])
    expect(d.run.status).toBe("finished")
    expect(d.steps.map((s) => s.output)).toEqual(["\"0\"", "\"1\"", "\"2\""])
    expect(d.changed).toEqual([0, 1, 2])
    expect(d.events.map((e) => e.type)).toEqual([
      "started",
      "continued",
      "finished",
      "started",
      "continued",
      "finished",
      "started",
      "continued",
      "finished",
      "finished"
    ])
  })

  it("finalize copies the failed step's error to the run", () => {
    let d = Interpreter.started(fresh(), 0, null, actorAt(1_000))
    d = Interpreter.continued(d, 0, { _tag: "Finish", output: null }, actorAt(1_001))
    d = Interpreter.started(d, 1, "{}", actorAt(1_002))
    const error = errorInfo("the transfer broke")
    d = Interpreter.handlerFailed(d, 1, "onContinue", error, undefined, actorAt(1_003))
    expect(d.run.error).toBeNull()
    const decision = Interpreter.decide(shape, d, 1_004)
    expect(decision).toEqual({ _tag: "Finalize", status: "failed", index: 1 })
    const ended = Interpreter.finalize(d, "failed", 1, actorAt(1_004))
    expect(ended.run.status).toBe("failed")
    expect(ended.run.error).toEqual(error)
    expect(ended.run.metadata.current_step).toBe("B")
    expect(ended.run.ended_at).toBe(1_004)
    expect(ended.steps[2].status).toBe("created")
    expect(Interpreter.decide(shape, ended, 10 ** 9)).toEqual({ _tag: "Done" })
  })

  it("a cancelled step cancels the run, with the step's reason", () => {
    let d = Interpreter.started(fresh(), 0, null, actorAt(1_000))
    d = Interpreter.continued(d, 0, { _tag: "Cancel", reason: "no longer needed" }, actorAt(1_001))
    expect(Interpreter.decide(shape, d, 1_002)).toEqual({ _tag: "Finalize", status: "cancelled", index: 0 })
    const ended = Interpreter.finalize(d, "cancelled", 0, actorAt(1_002))
    expect(ended.run.status).toBe("cancelled")
    expect(ended.run.error?.message).toBe("no longer needed")
    expect(ended.steps.map((s) => s.status)).toEqual(["cancelled", "created", "created"])
  })

  it("a durable retry of onStart keeps the step created and sleeps until the retry time", () => {
    const d = Interpreter.handlerFailed(fresh(), 0, "onStart", errorInfo("boom"), 5_000, actorAt(1_000))
    expect(d.steps[0].status).toBe("created")
    expect(d.steps[0].attempt).toBe(2)
    expect(Interpreter.decide(shape, d, 4_999)).toEqual({ _tag: "Sleep", until: 5_000 })
    expect(Interpreter.decide(shape, d, 5_000)).toEqual({ _tag: "Start", index: 0 })
  })

  it("the mismatch detail says what differs", () => {
    const records = recordsOf(names, 0, 0)
    const fewer = Interpreter.decide(shapeOf(["A", "B"]), records, 0)
    expect(fewer._tag === "Mismatch" && fewer.detail).toContain("3 steps stored")
    const renamed = Interpreter.decide(shapeOf(["A", "X", "C"]), records, 0)
    expect(renamed._tag === "Mismatch" && renamed.detail).toContain("\"X\"")
  })

  it("retryRun after an onStart failure sends the step back to created, and it starts again", () => {
    let d = Interpreter.started(fresh(), 0, null, actorAt(1_000))
    d = Interpreter.continued(d, 0, { _tag: "Finish", output: "1" }, actorAt(1_001))
    d = Interpreter.handlerFailed(d, 1, "onStart", errorInfo("a"), 2_000, actorAt(1_002))
    d = Interpreter.handlerFailed(d, 1, "onStart", errorInfo("b"), undefined, actorAt(2_000))
    d = Interpreter.finalize(d, "failed", 1, actorAt(2_000))
    expect(d.steps[1].attempt).toBe(2)
    const retried = Interpreter.retryRun(d, actorAt(3_000))
    expect(retried.steps[1]).toMatchObject({ status: "created", attempt: 1, error: null, started_at: null })
    expect(retried.steps[0]).toEqual(d.steps[0])
    expect(Interpreter.decide(shape, retried, 3_000)).toEqual({ _tag: "Start", index: 1 })
  })
})

describe("Interpreter.transition (examples)", () => {
  const names = ["A", "B"]
  const definition = definitionOf(names, [], [])
  const claimed = { _tag: "Claimed", previousOwner: null, waitMillis: 0 } as const
  const loaded = (records: Records) => Interpreter.load({ ...records, signals: [] }, WORKER)

  it("a claimed run starts its first step: onStart is asked for, nothing written before", () => {
    const t = Interpreter.transition(definition, loaded(recordsOf(names, 1_000, 1_000)), claimed, 1_000)
    expect(t.commands).toMatchObject([{ _tag: "Call", step: 0, handler: "onStart", context: { step: "A", attempt: 1 } }])
    expect(t.tick.stage).toBe("running")
    expect(t.tick.calls).toEqual([{ step: 0, handler: "onStart", delivered: [] }])
  })

  it("a run not due yet: the lease is handed back without a write", () => {
    const t = Interpreter.transition(definition, loaded(recordsOf(names, 1_000, 5_000)), claimed, 1_000)
    expect(t.commands).toEqual([{ _tag: "Release" }, { _tag: "Done", status: "created", ranHandlers: false }])
  })

  it("a stored step list that no longer matches, or an input that no longer decodes, is refused before anything runs", () => {
    const other = recordsOf(["A", "C"], 1_000, 1_000)
    const mismatch = Interpreter.transition(definition, loaded(other), claimed, 1_000)
    expect(mismatch.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "DecodeError", what: "step list" } }])
    const records = recordsOf(names, 1_000, 1_000)
    const corrupt = { ...records, run: { ...records.run, input: "{\"n\":\"one\"}" } }
    const bad = Interpreter.transition(definition, loaded(corrupt), claimed, 1_000)
    expect(bad.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "DecodeError", what: "pipeline input" } }])
  })

  it("a state that no longer decodes is refused without writing what came before (not even a take-over)", () => {
    const records = recordsOf(names, 1_000, 1_000)
    const steps = records.steps.map((s, i) => (i === 0 ? { ...s, status: "pending" as const, started_at: 1_000, state: "{not json" } : s))
    const t = Interpreter.transition(definition, loaded({ run: { ...records.run, status: "pending" }, steps }), {
      ...claimed,
      previousOwner: OTHER
    }, 2_000)
    expect(t.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "DecodeError", what: "state of step \"A\"" } }])
  })

  it("a lost lease ends the tick without a write: LeaseLost, or the run cancelled when a cancel here took it", () => {
    const start = Interpreter.transition(definition, loaded(recordsOf(names, 1_000, 1_000)), claimed, 1_000)
    const lost = Interpreter.transition(definition, start.tick, { _tag: "LeaseLost", cancelled: false, inFlight: true }, 1_001)
    expect(lost.commands).toMatchObject([{ _tag: "Reject", error: { _tag: "LeaseLost", owner: WORKER } }])
    const cancelled = Interpreter.transition(definition, start.tick, { _tag: "LeaseLost", cancelled: true, inFlight: true }, 1_001)
    expect(cancelled.commands).toEqual([{ _tag: "Done", status: "cancelled", ranHandlers: true }])
    // and nothing after the end
    expect(Interpreter.transition(definition, cancelled.tick, { _tag: "Committed", commit: {} as Run.Commit }, 1_002).commands)
      .toEqual([])
  })

  it("a signal for a step that does not exist, or one without a signal schema, is refused", () => {
    const plain = Interpreter.define(
      Pipeline.make("Plain", stepOf("A"))
    )
    const records = Interpreter.initial(plain, { input: undefined, wakeAt: 0, worker: WORKER, leaseExpiresAt: null }, 0, {
      run: RUN_ID,
      steps: ["s0"]
    })
    if (records._tag === "Left") throw records.left
    const tick = Interpreter.load(records.right.snapshot, WORKER)
    const ask = (step: string) => Interpreter.transition(plain, tick, { _tag: "SignalAsked", step, payload: 1, id: "x" }, 0)
    expect(ask("Z").commands).toMatchObject([{ _tag: "Reject", error: { _tag: "InvalidOperation", operation: "signal" } }])
    expect((ask("A").commands[0] as any).error.detail).toContain("declares no signal schema")
  })

  it("initial refuses an input that does not encode", () => {
    const made = Interpreter.initial(definition, { input: { n: "one" }, wakeAt: 0, worker: WORKER, leaseExpiresAt: null }, 0, {
      run: RUN_ID,
      steps: ["s0", "s1"]
    })
    expect(made._tag === "Left" && made.left._tag).toBe("EncodeError")
  })
})
