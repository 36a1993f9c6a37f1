/** A fan-out of 10,000 members run to its end on one backend: every member once, the output in order, ticks of bounded size. */
import { Effect, Layer, Schema } from "effect"
import { forEach, Orchestrator, pipeline, Step } from "prorch"
import type { Backend } from "./backends.js"
import { expect } from "vitest"

export const fanOutOf = async (backend: Backend, n: number) => {
  const calls = new Map<number, number>()
  const p = pipeline(
    "Wide",
    forEach("Each", {
      item: Schema.Number,
      items: () => Array.from({ length: n }, (_, i) => i),
      step: {
        output: Schema.Number,
        onContinue: (ctx) =>
          Effect.sync(() => {
            calls.set(ctx.item, (calls.get(ctx.item) ?? 0) + 1)
            return Step.finish(ctx.item * 2)
          })
      }
    })
  )
  await Effect.runPromise(
    Effect.gen(function*() {
      const o = yield* Orchestrator.make([p])
      const runId = yield* o.start(p)
      let passes = 0
      let view = yield* o.get(runId)
      while (view.status === "pending" && passes < 1000) {
        yield* o.executePending()
        passes++
        view = yield* o.get(runId)
      }
      expect(view.status).toBe("finished")
      const output = view.steps[0].output as ReadonlyArray<number>
      expect(output).toHaveLength(n)
      expect(output.every((x, i) => x === i * 2)).toBe(true)
      expect(view.steps).toHaveLength(n + 1)
      // every member called once (nothing crashed), in ticks of at most 500 members
      expect(calls.size).toBe(n)
      expect([...calls.values()].every((c) => c === 1)).toBe(true)
      expect(passes).toBeGreaterThanOrEqual(Math.ceil(n / 500) - 1)
      const history = yield* o.history(runId)
      expect(history.filter((e) => e.type === "finished").length).toBe(n + 2)
    }).pipe(Effect.provide(Layer.fresh(backend.fresh())), Effect.scoped)
  )
}
