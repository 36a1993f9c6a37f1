import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Orchestrator, pipeline, Repository, step, Step } from "prorch"
import { makeMapStore } from "./support/backends.js"


describe("four-operation adapter: a record that does not decode", () => {
  it.effect("list reports it beside the others, and cancel works on it without decoding it", () => {
    const { collections, store } = makeMapStore()
    const p = pipeline("Crud", step("Wait", { onContinue: () => Effect.succeed(Step.wait({ after: "1 hour" })) }))
    return Effect.gen(function*() {
      const good = yield* Orchestrator.start(p)
      yield* TestClock.adjust("1 second")
      const bad = yield* Orchestrator.start(p)
      const row = collections.get("pipelines")!.get(bad)!
      collections.get("pipelines")!.set(bad, { ...row, metadata: "{not json" })
      const page = yield* Orchestrator.list()
      expect(page.runs.map((r) => r.id)).toEqual([good])
      expect(page.corrupt.map((e) => e.runId)).toEqual([bad])
      expect(page.corrupt[0].message).toMatch(/^metadata = \{not json does not decode/)
      yield* Orchestrator.cancel(bad, "broken")
      expect(collections.get("pipelines")!.get(bad)!.status).toBe("cancelled")
      const steps = [...collections.get("pipeline_steps")!.values()].filter((s) => s.pipeline_uuid === bad)
      expect(steps.map((s) => s.status)).toEqual(["cancelled"])
      const history = yield* Orchestrator.history(bad)
      expect(history[history.length - 1]).toMatchObject({ type: "cancelled", data: { reason: "broken" } })
    }).pipe(Effect.provide(Orchestrator.layer([p])), Effect.provide(Repository.layerCrud(store)))
  })
})
