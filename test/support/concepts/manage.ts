/** Cancel and retry, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schedule, TestClock } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { advance, cancelDuringPass, recorder, runOn, slowThenNext, statuses, threeSteps } from "../kit.js"

/** cancel and retry */
export const manage = (backend: Backend) =>
  describe(`manage on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("cancel: the current step and the run become cancelled and no handler of the run runs again", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = threeSteps(log, 100)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect(log.calls).toEqual(["A", "B"])
          yield* o.cancel(runId, "no longer needed")
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(statuses(view)).toEqual(["finished", "cancelled", "created"])
          expect(view.error?.message).toBe("no longer needed")
          yield* TestClock.adjust("1 hour")
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          expect(log.calls).toEqual(["A", "B"])
          const again = yield* Effect.flip(o.cancel(runId))
          expect(again._tag).toBe("InvalidOperation")
          const missing = yield* Effect.flip(o.cancel("no-such-run"))
          expect(missing._tag).toBe("RunNotFound")
          const history = yield* o.history(runId)
          expect(history.slice(-2).map((e) => `${e.type}:${e.step}`)).toEqual(["cancelled:B", "cancelled:null"])
        })
      ))


    it.effect("cancel during an in-flight onContinue: the handler is interrupted and no later handler runs", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = slowThenNext("CancelInFlight", log)
          const o = yield* orchestrator([p])
          const { runId, summary } = yield* cancelDuringPass(o, o, p)
          // the tick is stopped at once, and ends with its run cancelled
          expect(summary.errors).toEqual([])
          expect(summary.cancelled).toBe(1)
          expect(log.calls).toEqual([])
          expect((yield* o.get(runId)).status).toBe("cancelled")
        })
      ))


    it.effect("cancel from another orchestrator during an in-flight tick: its next commit is refused, no later handler runs", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = slowThenNext("CancelElsewhere", log)
          const o = yield* orchestrator([p])
          const { runId, summary } = yield* cancelDuringPass(o, yield* orchestrator([p]), p)
          // the tick notices by its lease renewal (which stops the handler) or by its next commit
          expect(summary.errors).toHaveLength(1)
          expect(["VersionConflict", "LeaseLost"]).toContain(summary.errors[0].error._tag)
          expect(log.count("Next.onStart")).toBe(0)
          expect((yield* o.get(runId)).status).toBe("cancelled")
        })
      ))


    it.effect("cancel while onStart runs in a pass: the handler is interrupted and onContinue never starts", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = pipeline(
            "CancelDuringStart",
            step("Slow", {
              onStart: () => Effect.zipRight(Effect.sleep("10 seconds"), log.record("onStart.done")),
              onContinue: () => Effect.as(log.record("onContinue"), Step.finish())
            })
          )
          const o = yield* orchestrator([p])
          const { runId, summary } = yield* cancelDuringPass(o, o, p)
          // the tick ends with its run cancelled, not as an error
          expect(summary.errors).toEqual([])
          expect(summary.cancelled).toBe(1)
          expect(log.calls).toEqual([])
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(statuses(view)).toEqual(["cancelled"])
        })
      ))


    it.effect("cancel while onStart runs in start: the handler finishes, onContinue never starts, nothing is written", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const started = yield* Deferred.make<string>()
          const p = pipeline(
            "CancelDuringStartCall",
            step("Slow", {
              onStart: (ctx) =>
                Effect.zipRight(Deferred.succeed(started, ctx.runId), Effect.zipRight(Effect.sleep("10 seconds"), log.record("onStart.done"))),
              onContinue: () => Effect.as(log.record("onContinue"), Step.finish())
            })
          )
          const o = yield* orchestrator([p])
          const call = yield* Effect.fork(o.start(p))
          const runId = yield* Deferred.await(started)
          yield* o.cancel(runId)
          yield* advance("11 seconds", "1 second")
          expect(yield* Fiber.join(call)).toBe(runId)
          expect(log.calls).toEqual(["onStart.done"])
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(statuses(view)).toEqual(["cancelled"])
          const history = yield* o.history(runId)
          expect(history.map((e) => e.type)).toEqual(["created", "cancelled", "cancelled"])
        })
      ))


    it.effect("retry resumes a failed run from its failed step, with the attempt counter reset", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          let broken = true
          const p = pipeline(
            "Retryable",
            step("A", { onStart: () => log.record("A.onStart") }),
            step("B", {
              onStart: () => log.record("B.onStart"),
              onContinue: (ctx) =>
                Effect.suspend(() => {
                  log.calls.push(`B.onContinue ${ctx.attempt}`)
                  return broken ? Effect.fail("broken" as const) : Effect.succeed(Step.finish())
                }),
              retry: Schedule.recurs(1)
            })
          )
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("failed")
          expect((yield* o.get(runId)).steps[1].attempt).toBe(2)
          broken = false
          yield* o.retry(runId)
          const resumed = yield* o.get(runId)
          expect(resumed.status).toBe("pending")
          expect(resumed.steps[1]).toMatchObject({ status: "pending", attempt: 1, error: null })
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("finished")
          expect(log.calls).toEqual(["A.onStart", "B.onStart", "B.onContinue 1", "B.onContinue 2", "B.onContinue 1"])
          const invalid = yield* Effect.flip(o.retry(runId))
          expect(invalid._tag).toBe("InvalidOperation")
        })
      ))

  })
