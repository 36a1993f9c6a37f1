/** Durable timers: waits, `at`, plain waits, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, TestClock } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { advance, recorder, runOn, settle, statuses, threeSteps } from "../kit.js"

/** durable timers: waits, `at`, plain waits */
export const timers = (backend: Backend) =>
  describe(`timers on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("durable timers: Step.wait({ after }) is due only when the clock has passed it", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const poll = step("Poll", {
            onContinue: (ctx) =>
              Effect.as(
                log.record("poll"),
                ctx.continuations < 2 ? Step.wait({ after: Duration.minutes(5) }) : Step.finish()
              )
          })
          const p = pipeline("Timer", poll)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect(log.count("poll")).toBe(1)
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(5 * 60_000)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust(Duration.minutes(4))
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust(Duration.minutes(1))
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, waiting: 1 })
          expect(log.count("poll")).toBe(2)
          yield* TestClock.adjust(Duration.minutes(5))
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1 })
          expect(log.count("poll")).toBe(3)
        })
      ))


    it.effect("durable timers: Step.wait({ until }) is due only once the clock has reached that instant", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          // two instants of the TestClock: 00:07:30, then an hour later
          const first = new Date(7 * 60_000 + 30_000)
          const second = new Date(first.getTime() + 60 * 60_000)
          const deadline = step("Deadline", {
            onContinue: (ctx) =>
              Effect.as(
                log.record("deadline"),
                ctx.continuations === 0
                  ? Step.wait({ until: first })
                  : ctx.continuations === 1
                  ? Step.wait({ until: second })
                  : Step.finish()
              )
          })
          const p = pipeline("Deadline", deadline)
          const o = yield* orchestrator([p])
          // started a minute in: the timer is the instant given, not a delay from now
          yield* TestClock.adjust(Duration.minutes(1))
          const runId = yield* o.start(p)
          expect(log.count("deadline")).toBe(1)
          let view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(view.wakeAt.getTime()).toBe(first.getTime())
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })

          // one millisecond before the instant: not due
          yield* TestClock.setTime(first.getTime() - 1)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          expect(log.count("deadline")).toBe(1)
          expect((yield* o.tick(runId)).ranHandlers).toBe(false)
          expect(log.count("deadline")).toBe(1)

          // at the instant: due, continued, and waits for the next one
          yield* TestClock.setTime(first.getTime())
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, waiting: 1, errors: [] })
          expect(log.count("deadline")).toBe(2)
          view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(view.wakeAt.getTime()).toBe(second.getTime())

          yield* TestClock.setTime(second.getTime() - 1)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          expect(log.count("deadline")).toBe(2)

          // well after the instant: due, and the step and the run finish
          yield* TestClock.setTime(second.getTime() + 5 * 60_000)
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1, errors: [] })
          expect(log.count("deadline")).toBe(3)
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["finished"])
          const waited = (yield* o.history(runId)).filter((e) => e.type === "waited")
          expect(waited.map((e) => e.data)).toEqual([
            { until: first.toISOString() },
            { until: second.toISOString() }
          ])
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
        })
      ))


    it.effect("the history tells a plain Step.wait() (the next pass) from a timer", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const p = pipeline("Waits", step("W", {
            onContinue: (ctx) =>
              Effect.succeed(
                ctx.continuations === 0 ? Step.wait() : ctx.continuations === 1 ? Step.wait({ after: "1 minute" }) : Step.finish()
              )
          }))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          yield* o.executePending()
          yield* TestClock.adjust("1 minute")
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("finished")
          const waited = (yield* o.history(runId)).filter((e) => e.type === "waited")
          expect(waited.map((e) => e.data)).toEqual([
            { next: "pass", until: new Date(0).toISOString() },
            { until: new Date(60_000).toISOString() }
          ])
        })
      ))


    it.effect("a worker wakes for new runs at once and for durable timers on time", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = threeSteps(log, 1)
          const o = yield* orchestrator([p])
          yield* Effect.forkScoped(o.worker({ pollInterval: "1 minute" }))
          yield* advance("5 seconds", "1 second")
          const runId = yield* o.create(p)
          yield* settle
          // woken by the create, without waiting for the next poll
          expect(log.calls).toEqual(["A", "B"])
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(6_000)
          // the worker sleeps until the timer, not until the next poll
          yield* TestClock.adjust(Duration.millis(999))
          yield* settle
          expect(log.calls).toEqual(["A", "B"])
          yield* TestClock.adjust(Duration.millis(1))
          yield* settle
          expect(log.calls).toEqual(["A", "B", "B", "C"])
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))


    it.effect("in a worker, a plain Step.wait() is continued waitInterval later", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const continued: Array<number> = []
          const p = pipeline(
            "Spaced",
            step("A", {
              onContinue: (ctx) =>
                Effect.flatMap(Clock.currentTimeMillis, (now) => {
                  continued.push(now)
                  return Effect.succeed(ctx.continuations < 2 ? Step.wait() : Step.finish())
                })
            })
          )
          const o = yield* orchestrator([p])
          const t0 = yield* Clock.currentTimeMillis
          const runId = yield* o.create(p)
          yield* Effect.forkScoped(o.worker({ waitInterval: "3 seconds", pollInterval: "10 seconds" }))
          yield* advance("7 seconds")
          expect(continued.map((t) => t - t0)).toEqual([0, 3000, 6000])
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))


    it.effect("a run scheduled with `at` is not due before then", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = threeSteps(log, 0)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { at: new Date(60_000) })
          expect(log.calls).toEqual([])
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust("1 minute")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1 })
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))

  })
