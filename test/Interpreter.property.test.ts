/**
 * Property tests of the pure core (`Interpreter`): random pipelines of 1 to 6 steps are driven by
 * random handler outcomes through a model of the orchestrator's tick loop (`tickClaimed` in
 * src/Orchestrator.ts), and the invariants of the run and its steps are checked after every
 * transition, every commit and every decision.
 *
 * The model of a tick, as in `tickClaimed`:
 * - `decide`; `Done` / `Sleep` end the tick; `Finalize` ends the run and the tick.
 * - before a handler runs, the changes so far are committed (only the steps listed in `changed`
 *   are written, as a repository does).
 * - `Start` runs `onStart` and, when it succeeds, `onContinue` in the same iteration; `Continue`
 *   runs `onContinue`.
 * - a handler failure with a retry time, or a `Wait`, ends the tick; a handler failure without
 *   one fails the step and the loop goes on (to `Finalize`).
 * - a handler may also "crash" the worker: the tick ends without committing what it did since the
 *   last commit (what a lost lease or a killed process does).
 * Between ticks time advances (sometimes not far enough: the run sleeps) and an operator may cancel
 * the run or, in the retry property, retry a failed run.
 *
 * The model can drift from the real loop: test/Orchestrator.property.test.ts drives the real
 * orchestrator with random outcomes too.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Interpreter, type Run } from "prorch"

// -----------------------------------------------------------------------------
// records
// -----------------------------------------------------------------------------

type Records = { readonly run: Run.RunRecord; readonly steps: ReadonlyArray<Run.StepRecord> }
type Shape = Interpreter.Shape

const WORKER = "worker-1"
const RUN_ID = "run-0001"
const actorAt = (now: number): Interpreter.Actor => ({ now, worker: WORKER })

const errorInfo = (message: string): Run.ErrorInfo => ({
  message,
  pretty: `Error: ${message}\n    at handler`,
  cause: { _id: "Cause", _tag: "Fail", failure: { message } }
})

const initialRecords = (names: ReadonlyArray<string>, createdAt: number, wakeAt: number): Records => ({
  run: {
    uuid: RUN_ID,
    name: "Pipeline",
    status: "created",
    metadata: { current_step: null },
    input: "{\"n\":1}",
    idempotency_key: null,
    revision: 1,
    wake_at: wakeAt,
    lease_owner: null,
    lease_expires_at: null,
    pending_signals: 0,
    error: null,
    created_at: createdAt,
    updated_at: createdAt,
    ended_at: null
  },
  steps: names.map((name, position) => ({
    uuid: `${RUN_ID}/step-${position}`,
    name,
    pipeline_uuid: RUN_ID,
    position,
    status: "created",
    metadata: {},
    attempt: 1,
    state: null,
    output: null,
    error: null,
    created_at: createdAt,
    updated_at: createdAt,
    started_at: null,
    ended_at: null
  }))
})

const shapeOf = (names: ReadonlyArray<string>): Shape => ({ steps: names.map((name) => ({ name })) })

const isTerminal = (status: Run.Status) => status === "finished" || status === "failed" || status === "cancelled"

const code: Record<Run.Status, string> = { finished: "F", pending: "P", failed: "X", cancelled: "C", created: "N" }
/** the statuses of the steps, one letter each: F finished, P pending, X failed, C cancelled, N created */
const pattern = (steps: ReadonlyArray<Run.StepRecord>) => steps.map((s) => code[s.status]).join("")
/** a sequential pipeline: finished steps, at most one current (pending or ended badly), then created ones */
const SEQUENTIAL = /^F*[PXC]?N*$/

const firstOpen = (steps: ReadonlyArray<Run.StepRecord>) =>
  steps.findIndex((s) => s.status === "created" || s.status === "pending")

