/** Sensor steps (`Step.poll`), on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Schedule, Schema, TestClock } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { runOn, statuses } from "../kit.js"

const minutes = (n: number) => n * 60_000

/** a pipeline: a sensor that sees its file at the `readyAt`-th check, then a step reading the output */
const sensor = (options: {
  readonly readyAt: number
  readonly every: Schedule.Schedule<unknown, unknown>
  readonly deadline?: Duration.DurationInput
  readonly onDeadline?: "fail" | "cancel"
}) => {
  const checks: Array<{ checks: number; at: number; continuations: number }> = []
  const read: Array<string> = []
  const await_ = step(
    "AwaitFile",
    Step.poll({
      output: Schema.String,
      check: (ctx) =>
        Effect.sync(() => {
          checks.push({ checks: ctx.checks, at: ctx.startedAt.getTime(), continuations: ctx.continuations })
          return checks.length >= options.readyAt ? Option.some(`file-${ctx.stepRunId}`) : Option.none()
        }),
      every: options.every,
      deadline: options.deadline,
      onDeadline: options.onDeadline
    })
  )
  const use = step("Use", {
    needs: { file: await_ },
    onContinue: (ctx) => Effect.sync(() => (read.push(ctx.outputs.file), Step.finish()))
  })
  return { p: pipeline("Sensor", step("Before", {}), await_, use), checks, read }
}

/** sensor steps */
export const polling = (backend: Backend) =>
  describe(`polling on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("Step.poll checks at once, waits durably for each delay of `every`, and finishes with the check's value", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const { checks, p, read } = sensor({ readyAt: 3, every: Schedule.spaced("1 minute") })
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          let view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["finished", "pending", "created"])
          expect(checks).toHaveLength(1)
          expect(view.wakeAt.getTime()).toBe(minutes(1))
          expect(view.steps[1].state).toEqual({ startedAt: 0, checks: 1 })
          yield* TestClock.adjust("59 seconds")
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust("1 second")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, waiting: 1 })
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(minutes(2))
          yield* TestClock.adjust("1 minute")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1 })
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(view.steps[1].output).toBe(`file-${view.steps[1].id}`)
          expect(read).toEqual([view.steps[1].output])
          expect(checks.map((c) => c.checks)).toEqual([0, 1, 2])
          expect(checks.every((c) => c.at === 0)).toBe(true)
        })
      ))

    it.effect("past the deadline the last check comes at the deadline, then the step fails (onDeadline: fail)", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const { checks, p } = sensor({ readyAt: 99, every: Schedule.spaced("10 minutes"), deadline: "25 minutes" })
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          for (const at of [10, 20]) {
            yield* TestClock.setTime(minutes(at))
            expect(yield* o.executePending()).toMatchObject({ ticked: 1, waiting: 1 })
          }
          // capped at the deadline, not 30 minutes
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(minutes(25))
          yield* TestClock.setTime(minutes(25))
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, failed: 1 })
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(statuses(view)).toEqual(["finished", "failed", "created"])
          expect(view.error?.message).toBe("no result within 25m (4 checks)")
          expect(checks).toHaveLength(4)
        })
      ))

    it.effect("onDeadline: cancel cancels the run; a schedule that ends gives up as a deadline does", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const late = sensor({
            readyAt: 99,
            every: Schedule.spaced("1 minute"),
            deadline: "90 seconds",
            onDeadline: "cancel"
          })
          const o = yield* orchestrator([late.p])
          const runId = yield* o.start(late.p)
          yield* TestClock.setTime(minutes(1))
          yield* o.executePending()
          yield* TestClock.setTime(90_000)
          yield* o.executePending()
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(view.steps[1].status).toBe("cancelled")
          expect(late.checks).toHaveLength(3)

          const brief = sensor({ readyAt: 99, every: Schedule.spaced("1 minute").pipe(Schedule.intersect(Schedule.recurs(1))) })
          const o2 = yield* orchestrator([brief.p])
          const second = yield* o2.start(brief.p)
          yield* TestClock.adjust("1 minute")
          yield* o2.executePending()
          const ended = yield* o2.get(second)
          expect(ended.status).toBe("failed")
          expect(ended.error?.message).toBe("no result when the polling schedule ended (2 checks)")
          expect(brief.checks).toHaveLength(2)
        })
      ))

    it.effect("the schedule resumes where it was on another orchestrator (a restart): the count of checks is persisted", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const first = sensor({ readyAt: 99, every: Schedule.exponential("1 minute") })
          const o = yield* orchestrator([first.p])
          const runId = yield* o.start(first.p)
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(minutes(1))
          yield* TestClock.setTime(minutes(1))
          yield* o.executePending()
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(minutes(3))
          // a new process: the same definition, nothing in memory
          const again = sensor({ readyAt: 99, every: Schedule.exponential("1 minute") })
          const o2 = yield* orchestrator([again.p])
          yield* TestClock.setTime(minutes(3))
          yield* o2.executePending()
          expect(again.checks.map((c) => c.checks)).toEqual([2])
          // the third delay of the exponential schedule, not its first
          expect((yield* o2.get(runId)).wakeAt.getTime()).toBe(minutes(7))
        })
      ))

    it.effect("a step without output may answer booleans; a signal wakes it for an early check", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const seen: Array<ReadonlyArray<string>> = []
          const door = step(
            "Door",
            Step.poll({
              signal: Schema.String,
              check: (ctx) => Effect.sync(() => (seen.push(ctx.signals), ctx.signals.includes("open"))),
              every: Schedule.spaced("1 hour")
            })
          )
          const p = pipeline("Door", door)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(minutes(60))
          yield* o.signal(runId, "Door", "open")
          yield* o.executePending()
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(seen).toEqual([[], ["open"]])
        })
      ))
  })
