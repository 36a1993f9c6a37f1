/** Fan-out (`forEach`), on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Schedule, Schema, TestClock } from "effect"
import { forEach, Mermaid, pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { Boom, recorder, runOn } from "../kit.js"

const Input = Schema.Struct({ customers: Schema.Array(Schema.String) })

/** Load, then one invoice per customer (each waits `waits` times for `after`), then Report reading them */
const invoicing = (
  log: ReturnType<typeof recorder>,
  options: { readonly concurrency?: number; readonly waits?: number; readonly after?: Duration.Duration } = {}
) => {
  const load = step("Load", {
    input: Input,
    output: Schema.Number,
    onContinue: (ctx) => Effect.succeed(Step.finish(ctx.input.customers.length))
  })
  const invoices = forEach("Invoice", {
    input: Input,
    needs: { load },
    item: Schema.String,
    items: (ctx) => ctx.input.customers,
    concurrency: options.concurrency,
    step: {
      state: Schema.Struct({ polls: Schema.Number }),
      output: Schema.String,
      onStart: (ctx) => Effect.as(log.record(`start ${ctx.index} ${ctx.item}`), { polls: 0 }),
      onContinue: (ctx) =>
        Effect.as(
          log.record(`continue ${ctx.index} ${ctx.item}`),
          ctx.state.polls < (options.waits ?? 0)
            ? Step.wait({ after: options.after ?? Duration.seconds(1), state: { polls: ctx.state.polls + 1 } })
            : Step.finish(`invoice ${ctx.index + 1}/${ctx.outputs.load} for ${ctx.item}`)
        )
    }
  })
  const report = step("Report", {
    needs: { invoices },
    onContinue: (ctx) => Effect.as(log.record(`report ${ctx.outputs.invoices.join("; ")}`), Step.finish())
  })
  return pipeline("Invoicing", { input: Input }, load, invoices, report)
}

