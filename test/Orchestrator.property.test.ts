/**
 * Property test of the orchestrator itself (not a model of it): random pipelines of 1 to 4 steps,
 * each step with a random script of handler outcomes (onStart succeeds or fails; onContinue waits,
 * finishes, fails, cancels, fails with a typed error or dies), run by the real `Orchestrator` on the
 * memory layer, one `executePending` pass at a time. After every pass the run's invariants are
 * checked against the pass before, and at the end the run's status is the one its script implies.
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, FastCheck as fc } from "effect"
import { Orchestrator, pipeline, Repository, type Run, step, Step } from "prorch"

type Answer = "wait" | "finish" | "fail" | "cancel" | "error" | "die"
interface Script {
  readonly startFails: boolean
  readonly answers: ReadonlyArray<Answer>
}

class Refused extends Data.TaggedError("Refused")<{}> {}

const answer = fc.constantFrom<Answer>("wait", "wait", "wait", "finish", "finish", "fail", "cancel", "error", "die")
const script: fc.Arbitrary<Script> = fc.record({
  startFails: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  answers: fc.array(answer, { maxLength: 6 })
})

/** what the scripts imply: the run's final status, and how many onContinue calls each step gets */
const expected = (scripts: ReadonlyArray<Script>) => {
  const continues = scripts.map(() => 0)
  for (const [i, s] of scripts.entries()) {
    if (s.startFails) return { status: "failed" as const, continues, started: i + 1 }
    for (const a of [...s.answers, "finish" as const]) {
      continues[i]++
      if (a === "wait") continue
      if (a === "finish") break
      return { status: a === "cancel" ? "cancelled" as const : "failed" as const, continues, started: i + 1 }
    }
  }
  return { status: "finished" as const, continues, started: scripts.length }
}

const terminal = (status: Run.StepStatus) =>
  status === "finished" || status === "failed" || status === "cancelled" || status === "skipped"
const rank: Record<Run.StepStatus, number> = { created: 0, pending: 1, finished: 2, failed: 2, cancelled: 2, skipped: 2 }

describe("Orchestrator (properties)", () => {
  it("random pipelines and handler outcomes, run by the real orchestrator, keep the run's invariants", () =>
    fc.assert(
      fc.asyncProperty(fc.array(script, { minLength: 1, maxLength: 4 }), async (scripts) => {
        const starts = scripts.map(() => 0)
        const continues = scripts.map(() => 0)
        let afterEnd = 0
        let ended = false
        const steps = scripts.map((s, i) =>
          step(`S${i}`, {
            onStart: () =>
              Effect.suspend(() => {
                if (ended) afterEnd++
                starts[i]++
                return s.startFails ? Effect.fail(new Refused()) : Effect.void
              }),
            onContinue: () =>
              Effect.suspend((): Effect.Effect<Step.Outcome<void, void>, Refused> => {
                if (ended) afterEnd++
                const a = s.answers[continues[i]++] ?? "finish"
                switch (a) {
                  case "wait":
                    return Effect.succeed(Step.wait())
                  case "finish":
                    return Effect.succeed(Step.finish())
                  case "fail":
                    return Effect.succeed(Step.fail("refused"))
                  case "cancel":
                    return Effect.succeed(Step.cancel("not needed"))
                  case "error":
                    return Effect.fail(new Refused())
                  case "die":
                    return Effect.die(new Error("boom"))
                }
              })
          })
        )
        const p = pipeline("Random", ...(steps as [typeof steps[0], ...Array<typeof steps[0]>]))
        const want = expected(scripts)

        await Effect.runPromise(
          Effect.gen(function*() {
            const o = yield* Orchestrator.make([p])
            const runId = yield* o.create(p)
            let before = yield* o.get(runId)
            for (let pass = 0; pass < 40 && !terminal(before.status); pass++) {
              yield* o.executePending()
              const view = yield* o.get(runId)
              const statuses = view.steps.map((s) => s.status)
              // a run is finished iff all its steps are
              expect(view.status === "finished").toBe(statuses.every((s) => s === "finished"))
              // at most one step pending, and only the first that has not finished
              expect(statuses.filter((s) => s === "pending").length).toBeLessThanOrEqual(1)
              const current = statuses.findIndex((s) => s !== "finished")
              statuses.forEach((s, i) => {
                if (i > current && current !== -1) expect(s).toBe("created")
              })
              // steps only move forward; ended steps stay as they are
              view.steps.forEach((s, i) => {
                const was = before.steps[i].status
                expect(rank[s.status]).toBeGreaterThanOrEqual(rank[was])
                if (terminal(was)) expect(s.status).toBe(was)
              })
              if (terminal(before.status)) expect(view.status).toBe(before.status)
              // onStart runs at most once per step (no retry policy here)
              for (const n of starts) expect(n).toBeLessThanOrEqual(1)
              ended = terminal(view.status)
              before = view
            }
            expect(before.status).toBe(want.status)
            expect(continues).toEqual(want.continues)
            expect(starts).toEqual(scripts.map((_, i) => (i < want.started ? 1 : 0)))
            // a run that ended is never ticked again
            yield* o.executePending()
            expect(afterEnd).toBe(0)
            expect((yield* o.get(runId)).status).toBe(want.status)
          }).pipe(Effect.provide(Repository.layerMemory), Effect.scoped)
        )
      }),
      { numRuns: 150 }
    ))
})
