/**
 * Child pipelines under a crash: the tick that started a child dies before its commit; the child
 * step's start is repeated with the same step run id after the lease expires, and finds the child
 * it had started (one child, never two).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { child, Orchestrator, pipeline, step, Step } from "prorch"
import { TestOrchestrator, TestRepository } from "prorch/Test"

describe("child pipelines, crashed", () => {
  const started: Array<string> = []
  const inner = pipeline(
    "Inner",
    step("Work", { onContinue: (ctx) => Effect.sync(() => (started.push(ctx.runId), Step.finish())) })
  )
  const outer = pipeline("Outer", child("RunInner", inner), step("After"))

  it.effect("a crash before the commit of the child step's start: the repeated start finds the same child", () =>
    Effect.gen(function*() {
      yield* TestRepository.crash({
        when: "before",
        match: (commit) => commit.steps.some((s) => s.name === "RunInner" && s.status !== "created")
      })
      const parentId = yield* Orchestrator.start(outer)
      // the dead tick wrote nothing, but the child run it created is there
      expect((yield* Orchestrator.get(parentId)).steps.map((s) => s.status)).toEqual(["created", "created"])
      expect((yield* Orchestrator.list({ parent: parentId })).runs).toHaveLength(1)
      const run = yield* TestOrchestrator.runUntilSettled(parentId)
      expect(run.status).toBe("finished")
      const children = (yield* Orchestrator.list({ parent: parentId })).runs
      expect(children).toHaveLength(1)
      expect(run.children).toEqual([{ step: "RunInner", runId: children[0].id }])
      expect(started).toEqual([children[0].id])
    }).pipe(Effect.provide(TestOrchestrator.layer([outer, inner]))))
})
