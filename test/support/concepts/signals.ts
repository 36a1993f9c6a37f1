/** Signals to steps, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Schema } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { runOn, settle } from "../kit.js"

/** signals to steps */
export const signals = (backend: Backend) =>
  describe(`signals on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("signals are stored durably, handed to the step's next onContinue, and wake the run", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const received: Array<unknown> = []
          const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })
          const approval = step("Approval", {
            signal: Approval,
            onContinue: (ctx) =>
              Effect.sync(() => {
                received.push(...ctx.signals)
                const decision = ctx.signals.at(-1)
                if (decision === undefined) return Step.wait({ after: Duration.days(7) })
                return decision.approved ? Step.finish() : Step.cancel(`rejected by ${decision.by}`)
              })
          })
          const p = pipeline("Approve", step("Prepare", {}), approval)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(Duration.toMillis(Duration.days(7)))
          yield* o.signal(runId, approval, { approved: true, by: "ana" })
          // due at once, long before the timer
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(0)
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1 })
          expect(received).toEqual([{ approved: true, by: "ana" }])
          const ended = yield* Effect.flip(o.signal(runId, approval, { approved: false, by: "bo" }))
          expect(ended._tag).toBe("InvalidOperation")
          const history = yield* o.history(runId)
          expect(history.filter((e) => e.type === "signalled").map((e) => [e.step, e.data])).toMatchObject([
            ["Approval", { payload: { approved: true, by: "ana" } }]
          ])

          // wrong step, wrong payload, a step without a signal schema
          const second = yield* o.start(p)
          expect((yield* Effect.flip(o.signal(second, "Nope", {})))._tag).toBe("InvalidOperation")
          expect((yield* Effect.flip(o.signal(second, "Prepare", {})))._tag).toBe("InvalidOperation")
          expect((yield* Effect.flip(o.signal(second, "Approval", { approved: "yes" })))._tag).toBe("EncodeError")
          // a signal sent before the step starts waits for it
          const p2 = pipeline("Early", step("Before", { onContinue: (ctx) => Effect.succeed(ctx.continuations === 0 ? Step.wait() : Step.finish()) }), approval)
          const o2 = yield* orchestrator([p2])
          const third = yield* o2.start(p2)
          yield* o2.signal(third, approval, { approved: false, by: "cy" })
          yield* o2.executePending()
          const view = yield* o2.get(third)
          expect(view.status).toBe("cancelled")
          expect(view.error?.message).toBe("rejected by cy")
        })
      ))


    it.effect("a signal for a later step waits for it, without waking the step that is under way", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const seen: Array<string> = []
          const first = step("First", {
            signal: Schema.String,
            onContinue: (ctx) =>
              Effect.sync(() => {
                seen.push(`First ${ctx.signals.join(",")}`)
                return ctx.signals.length > 0 ? Step.finish() : Step.wait({ after: Duration.hours(1) })
              })
          })
          const second = step("Second", {
            signal: Schema.String,
            onContinue: (ctx) => Effect.sync(() => (seen.push(`Second ${ctx.signals.join(",")}`), Step.finish()))
          })
          const p = pipeline("Later", first, second)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          yield* o.signal(runId, second, "for-second")
          // the current step's timer still stands
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(Duration.toMillis(Duration.hours(1)))
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* o.signal(runId, first, "for-first")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1 })
          expect(seen).toEqual(["First ", "First for-first", "Second for-second"])
        })
      ))


    it.effect("a signal that arrives while a tick runs is not lost: the run is due again at once", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const received: Array<unknown> = []
          const latch = yield* Deferred.make<void>()
          const listen = step("Listen", {
            signal: Schema.String,
            onContinue: (ctx) =>
              Effect.gen(function*() {
                received.push(...ctx.signals)
                if (ctx.continuations === 0) yield* Deferred.await(latch)
                return ctx.signals.includes("stop") ? Step.finish() : Step.wait({ after: Duration.hours(1) })
              })
          })
          const p = pipeline("Listener", listen)
          const o = yield* orchestrator([p])
          const runId = yield* o.create(p)
          const pass = yield* Effect.fork(o.executePending())
          yield* settle
          yield* o.signal(runId, listen, "stop")
          yield* Deferred.succeed(latch, undefined)
          yield* Fiber.join(pass)
          // the tick that was running did not see the signal, but the run is due now, not in an hour
          expect(received).toEqual([])
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(0)
          yield* o.executePending()
          expect(received).toEqual(["stop"])
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))

  })
