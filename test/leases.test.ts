/** Leases against a storage that answers late or fails (issue 14's bugs), on the test kit. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Option, TestClock } from "effect"
import { Orchestrator, pipeline, Repository, step, Step } from "prorch"
import { TestOrchestrator, TestRepository } from "prorch/Test"
import { advance, recorder } from "./support/kit.js"

describe("leases", () => {
  it.effect("a renewal refused while the tick's own commit is on its way is not a take-over", () => {
    const log = recorder()
    const slow = (name: string) =>
      step(name, { onContinue: () => Effect.as(Effect.zipRight(Effect.sleep("250 millis"), log.record(name)), Step.finish()) })
    const p = pipeline("SlowReplies", slow("A"), slow("B"), slow("C"))
    // a memory repository whose commits land at once but answer 300 ms later
    const lateReplies = Layer.effect(
      Repository.Repository,
      Effect.map(Repository.Repository, (base): Repository.Service => ({
        ...base,
        commit: (commit) => Effect.zipLeft(base.commit(commit), Effect.sleep("300 millis"))
      }))
    ).pipe(Layer.provide(Repository.layerMemory))
    const warnings: Array<string> = []
    const logger = Logger.add(Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
    }))
    return Effect.gen(function*() {
      const started = yield* Effect.fork(Orchestrator.start(p))
      yield* advance("3 seconds", "50 millis")
      const runId = yield* Fiber.join(started)
      expect(warnings.filter((w) => w.includes("taken by another worker"))).toEqual([])
      expect((yield* Orchestrator.get(runId)).status).toBe("finished")
      expect(log.calls).toEqual(["A", "B", "C"])
    }).pipe(
      Effect.provide(TestOrchestrator.layer([p], { orchestrator: { leaseDuration: "600 millis" }, repository: lateReplies })),
      Effect.provide(logger)
    )
  })

  it.effect("after a failed commit, the run is due again within a second, not after its whole lease", () => {
    const log = recorder()
    const p = pipeline("Once", step("Only", { onContinue: () => Effect.as(log.record("Only"), Step.finish()) }))
    return Effect.gen(function*() {
      yield* TestRepository.failAt("commit")
      const runId = yield* Orchestrator.start(p) // its first tick's commit fails
      const repository = yield* Repository.Repository
      const run = Option.getOrThrow(yield* repository.load(runId)).run
      expect(run.lease_expires_at).toBe(1000)
      yield* TestClock.adjust("999 millis")
      expect((yield* Orchestrator.executePending()).ticked).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect(yield* Orchestrator.executePending()).toMatchObject({ ticked: 1, finished: 1 })
      expect(log.calls).toEqual(["Only", "Only"])
    }).pipe(Effect.provide(TestOrchestrator.layer([p])))
  })
})
