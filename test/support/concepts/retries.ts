/** Retries and timeouts of handler calls, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Schedule, Schema, TestClock } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { Boom, runOn, settle, statuses } from "../kit.js"

/** retries and timeouts of handler calls */
export const retries = (backend: Backend) =>
  describe(`retries on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("retries: attempts are persisted, each retry is a durable wake-up, exhausted retries fail with the last cause", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const attempts: Array<number> = []
          const flaky = step("Flaky", {
            onContinue: (ctx) =>
              Effect.suspend(() => {
                attempts.push(ctx.attempt)
                return new Boom({ reason: `attempt ${ctx.attempt}` })
              }),
            retry: Schedule.exponential(Duration.seconds(10)).pipe(Schedule.intersect(Schedule.recurs(2)))
          })
          const p = pipeline("Retrying", flaky)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          let view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(view.steps[0].attempt).toBe(2)
          expect(view.wakeAt.getTime()).toBe(10_000)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust(Duration.seconds(10))
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.steps[0].attempt).toBe(3)
          expect(view.wakeAt.getTime()).toBe(10_000 + 20_000)
          yield* TestClock.adjust(Duration.seconds(20))
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(attempts).toEqual([1, 2, 3])
          expect(view.steps[0].error?.cause).toMatchObject({ _tag: "Fail", error: { reason: "attempt 3" } })
          const history = yield* o.history(runId)
          expect(history.filter((e) => e.type === "retried").map((e) => e.attempt)).toEqual([1, 2])
        })
      ))


    it.effect("a failure of onStart is retried and onStart runs again with the same step run id", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const ids: Array<string> = []
          const starting = step("Starting", {
            state: Schema.Struct({ ok: Schema.Boolean }),
            onStart: (ctx) =>
              Effect.suspend(() => {
                ids.push(`${ctx.attempt}:${ctx.stepRunId}`)
                return ctx.attempt < 2 ? new Boom({ reason: "not yet" }) : Effect.succeed({ ok: true })
              }),
            onContinue: (ctx) => Effect.succeed(ctx.state.ok ? Step.finish() : Step.fail("no")),
            retry: Schedule.spaced(Duration.seconds(1))
          })
          const p = pipeline("StartRetry", starting)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["created"])
          expect(view.status).toBe("pending")
          yield* TestClock.adjust(Duration.seconds(1))
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("finished")
          const stepId = view.steps[0].id
          expect(ids).toEqual([`1:${stepId}`, `2:${stepId}`])
        })
      ))


    it.effect("a handler that takes longer than its timeout fails with HandlerTimeout", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const slow = step("Slow", {
            onContinue: () => Effect.as(Effect.sleep(Duration.minutes(10)), Step.finish()),
            timeout: Duration.seconds(30)
          })
          const p = pipeline("Timeout", slow)
          const o = yield* orchestrator([p])
          const runId = yield* o.create(p)
          const pass = yield* Effect.fork(o.executePending())
          yield* settle
          yield* TestClock.adjust(Duration.seconds(30))
          const summary = yield* pass.await
          expect(Exit.isSuccess(summary)).toBe(true)
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(view.steps[0].error?.cause).toMatchObject({ _tag: "Fail", error: { _tag: "HandlerTimeout", handler: "onContinue" } })
        })
      ))

  })
