/** Conditional steps (`when`), on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Mermaid, pipeline, step, Step, when } from "prorch"
import type { Backend } from "../backends.js"
import { runOn, statuses } from "../kit.js"

const Input = Schema.Struct({ notify: Schema.Boolean, amount: Schema.Number })

/** a pipeline: Charge (output the amount), Receipt when the input says so, then Close reading both */
const billing = (seen: Array<unknown>, ran: Array<string>) => {
  const charge = step("Charge", {
    input: Input,
    output: Schema.Number,
    onContinue: (ctx) =>
      Effect.sync(() => {
        ran.push("Charge")
        return Step.finish(ctx.input.amount)
      })
  })
  const receipt = when(
    (ctx) => ctx.input.notify && ctx.outputs.charged > 0,
    step("Receipt", {
      input: Input,
      needs: { charged: charge },
      output: Schema.String,
      onStart: () => Effect.sync(() => ran.push("Receipt.onStart")),
      onContinue: (ctx) =>
        Effect.sync(() => {
          ran.push("Receipt")
          return Step.finish(`receipt for ${ctx.outputs.charged}`)
        })
    })
  )
  const close = step("Close", {
    needs: { receipt, charged: charge },
    onContinue: (ctx) =>
      Effect.sync(() => {
        // the output of a conditional step is an Option
        const r: Option.Option<string> = ctx.outputs.receipt
        seen.push({ receipt: r, charged: ctx.outputs.charged })
        return Step.finish()
      })
  })
  return pipeline("Billing", { input: Input }, charge, receipt, close)
}

/** conditional steps */
export const conditions = (backend: Backend) =>
  describe(`conditions on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("when(false): the step is skipped (its handlers never run), the next step reads None, the run finishes", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const seen: Array<unknown> = []
          const ran: Array<string> = []
          const p = billing(seen, ran)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { input: { notify: false, amount: 12 } })
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["finished", "skipped", "finished"])
          expect(view.steps[1]).toMatchObject({ name: "Receipt", status: "skipped", output: undefined, error: null })
          expect(view.steps[1].endedAt).not.toBeNull()
          expect(view.steps[1].startedAt).toBeNull()
          expect(ran).toEqual(["Charge"])
          expect(seen).toEqual([{ receipt: Option.none(), charged: 12 }])
          const history = yield* o.history(runId)
          expect(history.filter((e) => e.step === "Receipt").map((e) => e.type)).toEqual(["skipped"])
          // a picture of the run colours the skipped step
          expect(Mermaid.run(view)).toContain(":::skipped")
        })
      ))

    it.effect("when(true): the step runs as any step, and the next step reads Some(output)", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const seen: Array<unknown> = []
          const ran: Array<string> = []
          const p = billing(seen, ran)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p, { input: { notify: true, amount: 5 } })
          const view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["finished", "finished", "finished"])
          expect(view.steps[1].output).toBe("receipt for 5")
          expect(ran).toEqual(["Charge", "Receipt.onStart", "Receipt"])
          expect(seen).toEqual([{ receipt: Option.some("receipt for 5"), charged: 5 }])
          // the predicate reads the outputs it needs: no charge, no receipt
          const zero = yield* o.start(p, { input: { notify: true, amount: 0 } })
          expect(statuses(yield* o.get(zero))).toEqual(["finished", "skipped", "finished"])
        })
      ))

    it.effect("a predicate that throws fails the step and the run, with its error; no handler of the step runs", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const ran: Array<string> = []
          const broken = when(
            () => {
              throw new Error("no rule for this customer")
            },
            step("Audit", { onContinue: () => Effect.sync(() => (ran.push("Audit"), Step.finish())) })
          )
          const odd = when(() => "yes" as unknown as boolean, step("Odd", {}))
          const p = pipeline("Audited", step("First", {}), broken, step("Last", {}))
          const q = pipeline("Odd", odd)
          const o = yield* orchestrator([p, q])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(statuses(view)).toEqual(["finished", "failed", "created"])
          expect(view.error?.message).toBe("no rule for this customer")
          expect(ran).toEqual([])
          const history = yield* o.history(runId)
          expect(history.find((e) => e.step === "Audit" && e.type === "failed")?.data).toMatchObject({ handler: "when" })
          const other = yield* o.start(q)
          const oddView = yield* o.get(other)
          expect(oddView.status).toBe("failed")
          expect(oddView.error?.message).toContain("not a boolean")
        })
      ))

    it.effect("a skipped step is final: cancel and retry leave it skipped, a signal to it is refused", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          let failNext = true
          const flaky = step("Flaky", {
            onContinue: () => Effect.sync(() => (failNext ? Step.fail("not yet") : Step.finish()))
          })
          const skipped = when(() => false, step("Maybe", { signal: Schema.String }))
          const p = pipeline("Flaky", skipped, flaky)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect(statuses(yield* o.get(runId))).toEqual(["skipped", "failed"])
          const refused = yield* Effect.flip(o.signal(runId, "Maybe", "hello"))
          expect(refused).toMatchObject({ _tag: "InvalidOperation", detail: "step \"Maybe\" has ended (skipped)" })
          failNext = false
          yield* o.retry(runId)
          yield* o.executePending()
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["skipped", "finished"])
          expect((yield* o.history(runId)).filter((e) => e.type === "skipped")).toHaveLength(1)
        })
      ))
  })