/** step transitions that the interpreter may make (an operator retry is checked on its own) */
const allowed: Record<Run.Status, ReadonlyArray<Run.Status>> = {
  created: ["created", "pending", "failed", "cancelled"],
  pending: ["pending", "finished", "failed", "cancelled"],
  finished: ["finished"],
  failed: ["failed"],
  cancelled: ["cancelled"]
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

type Operator = "none" | "cancel" | "retry"

interface Between {
  readonly advance: Advance
  readonly operator: Operator
}

interface Plan {
  readonly names: ReadonlyArray<string>
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
  fc.oneof(fc.string({ minLength: 1, maxLength: 6 }), fc.constantFrom("Generation", "Transfer", "Notify")),
  { minLength: 1, maxLength: 6 }
)

const plan = (w: Weights, operators: fc.Arbitrary<Operator>): fc.Arbitrary<Plan> =>
  fc.record({
    names: stepNames,
    createdAt: fc.integer({ min: 0, max: 2_000_000_000_000 }),
    firstWake: fc.integer({ min: 0, max: 10_000 }),
    waitMillis: fc.constantFrom(0, 0, 1_000),
    starts: fc.array(startOutcome(w), { maxLength: 12 }),
    continues: fc.array(continueOutcome(w), { maxLength: 30 }),
    between: fc.array(fc.record({ advance, operator: operators }), { maxLength: 40 })
  })

// -----------------------------------------------------------------------------
// the simulation
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
  crashes: number
  sleeps: number
  restartsAfterCrash: number
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
  crashes: 0,
  sleeps: 0,
  restartsAfterCrash: 0,
  maxSteps: 0
})

type Transition =
  | { readonly _tag: "started"; readonly index: number; readonly state: string | null }
  | { readonly _tag: "continued"; readonly index: number; readonly answer: Interpreter.Answer }
  | { readonly _tag: "handlerFailed"; readonly index: number; readonly error: Run.ErrorInfo; readonly retryAt: number | undefined }
  | { readonly _tag: "finalize"; readonly status: Run.TerminalStatus; readonly index: number }
  | { readonly _tag: "cancelRun"; readonly reason: string }

const newEvents = (prev: Interpreter.Draft, next: Interpreter.Draft) => next.events.slice(prev.events.length)

