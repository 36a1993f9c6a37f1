/** prorch/Test: TestOrchestrator.runUntilSettled and TestRepository's faults. */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Data, Effect, Exit, Schedule } from "effect"
import { Errors, Orchestrator, pipeline, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { TestOrchestrator, TestRepository } from "prorch/Test"
import { recorder } from "./support/kit.js"

class Flaky extends Data.TaggedError("Flaky")<{}> {}

/** A: onStart, then finishes; B: onStart, then waits 10 minutes once, then finishes */
const twoSteps = (log: ReturnType<typeof recorder>) => {
  const a = step("A", {
    onStart: () => log.record("A.onStart"),
    onContinue: () => Effect.as(log.record("A.onContinue"), Step.finish())
  })
  const b = step("B", {
    onStart: () => log.record("B.onStart"),
    onContinue: (ctx) =>
      Effect.as(log.record("B.onContinue"), ctx.continuations < 1 ? Step.wait({ after: "10 minutes" }) : Step.finish())
  })
  return pipeline("TwoSteps", a, b)
}

const lease = 30_000

describe("TestOrchestrator.runUntilSettled", () => {
  it.effect("moves the clock to each wake-up (a timer, a retry) until the run ends, and returns its view", () => {
    const log = recorder()
    let failures = 0
    const flaky = step("Flaky", {
      retry: Schedule.spaced("1 minute"),
      onContinue: () =>
        Effect.suspend(() => ++failures <= 2 ? Effect.fail(new Flaky()) : Effect.as(log.record("Flaky"), Step.finish()))
    })
    const p = pipeline("Settles", step("Wait", {
      onContinue: (ctx) => Effect.succeed(ctx.continuations < 1 ? Step.wait({ after: "10 minutes" }) : Step.finish())
    }), flaky)
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(p)
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      expect(run.steps.map((s) => [s.name, s.status])).toEqual([["Wait", "finished"], ["Flaky", "finished"]])
      // two retries, a minute apart: the call that finished was the 3rd attempt
      const flakyEvents = (yield* Orchestrator.history(runId)).filter((e) => e.step === "Flaky")
      expect(flakyEvents.map((e) => [e.type, e.attempt, e.at])).toEqual([
        ["started", 1, 10 * 60_000],
        ["retried", 1, 10 * 60_000],
        ["retried", 2, 11 * 60_000],
        ["continued", 3, 12 * 60_000],
        ["finished", 3, 12 * 60_000]
      ])
      // 10 minutes of timer, then two retries a minute apart: the clock was moved exactly there
      expect(yield* Clock.currentTimeMillis).toBe(12 * 60_000)
      expect(log.calls).toEqual(["Flaky"])
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("fails with NotSettled naming the step the run is stuck on, after maxPasses", () => {
    const p = pipeline("Stuck", step("Poll", { onContinue: () => Effect.succeed(Step.wait({ after: "1 minute" })) }))
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(p)
      const error = yield* Effect.flip(TestOrchestrator.runUntilSettled(runId, { maxPasses: 5 }))
      expect(error).toBeInstanceOf(TestOrchestrator.NotSettled)
      expect(error._tag === "NotSettled" && error.step).toBe("Poll")
      expect(error.message).toBe(`run ${runId} did not settle after 5 passes: it is pending on step "Poll" (attempt 1)`)
      expect(yield* Clock.currentTimeMillis).toBe(5 * 60_000)
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("a pass whose storage fails is a failed pass: the next one goes on", () => {
    const log = recorder()
    const p = twoSteps(log)
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.create(p)
      yield* TestRepository.failAt("claim") // the first pass's claim
      yield* TestRepository.failAt("load", { nth: 2 }) // one of runUntilSettled's own reads
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      expect((yield* TestRepository.injected).map((i) => i._tag === "Failure" && i.operation)).toEqual(["load", "claim"])
      expect(log.calls).toEqual(["A.onStart", "A.onContinue", "B.onStart", "B.onContinue", "B.onContinue"])
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("does not move the clock past maxTime: a run waiting for a year fails at once", () => {
    const p = pipeline("Far", step("Later", { onContinue: () => Effect.succeed(Step.wait({ after: "400 days" })) }))
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(p)
      const error = yield* Effect.flip(TestOrchestrator.runUntilSettled(runId))
      expect(error._tag).toBe("NotSettled")
      expect(error.message).toMatch(/did not settle within maxTime \(next due at 1971-02-05T00:00:00.000Z\): it is pending on step "Later"/)
      expect(yield* Clock.currentTimeMillis).toBe(0)
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })
})

describe("TestRepository faults", () => {
  it.effect("failAt: the nth call of an operation fails with a typed error, writes nothing, and the run goes on", () => {
    const log = recorder()
    const p = twoSteps(log)
    return Effect.gen(function*() {
      // the first commit of the first tick: A's end, before B's handlers
      yield* TestRepository.failAt("commit")
      const runId = yield* Orchestrator.start(p)
      expect(yield* TestRepository.injected).toEqual([{ _tag: "Failure", operation: "commit", call: 1 }])
      const history = yield* Orchestrator.history(runId)
      expect(history.map((e) => e.type)).toEqual(["created"]) // nothing of the failed commit
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      // at least once: A's handlers ran again, B's once each time they were due
      expect(log.count("A.onStart")).toBe(2)
      expect(log.count("B.onStart")).toBe(1)
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("failAt on a pass's claim: the pass fails with a RepositoryError whose cause is InjectedFailure", () => {
    const p = twoSteps(recorder())
    return Effect.gen(function*() {
      yield* Orchestrator.create(p)
      yield* TestRepository.failAt("claim")
      const exit = yield* Effect.exit(Orchestrator.executePending())
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      expect(error).toBeInstanceOf(Errors.RepositoryError)
      expect((error as Errors.RepositoryError).cause).toBeInstanceOf(TestRepository.InjectedFailure)
      expect((error as Errors.RepositoryError).message).toBe(
        "repository operation claim failed: injected failure of claim (call 1); nothing was written"
      )
      // the next pass works
      expect((yield* Orchestrator.executePending()).ticked).toBe(1)
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("failWrites: the same seed fails the same calls; every run still ends", () => {
    const scenario = (seed: number) => {
      const p = twoSteps(recorder())
      return Effect.gen(function*() {
        yield* TestRepository.failWrites({ rate: 0.3, seed, operations: ["commit", "release"] })
        const ids: Array<string> = []
        for (let i = 0; i < 5; i++) ids.push(yield* Orchestrator.create(p))
        const statuses: Array<string> = []
        for (const id of ids) statuses.push((yield* TestOrchestrator.runUntilSettled(id)).status)
        return { statuses, injected: yield* TestRepository.injected }
      }).pipe(Effect.provide(TestOrchestrator.layer([p])))
    }
    return Effect.gen(function*() {
      const first = yield* scenario(7)
      const again = yield* scenario(7)
      const other = yield* scenario(8)
      expect(first.statuses).toEqual(["finished", "finished", "finished", "finished", "finished"])
      expect(first.injected.length).toBeGreaterThan(0)
      expect(again.injected).toEqual(first.injected)
      expect(other.injected).not.toEqual(first.injected)
    })
  })

  it.effect("crash before a commit: nothing of it is written; after the lease expires the step runs again", () => {
    const log = recorder()
    const p = twoSteps(log)
    return Effect.gen(function*() {
      yield* TestRepository.crash({
        when: "before",
        match: (commit) => commit.steps.some((s) => s.name === "A" && s.status === "finished")
      })
      const runId = yield* Orchestrator.start(p)
      expect(log.calls).toEqual(["A.onStart", "A.onContinue"])
      expect((yield* Orchestrator.get(runId)).steps.map((s) => s.status)).toEqual(["created", "created"])
      // the dead tick's lease is not released: the next pass finds nothing due
      expect((yield* Orchestrator.executePending()).ticked).toBe(0)
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      expect(log.calls).toEqual([
        "A.onStart", "A.onContinue", // the crashed tick
        "A.onStart", "A.onContinue", "B.onStart", "B.onContinue", // 30 s later: the lease expired
        "B.onContinue" // 10 minutes later
      ])
      expect(yield* Clock.currentTimeMillis).toBe(lease + 10 * 60_000)
      expect(yield* TestRepository.injected).toEqual([{ _tag: "Crash", runId, when: "before" }])
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("crash after a commit: the commit is written, and the next tick goes on from it", () => {
    const log = recorder()
    const p = twoSteps(log)
    return Effect.gen(function*() {
      yield* TestRepository.crash({
        when: "after",
        match: (commit) => commit.steps.some((s) => s.name === "A" && s.status === "finished")
      })
      const runId = yield* Orchestrator.start(p)
      expect((yield* Orchestrator.get(runId)).steps.map((s) => s.status)).toEqual(["finished", "created"])
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      expect(log.calls).toEqual(["A.onStart", "A.onContinue", "B.onStart", "B.onContinue", "B.onContinue"])
      const history = yield* Orchestrator.history(runId)
      expect(history.filter((e) => e.step === "A").map((e) => e.type)).toEqual(["started", "continued", "finished"])
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })

  it.effect("crash at the 2nd matching commit, over a SQLite repository", () => {
    const log = recorder()
    const p = twoSteps(log)
    return Effect.gen(function*() {
      // every commit of a run that is still pending counts: the 2nd is B's wait
      yield* TestRepository.crash({ when: "before", commit: 2, match: (commit) => commit.run.status === "pending" })
      const runId = yield* Orchestrator.start(p)
      expect((yield* Orchestrator.get(runId)).steps.map((s) => s.status)).toEqual(["finished", "created"])
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      // B's first call was lost with the crash and made again; A's were not
      expect(log.count("A.onStart")).toBe(1)
      expect(log.count("B.onStart")).toBe(2)
    }).pipe(Effect.provide(TestOrchestrator.layer([p], { repository: SqliteRepository.layer({ filename: ":memory:" }) })))
  })
})
