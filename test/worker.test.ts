/** The public Worker module: `Worker.pass` and `Worker.run` over the Orchestrator service. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Orchestrator, pipeline, step, Step, Worker } from "prorch"
import { TestOrchestrator } from "prorch/Test"
import { advance, recorder } from "./support/kit.js"

describe("Worker", () => {
  const log = recorder()
  const p = pipeline("Twice", step("Only", {
    onContinue: (ctx) => Effect.as(log.record(`call ${ctx.continuations}`), ctx.continuations < 1 ? Step.wait({ after: "1 second" }) : Step.finish())
  }))

  it.effect("pass ticks each due run once and says what it did", () =>
    Effect.gen(function*() {
      yield* Orchestrator.create(p)
      yield* Orchestrator.create(p)
      expect(yield* Worker.pass()).toMatchObject({ ticked: 2, waiting: 2, finished: 0, errors: [] })
      expect(yield* Worker.pass()).toMatchObject({ ticked: 0 }) // their timers are not due
    }).pipe(Effect.provide(TestOrchestrator.layer([p]))))

  it.effect("run claims the due runs, sleeps until their timers, and ends when interrupted", () =>
    Effect.gen(function*() {
      const runId = yield* Orchestrator.create(p)
      const worker = yield* Effect.fork(Effect.scoped(Worker.run({ concurrency: 2 })))
      yield* advance("3 seconds")
      expect((yield* Orchestrator.get(runId)).status).toBe("finished")
      yield* Fiber.interrupt(worker)
    }).pipe(Effect.provide(TestOrchestrator.layer([p]))))
})