/** the checks of one transition made by the interpreter (not by an operator retry) */
const checkTransition = (
  prev: Interpreter.Draft,
  next: Interpreter.Draft,
  t: Transition,
  now: number
): void => {
  // terminal runs never change: nothing is applied to them
  expect(isTerminal(prev.run.status)).toBe(false)
  // the history grows, in order, with events of this run written now by this worker
  expect(next.events.length).toBeGreaterThan(prev.events.length)
  expect(next.events.slice(0, prev.events.length)).toEqual(prev.events)
  for (const e of newEvents(prev, next)) {
    expect(e.run_uuid).toBe(RUN_ID)
    expect(e.at).toBe(now)
    expect(e.worker).toBe(WORKER)
  }
  // the run's identity never changes
  expect(next.run.uuid).toBe(prev.run.uuid)
  expect(next.run.name).toBe(prev.run.name)
  expect(next.run.input).toBe(prev.run.input)
  expect(next.run.created_at).toBe(prev.run.created_at)
  expect(next.run.updated_at).toBe(now)
  expect(next.steps.length).toBe(prev.steps.length)
  // steps move forward only; at most one step record changes per transition
  let changedSteps = 0
  for (let i = 0; i < prev.steps.length; i++) {
    const a = prev.steps[i]
    const b = next.steps[i]
    expect(allowed[a.status]).toContain(b.status)
    if (a.status !== "created") expect(b.status).not.toBe("created")
    if (isTerminal(a.status)) expect(b).toEqual(a)
    expect([b.uuid, b.name, b.pipeline_uuid, b.position, b.created_at]).toEqual([
      a.uuid,
      a.name,
      a.pipeline_uuid,
      a.position,
      a.created_at
    ])
    if (a !== b) {
      changedSteps++
      expect(next.changed).toContain(i)
    }
  }
  expect(changedSteps).toBeLessThanOrEqual(1)
  // the pipeline is sequential
  expect(pattern(next.steps)).toMatch(SEQUENTIAL)
  expect(next.steps.filter((s) => s.status === "pending").length).toBeLessThanOrEqual(1)
  // the run's status agrees with its steps
  if (next.run.status === "finished") expect(next.steps.every((s) => s.status === "finished")).toBe(true)
  if (next.run.status === "failed") expect(next.steps.some((s) => s.status === "failed")).toBe(true)
  if (next.run.status === "cancelled") expect(next.steps.some((s) => s.status === "cancelled")).toBe(true)

  const types = newEvents(prev, next).map((e) => e.type)
  switch (t._tag) {
    case "started": {
      const a = prev.steps[t.index]
      const b = next.steps[t.index]
      expect(a.status).toBe("created")
      expect(b.status).toBe("pending")
      expect(b.state).toBe(t.state)
      expect(b.started_at).toBe(now)
      expect(b.error).toBeNull()
      // a successful call resets the retry budget
      expect(b.attempt).toBe(1)
      expect(next.run.status).toBe("pending")
      expect(next.run.metadata.current_step).toBe(b.name)
      expect(types).toEqual(["started"])
      expect(newEvents(prev, next)[0].step).toBe(b.name)
      break
    }
    case "continued": {
      const a = prev.steps[t.index]
      const b = next.steps[t.index]
      expect(a.status).toBe("pending")
      const before = typeof a.metadata.continuations === "number" ? a.metadata.continuations : 0
      expect(b.metadata.continuations).toBe(before + 1)
      expect(b.started_at).toBe(a.started_at)
      // a finish or a wait resets the retry budget (retries count consecutive failures)
      expect(b.attempt).toBe(t.answer._tag === "Finish" || t.answer._tag === "Wait" ? 1 : a.attempt)
      if (t.answer._tag === "Wait") expect(b.error).toBeNull()
      expect(types[0]).toBe("continued")
      switch (t.answer._tag) {
        case "Finish":
          expect(b.status).toBe("finished")
          expect(b.output).toBe(t.answer.output)
          expect(b.state).toBe(a.state)
          expect(b.ended_at).toBe(now)
          expect(b.error).toBeNull()
          // the run stays due: the next step starts in the same tick
          expect(next.run.wake_at).toBe(prev.run.wake_at)
          expect(next.run.wake_at).toBeLessThanOrEqual(now)
          expect(types).toEqual(["continued", "finished"])
          break
        case "Wait":
          expect(b.status).toBe("pending")
          expect(b.state).toBe(t.answer.state === undefined ? a.state : t.answer.state)
          expect(b.output).toBe(a.output)
          expect(b.ended_at).toBeNull()
          expect(next.run.wake_at).toBe(t.answer.wakeAt)
          expect(types).toEqual(["continued", "waited"])
          break
        case "Fail":
          expect(b.status).toBe("failed")
          expect(b.error).toEqual(t.answer.error)
          expect(b.ended_at).toBe(now)
          expect(types).toEqual(["continued", "failed"])
          break
        case "Cancel":
          expect(b.status).toBe("cancelled")
          expect(b.error?.message).toBe(t.answer.reason)
          expect(b.ended_at).toBe(now)
          expect(types).toEqual(["continued", "cancelled"])
          break
      }
      break
    }
    case "handlerFailed": {
      const a = prev.steps[t.index]
      const b = next.steps[t.index]
      expect(b.error).toEqual(t.error)
      expect(b.state).toBe(a.state)
      if (t.retryAt !== undefined) {
        // a durable retry: same status, one more attempt, the run sleeps until retryAt
        expect(b.status).toBe(a.status)
        expect(b.attempt).toBe(a.attempt + 1)
        expect(next.run.wake_at).toBe(t.retryAt)
        expect(next.run.status).toBe("pending")
        expect(next.run.metadata.current_step).toBe(b.name)
        expect(types).toEqual(["retried"])
      } else {
        expect(b.status).toBe("failed")
        expect(b.attempt).toBe(a.attempt)
        expect(b.ended_at).toBe(now)
        expect(types).toEqual(["failed"])
      }
      break
    }
    case "finalize": {
      expect(next.steps).toEqual(prev.steps)
      expect(next.run.status).toBe(t.status)
      expect(next.run.ended_at).toBe(now)
      expect(next.run.metadata.current_step).toBe(next.steps[t.index].name)
      if (t.status === "finished") {
        expect(next.run.error).toBeNull()
      } else {
        // the run takes the error (or cancel reason) of its ended step
        expect(next.steps[t.index].status).toBe(t.status)
        expect(next.run.error).not.toBeNull()
        expect(next.run.error).toEqual(next.steps[t.index].error)
      }
      expect(types).toEqual([t.status])
      expect(newEvents(prev, next)[0].step).toBeNull()
      break
    }
    case "cancelRun": {
      const open = firstOpen(prev.steps)
      expect(next.run.status).toBe("cancelled")
      expect(next.run.error?.message).toBe(t.reason)
      expect(next.run.ended_at).toBe(now)
      expect(next.run.lease_owner).toBeNull()
      if (open >= 0) {
        expect(next.steps[open].status).toBe("cancelled")
        expect(next.steps[open].error?.message).toBe(t.reason)
        expect(types).toEqual(["cancelled", "cancelled"])
      } else {
        expect(types).toEqual(["cancelled"])
      }
      // later steps stay created
      for (let i = open + 1; open >= 0 && i < next.steps.length; i++) expect(next.steps[i].status).toBe("created")
      break
    }
  }
}