/** fan-out over data */
export const fanout = (backend: Backend) =>
  describe(`forEach on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("one member per item, each with its item and index; the output is the members' outputs in item order", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = invoicing(log)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { input: { customers: ["ada", "grace", "linus"] } })
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(view.steps.map((s) => [s.name, s.status])).toEqual([
            ["Load", "finished"],
            ["Invoice", "finished"],
            ["Report", "finished"],
            ["Invoice[0]", "finished"],
            ["Invoice[1]", "finished"],
            ["Invoice[2]", "finished"]
          ])
          expect(view.steps[1].output).toEqual(["invoice 1/3 for ada", "invoice 2/3 for grace", "invoice 3/3 for linus"])
          expect(view.steps[4].output).toBe("invoice 2/3 for grace")
          expect(log.calls.filter((c) => c.startsWith("report"))).toEqual([
            "report invoice 1/3 for ada; invoice 2/3 for grace; invoice 3/3 for linus"
          ])
          // each member has a step run id of its own
          expect(new Set(view.steps.map((s) => s.id)).size).toBe(6)
          const history = yield* o.history(runId)
          expect(history.find((e) => e.type === "started" && e.step === "Invoice")?.data).toEqual({ members: 3 })
          expect(history.filter((e) => e.type === "finished" && e.step?.startsWith("Invoice[")).map((e) => e.step).sort())
            .toEqual(["Invoice[0]", "Invoice[1]", "Invoice[2]"])
        })
      ))

    it.effect("no items: the forEach finishes at once with [], and the next step reads it", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = invoicing(log)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { input: { customers: [] } })
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(view.steps).toHaveLength(3)
          expect(view.steps[1].output).toEqual([])
          expect(log.calls).toEqual(["report "])
        })
      ))

    it.effect("concurrency: at most that many members active; the next starts when one ends", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = invoicing(log, { concurrency: 2, waits: 1, after: Duration.seconds(10) })
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { input: { customers: ["a", "b", "c", "d", "e"] } })
          let view = yield* o.get(runId)
          expect(view.steps.slice(3).map((s) => s.status)).toEqual(["pending", "pending", "created", "created", "created"])
          expect(log.calls).toEqual(["start 0 a", "start 1 b", "continue 0 a", "continue 1 b"])
          expect(view.wakeAt.getTime()).toBe(10_000)
          // 0 and 1 finish; 2 and 3 start in that tick and wait; 4 waits for a slot
          yield* TestClock.adjust("10 seconds")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.steps.slice(3).map((s) => s.status)).toEqual(["finished", "finished", "pending", "pending", "created"])
          yield* TestClock.adjust("10 seconds")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.steps.slice(3).map((s) => s.status)).toEqual(["finished", "finished", "finished", "finished", "pending"])
          yield* TestClock.adjust("10 seconds")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(view.steps[1].output).toHaveLength(5)
          // never more than two members between their start and their end
          let open = 0
          let most = 0
          for (const c of log.calls) {
            if (c.startsWith("start")) most = Math.max(most, ++open)
            if (c.startsWith("continue") && log.calls.indexOf(c) !== log.calls.lastIndexOf(c)) continue
          }
          expect(most).toBeGreaterThan(0)
          const history = yield* o.history(runId)
          let running = 0
          let peak = 0
          for (const e of history) {
            if (e.step === null || !e.step.startsWith("Invoice[")) continue
            if (e.type === "started") peak = Math.max(peak, ++running)
            if (e.type === "finished") running--
          }
          expect(peak).toBe(2)
        })
      ))

    it.effect("a member's handlers run concurrently with the others'", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const gate = yield* Deferred.make<void>()
          const p = pipeline(
            "Gate",
            forEach("Pair", {
              item: Schema.Number,
              items: () => [0, 1],
              step: {
                onContinue: (ctx) =>
                  Effect.as(ctx.item === 0 ? Deferred.await(gate) : Deferred.succeed(gate, undefined), Step.finish())
              }
            })
          )
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))

    it.effect("a member that fails after its retries ends the forEach: the others are cancelled, the run fails; retry resumes them", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          let broken = true
          const p = pipeline(
            "Fragile",
            { input: Input },
            forEach("Charge", {
              input: Input,
              item: Schema.String,
              items: (ctx) => ctx.input.customers,
              step: {
                output: Schema.String,
                onContinue: (ctx) =>
                  ctx.item === "bad" && broken
                    ? Effect.fail(new Boom({ reason: "card declined" }))
                    : ctx.continuations === 0
                    ? Effect.succeed(Step.wait({ after: Duration.minutes(1) }))
                    : Effect.succeed(Step.finish(ctx.item)),
                retry: Schedule.recurs(1)
              }
            })
          )
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { input: { customers: ["ok", "bad", "fine"] } })
          yield* TestClock.adjust("1 second")
          yield* o.executePending()
          let view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(view.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled", "failed", "cancelled"])
          expect(view.steps[1].error?.message).toBe(`member "Charge[1]" of the group failed`)
          expect(view.steps[2].attempt).toBe(2)
          broken = false
          yield* o.retry(runId)
          yield* o.executePending()
          yield* TestClock.adjust("1 minute")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(view.steps[0].output).toEqual(["ok", "bad", "fine"])
        })
      ))

    it.effect("items that throw fail the step; an operator's cancel cancels the forEach and its members", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const throwing = pipeline(
            "Throwing",
            forEach("Each", {
              item: Schema.Number,
              items: () => {
                throw new Error("no items today")
              },
              step: {}
            })
          )
          const log = recorder()
          const waiting = invoicing(log, { waits: 5, after: Duration.hours(1) })
          const o = yield* orchestrator([throwing, waiting])
          const failed = yield* o.get(yield* o.start(throwing))
          expect(failed.status).toBe("failed")
          expect(failed.steps[0].error?.message).toContain("no items today")
          const runId = yield* o.start(waiting, { input: { customers: ["a", "b"] } })
          // members take no signals
          const refused = yield* Effect.flip(o.signal(runId, "Invoice[0]", "hello"))
          expect(refused).toMatchObject({ _tag: "InvalidOperation" })
          expect(refused.message).toContain("has no step")
          yield* o.cancel(runId, "stop")
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(view.steps.map((s) => s.status)).toEqual(["finished", "cancelled", "created", "cancelled", "cancelled"])

          expect(Mermaid.pipeline(waiting)).toContain("procs")
        })
      ))
  })
