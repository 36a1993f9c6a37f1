/**
 * Property test of the orchestrator itself (not a model of it): random pipelines of 1 to 4 steps,
 * each step with a random script of handler outcomes (onStart succeeds or fails; onContinue waits,
 * finishes, fails, cancels, fails with a typed error or dies), run by the real `Orchestrator` on the
 * memory layer, one `executePending` pass at a time. After every pass the run's invariants are
 * checked against the pass before, and at the end the run's status is the one its script implies.
 * The second property does the same with parallel groups among the elements; the third with every
 * combinator: steps, conditional steps that are skipped, groups and fan-outs (`forEach`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, FastCheck as fc, Schema } from "effect"
import { forEach, Orchestrator, parallel, pipeline, Repository, type Run, step, Step, when } from "prorch"

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

/**
 * Handlers that play scripts, one per member (by its flat index): how often each was started and
 * continued, and how many calls came once the run had ended (`ended` is set by the property)
 */
const scripted = (flat: ReadonlyArray<Script>) => {
  const self = {
    starts: flat.map(() => 0),
    continues: flat.map(() => 0),
    afterEnd: 0,
    ended: false,
    onStart: (i: number) =>
      Effect.suspend(() => {
        if (self.ended) self.afterEnd++
        self.starts[i]++
        return flat[i].startFails ? Effect.fail(new Refused()) : Effect.void
      }),
    onContinue: (i: number) =>
      Effect.suspend((): Effect.Effect<Step.Outcome<void, void>, Refused> => {
        if (self.ended) self.afterEnd++
        const a = flat[i].answers[self.continues[i]++] ?? "finish"
        return a === "wait"
          ? Effect.succeed(Step.wait())
          : a === "finish"
          ? Effect.succeed(Step.finish())
          : a === "fail"
          ? Effect.succeed(Step.fail("refused"))
          : a === "cancel"
          ? Effect.succeed(Step.cancel("not needed"))
          : a === "error"
          ? Effect.fail(new Refused())
          : Effect.die(new Error("boom"))
      })
  }
  return self
}

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

  it("random pipelines with parallel groups, run by the real orchestrator: members progress together, the first member to fail or cancel ends its group", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(script, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        async (layout, grouped) => {
          // elements: a group (when `grouped` says so, or for more than one member) or a step
          const flat = layout.flat()
          const play = scripted(flat)
          const { continues, starts } = play
          const stepOf = (_: Script, i: number) =>
            step(`S${i}`, { onStart: () => play.onStart(i), onContinue: () => play.onContinue(i) })
          let at = 0
          const elements = layout.map((members, e) => {
            const built = members.map((m) => stepOf(m, at++))
            return members.length > 1 || grouped[e] ? parallel(...(built as [typeof built[0]])) : built[0]
          })
          const p = pipeline("RandomGroups", ...(elements as [typeof elements[0]]))
          // the model: each member's end, as the pass of the group it ends in and how
          const endOf = (s: Script): { readonly pass: number; readonly how: "finished" | "failed" | "cancelled" } => {
            if (s.startFails) return { pass: 1, how: "failed" }
            const answers = [...s.answers, "finish" as const]
            const k = answers.findIndex((a) => a !== "wait")
            const a = answers[k]
            return { pass: k + 1, how: a === "finish" ? "finished" : a === "cancel" ? "cancelled" : "failed" }
          }

          await Effect.runPromise(
            Effect.gen(function*() {
              const o = yield* Orchestrator.make([p])
              const runId = yield* o.create(p)
              let before = yield* o.get(runId)
              for (let pass = 0; pass < 60 && !terminal(before.status); pass++) {
                yield* o.executePending()
                const view = yield* o.get(runId)
                const statuses = view.steps.map((s) => s.status)
                expect(view.status === "finished").toBe(statuses.every((s) => s === "finished"))
                // pending steps are all members of the first element that has not ended; later ones are created
                const current = statuses.findIndex((s) => !terminal(s))
                const group = current < 0 ? undefined : p.group(current)
                const end = group?.[1] ?? current + 1
                statuses.forEach((s, i) => {
                  if (current >= 0 && i >= end) expect(s).toBe("created")
                  if (s === "pending") expect(i >= current && i < end).toBe(true)
                })
                view.steps.forEach((s, i) => {
                  const was = before.steps[i].status
                  expect(rank[s.status]).toBeGreaterThanOrEqual(rank[was])
                  if (terminal(was)) expect(s.status).toBe(was)
                })
                // a run that ended has no member left pending
                if (terminal(view.status)) expect(statuses).not.toContain("pending")
                for (const n of starts) expect(n).toBeLessThanOrEqual(1)
                play.ended = terminal(view.status)
                before = view
              }
              // what the model allows: elements run in order; in the element that ends the run, the
              // members that end badly first (in the same pass, any of them) decide how
              let offset = 0
              let status: ReadonlyArray<string> = ["finished"]
              for (const members of layout) {
                const ends = members.map(endOf)
                const bad = ends.filter((x) => x.how !== "finished")
                const first = Math.min(...bad.map((x) => x.pass))
                members.forEach((_, m) => {
                  const i = offset + m
                  const k = ends[m].pass
                  if (bad.length === 0) {
                    expect(continues[i]).toBe(members[m].startFails ? 0 : k)
                    expect(starts[i]).toBe(1)
                  } else {
                    // members are called in every pass until their group ends (the last call may be cut short)
                    const most = Math.min(k, first)
                    expect(continues[i]).toBeLessThanOrEqual(members[m].startFails ? 0 : most)
                    expect(continues[i]).toBeGreaterThanOrEqual(members[m].startFails ? 0 : Math.min(k, first - 1))
                  }
                })
                if (bad.length > 0) {
                  status = bad.filter((x) => x.pass === first).map((x) => x.how)
                  for (let i = offset + members.length; i < flat.length; i++) {
                    expect(starts[i]).toBe(0)
                    expect(continues[i]).toBe(0)
                  }
                  break
                }
                offset += members.length
              }
              expect(status).toContain(before.status)
              yield* o.executePending()
              expect(play.afterEnd).toBe(0)
              expect((yield* o.get(runId)).status).toBe(before.status)
            }).pipe(Effect.provide(Repository.layerMemory), Effect.scoped)
          )
        }
      ),
      { numRuns: 150 }
    ))

  it("random pipelines of every combinator (steps, skipped steps, groups, forEach), run by the real orchestrator, keep the run's invariants", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            kind: fc.constantFrom("step", "skipped", "group", "forEach"),
            scripts: fc.array(script, { minLength: 1, maxLength: 3 })
          }),
          { minLength: 1, maxLength: 3 }
        ),
        async (layout) => {
          // one script per member (a step, or skipped step, has one: its first)
          const elements = layout.map((e) => (e.kind === "step" || e.kind === "skipped" ? { ...e, scripts: e.scripts.slice(0, 1) } : e))
          const flat = elements.flatMap((e) => e.scripts)
          const play = scripted(flat)
          const { continues, starts, onContinue, onStart } = play
          // the flat index of each record by name, and the element of each name
          const indexOf = new Map<string, number>()
          const elementOf = new Map<string, number>()
          let at = 0
          const built = elements.map((e, k) => {
            const offset = at
            at += e.scripts.length
            if (e.kind === "forEach") {
              e.scripts.forEach((_, m) => {
                indexOf.set(`F${k}[${m}]`, offset + m)
                elementOf.set(`F${k}[${m}]`, k)
              })
              elementOf.set(`F${k}`, k)
              return forEach(`F${k}`, {
                item: Schema.Number,
                items: () => e.scripts.map((_, m) => m),
                step: { onStart: (ctx) => onStart(offset + ctx.item), onContinue: (ctx) => onContinue(offset + ctx.item) }
              })
            }
            const members = e.scripts.map((_, m) => {
              const i = offset + m
              indexOf.set(`S${i}`, i)
              elementOf.set(`S${i}`, k)
              return step(`S${i}`, { onStart: () => onStart(i), onContinue: () => onContinue(i) })
            })
            if (e.kind === "skipped") return when(() => false, members[0])
            return e.kind === "group" ? parallel(...(members as [typeof members[0]])) : members[0]
          })
          const p = pipeline("Everything", ...(built as [typeof built[0]]))
          const endOf = (s: Script) => {
            if (s.startFails) return { pass: 1, how: "failed" as const }
            const answers = [...s.answers, "finish" as const]
            const k = answers.findIndex((a) => a !== "wait")
            const a = answers[k]
            return { pass: k + 1, how: a === "finish" ? "finished" as const : a === "cancel" ? "cancelled" as const : "failed" as const }
          }

          await Effect.runPromise(
            Effect.gen(function*() {
              const o = yield* Orchestrator.make([p])
              const runId = yield* o.create(p)
              let before = yield* o.get(runId)
              for (let pass = 0; pass < 60 && !terminal(before.status); pass++) {
                yield* o.executePending()
                const view = yield* o.get(runId)
                expect(view.status === "finished").toBe(view.steps.every((s) => s.status === "finished" || s.status === "skipped"))
                // every record that has not ended belongs to the first element that has not ended
                const open = view.steps.filter((s) => !terminal(s.status))
                const current = Math.min(...open.map((s) => elementOf.get(s.name)!))
                for (const s of view.steps) {
                  const e = elementOf.get(s.name)!
                  if (s.status === "pending") expect(e).toBe(current)
                  if (e > current) expect(s.status).toBe("created")
                }
                // records only move forward
                const was = new Map(before.steps.map((s) => [s.name, s.status]))
                for (const s of view.steps) {
                  const w = was.get(s.name)
                  if (w === undefined) continue
                  expect(rank[s.status]).toBeGreaterThanOrEqual(rank[w])
                  if (terminal(w)) expect(s.status).toBe(w)
                }
                if (terminal(view.status)) expect(view.steps.map((s) => s.status)).not.toContain("pending")
                for (const n of starts) expect(n).toBeLessThanOrEqual(1)
                play.ended = terminal(view.status)
                before = view
              }
              // the model: elements in order; skipped steps never run; in the element that ends the
              // run, the members that end badly first decide how
              let offset = 0
              let status: ReadonlyArray<string> = ["finished"]
              for (const e of elements) {
                if (e.kind === "skipped") {
                  expect(starts[offset]).toBe(0)
                  expect(continues[offset]).toBe(0)
                  offset += 1
                  continue
                }
                const ends = e.scripts.map(endOf)
                const bad = ends.filter((x) => x.how !== "finished")
                const first = Math.min(...bad.map((x) => x.pass))
                e.scripts.forEach((sc, m) => {
                  const i = offset + m
                  const k = ends[m].pass
                  if (bad.length === 0) {
                    expect(continues[i]).toBe(sc.startFails ? 0 : k)
                  } else {
                    expect(continues[i]).toBeLessThanOrEqual(sc.startFails ? 0 : Math.min(k, first))
                    expect(continues[i]).toBeGreaterThanOrEqual(sc.startFails ? 0 : Math.min(k, first - 1))
                  }
                })
                if (bad.length > 0) {
                  status = bad.filter((x) => x.pass === first).map((x) => x.how)
                  for (let i = offset + e.scripts.length; i < flat.length; i++) {
                    expect(starts[i]).toBe(0)
                    expect(continues[i]).toBe(0)
                  }
                  break
                }
                offset += e.scripts.length
              }
              expect(status).toContain(before.status)
              yield* o.executePending()
              expect(play.afterEnd).toBe(0)
              expect((yield* o.get(runId)).status).toBe(before.status)
            }).pipe(Effect.provide(Repository.layerMemory), Effect.scoped)
          )
        }
      ),
      { numRuns: 150 }
    ))
})