/** what a repository holds after a commit must satisfy */
const checkCommitted = (shape: Shape, records: Records, committedStarts: ReadonlySet<number>): void => {
  const { run, steps } = records
  const statuses = steps.map((s) => s.status)
  expect(pattern(steps)).toMatch(SEQUENTIAL)
  // finished iff all steps finished; a failed step fails the run; a cancelled one cancels it
  expect(run.status === "finished").toBe(statuses.every((s) => s === "finished"))
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

interface Simulation {
  readonly shape: Shape
  records: Records
  now: number
  readonly committedStarts: Set<number>
  readonly history: Array<Run.HistoryEvent>
  readonly starts: Array<StartOutcome>
  readonly continues: Array<ContinueOutcome>
  readonly waitMillis: number
  readonly stats: Stats
  crashedLastTick: boolean
}

/** decide, with the checks that every decision must pass */
const checkedDecide = (sim: Simulation, d: Interpreter.Draft, now: number): Interpreter.Decision => {
  const frozen = JSON.stringify({ run: d.run, steps: d.steps })
  const decision = Interpreter.decide(sim.shape, d, now)
  // pure: the same inputs (copies of them) give the same decision, and the inputs are not touched
  expect(Interpreter.decide(shapeOf(sim.shape.steps.map((s) => s.name)), structuredClone({ run: d.run, steps: d.steps }), now))
    .toEqual(decision)
  expect(JSON.stringify({ run: d.run, steps: d.steps })).toBe(frozen)

  const { run, steps } = d
  const anyFailed = steps.findIndex((s) => s.status === "failed")
  const anyCancelled = steps.findIndex((s) => s.status === "cancelled")
  const allFinished = steps.every((s) => s.status === "finished")
  if (isTerminal(run.status)) {
    expect(decision).toEqual({ _tag: "Done" })
  } else if (anyFailed >= 0) {
    expect(decision).toEqual({ _tag: "Finalize", status: "failed", index: anyFailed })
  } else if (anyCancelled >= 0) {
    expect(decision).toEqual({ _tag: "Finalize", status: "cancelled", index: anyCancelled })
  } else if (allFinished) {
    expect(decision).toEqual({ _tag: "Finalize", status: "finished", index: steps.length - 1 })
  } else if (run.wake_at > now) {
    expect(decision).toEqual({ _tag: "Sleep", until: run.wake_at })
  } else {
    const open = firstOpen(steps)
    expect(decision).toEqual({ _tag: steps[open].status === "created" ? "Start" : "Continue", index: open })
  }
  if (decision._tag === "Start") {
    // once a step's start is committed, decide never asks to start it again
    expect(sim.committedStarts.has(decision.index)).toBe(false)
    expect(steps[decision.index].started_at).toBeNull()
    for (let i = 0; i < decision.index; i++) expect(steps[i].status).toBe("finished")
  }
  if (decision._tag === "Continue") {
    expect(steps[decision.index].status).toBe("pending")
    for (let i = 0; i < decision.index; i++) expect(steps[i].status).toBe("finished")
  }
  return decision
}

/** write a draft as a repository does: the run, and the steps listed in `changed` */
const commit = (sim: Simulation, d: Interpreter.Draft): void => {
  const base = sim.records
  for (let i = 0; i < d.steps.length; i++) {
    if (JSON.stringify(d.steps[i]) !== JSON.stringify(base.steps[i])) expect(d.changed).toContain(i)
  }
  const steps = base.steps.slice()
  for (const i of d.changed) steps[i] = d.steps[i]
  expect(steps).toEqual(d.steps)
  // a draft with changes always has events to record them
  expect(Interpreter.hasChanges(d)).toBe(true)
  for (let i = 0; i < steps.length; i++) {
    // the result of onStart is committed (the step may even have finished in the same tick)
    if (base.steps[i].started_at === null && steps[i].started_at !== null) sim.committedStarts.add(i)
  }
  sim.records = { run: { ...d.run, revision: base.run.revision + 1 }, steps }
  sim.history.push(...d.events)
  checkCommitted(sim.shape, sim.records, sim.committedStarts)
}

const apply = (d: Interpreter.Draft, t: Transition, now: number): Interpreter.Draft => {
  const actor = actorAt(now)
  let next: Interpreter.Draft
  switch (t._tag) {
    case "started":
      next = Interpreter.started(d, t.index, t.state, actor)
      break
    case "continued":
      next = Interpreter.continued(d, t.index, t.answer, actor)
      break
    case "handlerFailed":
      next = Interpreter.handlerFailed(
        d,
        t.index,
        d.steps[t.index].status === "created" ? "onStart" : "onContinue",
        t.error,
        t.retryAt,
        actor
      )
      break
    case "finalize":
      next = Interpreter.finalize(d, t.status, t.index, actor)
      break
    case "cancelRun":
      next = Interpreter.cancelRun(d, t.reason, actor)
      break
  }
  // transitions return new values and leave their input alone
  expect(next).not.toBe(d)
  checkTransition(d, next, t, now)
  return next
}

const defaultStart: StartOutcome = { _tag: "Ok", state: "{\"default\":true}", took: 1 }
const defaultContinue: ContinueOutcome = { _tag: "Finish", output: "\"done\"", took: 1 }

/** one tick of a claimed run, as `tickClaimed` runs it */
const tick = (sim: Simulation): void => {
  let d = Interpreter.draft(sim.records)
  sim.crashedLastTick = false
  loop: while (true) {
    const now = sim.now
    const decision = checkedDecide(sim, d, now)
    switch (decision._tag) {
      case "Mismatch":
        throw new Error(`unexpected mismatch: ${decision.detail}`)
      case "Sleep":
        sim.stats.sleeps++
        break loop
      case "Done":
        break loop
      case "Finalize":
        d = apply(d, { _tag: "finalize", status: decision.status, index: decision.index }, now)
        break loop
    }
    // what earlier steps did is committed before a handler runs
    if (Interpreter.hasChanges(d)) {
      commit(sim, d)
      d = Interpreter.draft(sim.records)
    }
    const index = decision.index
    if (decision._tag === "Start") {
      const outcome = sim.starts.shift() ?? defaultStart
      sim.now += outcome.took
      if (outcome._tag === "Crash") {
        sim.stats.crashes++
        sim.crashedLastTick = true
        return
      }
      if (outcome._tag === "Error") {
        const retryAt = outcome.retryIn === undefined ? undefined : sim.now + outcome.retryIn
        if (retryAt !== undefined) sim.stats.handlerRetries++
        d = apply(d, { _tag: "handlerFailed", index, error: errorInfo("onStart failed"), retryAt }, sim.now)
        if (retryAt !== undefined) break loop
        continue loop
      }
      d = apply(d, { _tag: "started", index, state: outcome.state }, sim.now)
    }
    // onContinue, right after onStart or for a pending step
    const outcome = sim.continues.shift() ?? defaultContinue
    sim.now += outcome.took
    const answered = sim.now
    switch (outcome._tag) {
      case "Crash":
        sim.stats.crashes++
        sim.crashedLastTick = true
        return
      case "Error": {
        const retryAt = outcome.retryIn === undefined ? undefined : answered + outcome.retryIn
        if (retryAt !== undefined) sim.stats.handlerRetries++
        d = apply(d, { _tag: "handlerFailed", index, error: errorInfo("onContinue failed"), retryAt }, answered)
        if (retryAt !== undefined) break loop
        continue loop
      }
      case "Finish":
        d = apply(d, { _tag: "continued", index, answer: { _tag: "Finish", output: outcome.output } }, answered)
        continue loop
      case "Fail":
        d = apply(
          d,
          { _tag: "continued", index, answer: { _tag: "Fail", error: { message: outcome.reason, pretty: null, cause: null } } },
          answered
        )
        continue loop
      case "Cancel":
        d = apply(d, { _tag: "continued", index, answer: { _tag: "Cancel", reason: outcome.reason } }, answered)
        continue loop
      case "Wait": {
        const wakeAt = outcome.kind._tag === "Plain"
          ? answered + sim.waitMillis
          : outcome.kind._tag === "After"
          ? answered + outcome.kind.millis
          : answered - outcome.kind.millis
        d = apply(d, { _tag: "continued", index, answer: { _tag: "Wait", state: outcome.state, wakeAt } }, answered)
        break loop
      }
    }
  }
  if (Interpreter.hasChanges(d)) commit(sim, d)
}

/** an operator retries a failed run: checked on its own, it may send a step back to `created` */
const operatorRetry = (sim: Simulation): void => {
  const before = sim.records
  const index = before.steps.findIndex((s) => s.status === "failed")
  expect(before.run.status).toBe("failed")
  const now = sim.now
  const d = Interpreter.retryRun(Interpreter.draft(before), actorAt(now))
  const failed = before.steps[index]
  const resumed = d.steps[index]
  // the failed step resumes: pending when its onStart had completed, else created again
  expect(resumed.status).toBe(failed.started_at === null ? "created" : "pending")
  if (resumed.status === "created") {
    sim.stats.retriedToCreated++
    // it never had a committed start, so starting it again is not a second start
    expect(sim.committedStarts.has(index)).toBe(false)
  } else {
    sim.stats.retriedToPending++
  }
  expect(resumed.attempt).toBe(1)
  expect(resumed.error).toBeNull()
  expect(resumed.ended_at).toBeNull()
  expect(resumed.state).toBe(failed.state)
  expect(resumed.started_at).toBe(failed.started_at)
  expect([resumed.uuid, resumed.name]).toEqual([failed.uuid, failed.name])
  // earlier finished steps stay finished, with their outputs; later steps stay created
  for (let i = 0; i < index; i++) {
    expect(before.steps[i].status).toBe("finished")
    expect(d.steps[i]).toEqual(before.steps[i])
  }
  for (let i = index + 1; i < d.steps.length; i++) {
    expect(d.steps[i]).toEqual(before.steps[i])
    expect(d.steps[i].status).toBe("created")
  }
  // the run is pending again, due at once, without its error
  expect(d.run.status).toBe("pending")
  expect(d.run.error).toBeNull()
  expect(d.run.ended_at).toBeNull()
  expect(d.run.wake_at).toBe(now)
  expect(d.run.metadata.current_step).toBe(failed.name)
  expect(d.events.map((e) => e.type)).toEqual(["retried"])
  expect(d.events[0]).toMatchObject({ run_uuid: RUN_ID, at: now, step: failed.name, data: { manual: true } })
  expect(d.changed).toEqual([index])
  // and the next decision resumes that step
  expect(Interpreter.decide(sim.shape, d, now)).toEqual({
    _tag: resumed.status === "created" ? "Start" : "Continue",
    index
  })
  commit(sim, d)
  sim.stats.operatorRetries++
}

const operatorCancel = (sim: Simulation): void => {
  const d = apply(Interpreter.draft(sim.records), { _tag: "cancelRun", reason: "stopped by an operator" }, sim.now)
  commit(sim, d)
  sim.stats.operatorCancels++
  expect(Interpreter.decide(sim.shape, sim.records, sim.now)).toEqual({ _tag: "Done" })
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
  const records = initialRecords(p.names, p.createdAt, p.createdAt + p.firstWake)
  const sim: Simulation = {
    shape: shapeOf(p.names),
    records,
    now: p.createdAt,
    committedStarts: new Set(),
    history: [],
    starts: [...p.starts],
    continues: [...p.continues],
    waitMillis: p.waitMillis,
    stats,
    crashedLastTick: false
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
    if (operator === "cancel" && !terminal) {
      operatorCancel(sim)
      continue
    }
    if (operator === "retry" && sim.records.run.status === "failed") {
      operatorRetry(sim)
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
  // the history tells the story: one created->started per committed start, the run's end last
  const runEvents = sim.history.filter((e) => e.step === null)
  expect(runEvents[runEvents.length - 1].type).toBe(status)
  for (const e of sim.history) expect(e.run_uuid).toBe(RUN_ID)
  return sim
}

// -----------------------------------------------------------------------------
// properties
// -----------------------------------------------------------------------------

const RUNS = 400

describe("Interpreter (properties)", () => {
  it("random pipelines and handler outcomes keep the run's invariants", () => {
    const stats = newStats()
    fc.assert(
      fc.property(
        plan(
          { fail: 1, cancel: 1, error: 2, crash: 1 },
          fc.oneof({ weight: 30, arbitrary: fc.constant("none" as const) }, { weight: 1, arbitrary: fc.constant("cancel" as const) })
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
    expect(stats.crashes).toBeGreaterThan(0)
    expect(stats.restartsAfterCrash).toBeGreaterThan(0)
    expect(stats.sleeps).toBeGreaterThan(0)
    expect(stats.maxSteps).toBe(6)
  })

  it("retryRun resumes a failed run from its failed step, with its attempts reset", () => {
    const stats = newStats()
    fc.assert(
      fc.property(
        plan(
          { fail: 4, cancel: 0, error: 4, crash: 1 },
          fc.oneof({ weight: 3, arbitrary: fc.constant("none" as const) }, { weight: 2, arbitrary: fc.constant("retry" as const) })
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
          const records = initialRecords(names, 0, wakeAt)
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
        const records = initialRecords(names, 0, 0)
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
  const fresh = () => Interpreter.draft(initialRecords(names, 1_000, 1_000))

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
    const records = initialRecords(names, 0, 0)
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
