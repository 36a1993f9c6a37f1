import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema, TestClock } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "./backends.js"
import { withRepository } from "./kit.js"

/** Bad data in SQL storage: each broken run is a typed error for that run, and the other runs go on. */
export const corruption = (backend: Backend & { readonly sql: NonNullable<Backend["sql"]> }, table: (name: string) => string) =>
  describe(`rows corrupted with SQL on ${backend.name}`, () => {
    const Job = Schema.Struct({ jobId: Schema.String })
    const waitOnce = step("Wait", {
      state: Job,
      onStart: (ctx) => Effect.succeed({ jobId: ctx.stepRunId }),
      onContinue: (ctx) => Effect.succeed(ctx.continuations === 0 ? Step.wait() : Step.finish())
    })
    const p = pipeline("Corruptible", { input: Schema.Struct({ n: Schema.Number }) }, waitOnce)

    it.effect("a run whose records no longer decode is a typed error in the summary; the others finish", () =>
      withRepository(backend.fresh(), (orchestrator) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([p])
          const ids: Array<string> = []
          for (let n = 0; n < 5; n++) ids.push(yield* o.start(p, { input: { n } }))
          const [badRun, badState, badInput, badStatus, fine] = ids
          yield* backend.sql(`UPDATE ${table("pipelines")} SET metadata = 'not json' WHERE uuid = '${badRun}'`)
          yield* backend.sql(
            `UPDATE ${table("pipeline_steps")} SET state = '{"jobId": 42}' WHERE pipeline_uuid = '${badState}'`
          )
          yield* backend.sql(`UPDATE ${table("pipelines")} SET input = '{"n": "seven"}' WHERE uuid = '${badInput}'`)
          yield* backend.sql(`UPDATE ${table("pipelines")} SET status = 'paused' WHERE uuid = '${badStatus}'`)

          const summary = yield* o.executePending()
          expect(summary.finished).toBe(1)
          const byRun = new Map(summary.errors.map((e) => [e.runId, e.error]))
          expect(byRun.get(badRun)?._tag).toBe("CorruptRecord")
          expect(byRun.get(badState)?._tag).toBe("DecodeError")
          expect(byRun.get(badState)?.message).toContain("state of step \"Wait\"")
          expect(byRun.get(badInput)?._tag).toBe("DecodeError")
          expect(byRun.get(badInput)?.message).toContain("pipeline input")
          expect((yield* o.get(fine)).status).toBe("finished")

          // nothing was lost: the broken runs are left as stored, and reading them is a typed error
          const read = yield* Effect.flip(o.get(badStatus))
          expect(read._tag).toBe("CorruptRecord")
          expect(read.message).toContain("paused")
          const state = yield* Effect.flip(o.get(badState))
          expect(state._tag).toBe("DecodeError")

          // repaired by hand, the run goes on from where it was
          yield* backend.sql(
            `UPDATE ${table("pipelines")} SET metadata = '{"current_step":"Wait"}', lease_owner = NULL, ` +
              `lease_expires_at = NULL WHERE uuid = '${badRun}'`
          )
          const again = yield* o.executePending()
          expect(again.finished).toBe(1)
          expect((yield* o.get(badRun)).status).toBe("finished")
        })
      ))

    it.effect("list shows the healthy runs and reports a corrupt one beside them; cancel still works on it", () =>
      withRepository(backend.fresh(), (orchestrator) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([p])
          const ids: Array<string> = []
          for (let n = 0; n < 3; n++) {
            ids.push(yield* o.start(p, { input: { n } }))
            yield* TestClock.adjust("1 second") // distinct creation times: a stable order
          }
          const bad = ids[1]
          yield* backend.sql(`UPDATE ${table("pipelines")} SET metadata = '{not json' WHERE uuid = '${bad}'`)

          for (const filter of [undefined, { status: "pending" as const }]) {
            const page = yield* o.list(filter)
            expect(page.runs.map((r) => r.id)).toEqual([ids[2], ids[0]])
            expect(page.corrupt.map((e) => e.runId)).toEqual([bad])
            expect(page.corrupt[0].message).toMatch(/^metadata = \{not json does not decode \(run /)
            expect(page.corrupt[0].message.length).toBeLessThan(400)
          }
          // pages of 2: the corrupt run counts, and the cursor goes past it
          const first = yield* o.list({ limit: 2 })
          expect([...first.runs.map((r) => r.id), ...first.corrupt.map((e) => e.runId)]).toEqual([ids[2], bad])
          const second = yield* o.list({ limit: 2, cursor: first.cursor })
          expect(second.runs.map((r) => r.id)).toEqual([ids[0]])
          expect(second.corrupt).toEqual([])

          // an operator's way out: cancel, without decoding the run
          yield* o.cancel(bad, "its records are broken")
          const history = yield* o.history(bad)
          expect(history[history.length - 1]).toMatchObject({ type: "cancelled", step: null, data: { reason: "its records are broken" } })
          expect((yield* o.executePending()).errors).toEqual([]) // no longer due
          const again = yield* Effect.flip(o.cancel(bad))
          expect(again._tag).toBe("InvalidOperation")
        })
      ))

    it.effect("a run whose records do not decode writes nothing when it is taken over, however often (no lease_lost)", () =>
      withRepository(backend.fresh(), (orchestrator) =>
        Effect.gen(function*() {
          const a = yield* orchestrator([p], { owner: "worker-a" })
          const b = yield* orchestrator([p], { owner: "worker-b" })
          const runId = yield* a.start(p, { input: { n: 1 } })
          yield* backend.sql(`UPDATE ${table("pipeline_steps")} SET state = '{"jobId": 42}' WHERE pipeline_uuid = '${runId}'`)
          const before = (yield* a.history(runId)).length
          // claimed by one worker after the other, each time once the last one's lease has run out
          for (const o of [a, b, a, b]) {
            const summary = yield* o.executePending()
            expect(summary.errors.map((e) => e.error._tag)).toEqual(["DecodeError"])
            yield* TestClock.adjust("31 seconds")
          }
          const history = yield* a.history(runId)
          expect(history.map((e) => e.type)).not.toContain("lease_lost")
          expect(history).toHaveLength(before)
        })
      ))

    const N = Schema.Struct({ n: Schema.Number })
    const produce = step("Produce", {
      input: N,
      output: Schema.Struct({ path: Schema.String }),
      onContinue: (ctx) => Effect.succeed(Step.finish({ path: `/out/${ctx.input.n}` }))
    })
    const consume = step("Consume", {
      needs: { produce },
      onContinue: (ctx) => Effect.succeed(ctx.continuations === 0 ? Step.wait() : Step.finish())
    })
    const q = pipeline("CorruptibleOutput", { input: N }, produce, consume)

    it.effect("a run whose stored step output no longer decodes is a typed error for that run; the others finish", () =>
      withRepository(backend.fresh(), (orchestrator) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([q])
          const ids: Array<string> = []
          for (let n = 0; n < 4; n++) ids.push(yield* o.start(q, { input: { n } }))
          const [badShape, badJson, fine, alsoFine] = ids
          // each run has finished Produce (its output stored) and waits in Consume, which needs it
          expect((yield* o.get(badShape)).steps[0].output).toEqual({ path: "/out/0" })
          expect((yield* o.get(badShape)).status).toBe("pending")
          yield* backend.sql(
            `UPDATE ${table("pipeline_steps")} SET output = '{"path": 42}' ` +
              `WHERE pipeline_uuid = '${badShape}' AND name = 'Produce'`
          )
          yield* backend.sql(
            `UPDATE ${table("pipeline_steps")} SET output = 'not json' ` +
              `WHERE pipeline_uuid = '${badJson}' AND name = 'Produce'`
          )

          const summary = yield* o.executePending()
          expect(summary.finished).toBe(2)
          expect(summary.errors.map((e) => e.runId).sort()).toEqual([badShape, badJson].sort())
          const byRun = new Map(summary.errors.map((e) => [e.runId, e.error]))
          for (const id of [badShape, badJson]) {
            expect(byRun.get(id)?._tag).toBe("DecodeError")
            expect(byRun.get(id)?.message).toContain("output of step \"Produce\"")
          }
          for (const id of [fine, alsoFine]) expect((yield* o.get(id)).status).toBe("finished")

          // nothing was lost: the broken runs are left as stored, and reading them is a typed error
          for (const id of [badShape, badJson]) {
            const read = yield* Effect.flip(o.get(id))
            expect(read._tag).toBe("DecodeError")
            expect(read.message).toContain("output of step \"Produce\"")
          }

          // repaired by hand, the run goes on from where it was
          yield* backend.sql(
            `UPDATE ${table("pipeline_steps")} SET output = '{"path": "/out/0"}' ` +
              `WHERE pipeline_uuid = '${badShape}' AND name = 'Produce'`
          )
          yield* backend.sql(
            `UPDATE ${table("pipelines")} SET lease_owner = NULL, lease_expires_at = NULL WHERE uuid = '${badShape}'`
          )
          const again = yield* o.executePending()
          expect(again.finished).toBe(1)
          const repaired = yield* o.get(badShape)
          expect(repaired.status).toBe("finished")
          expect(repaired.steps[0].output).toEqual({ path: "/out/0" })
        })
      ))
  })

/** A write tried again after it committed (its reply was lost) is recognised, not applied twice. */
export const retriedWrites = (backend: Backend) =>
  describe(`writes tried again after they committed, on ${backend.name}`, () => {
    const p = pipeline("Retried", step("Wait", { onContinue: () => Effect.succeed(Step.wait()) }))

    it.effect("a create and a commit repeated as they were: the run once, the change once", () =>
      withRepository(backend.fresh(), (orchestrator, repository) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([p])
          const runId = yield* o.create(p)
          const created = Option.getOrThrow(yield* repository.load(runId))
          const history = yield* repository.history(runId)
          // the same create again: its own run is there, so it did commit
          const again = yield* repository.create(created, history.map(({ seq: _, ...event }) => event))
          expect(again).toEqual({ _tag: "Created" })
          expect((yield* o.list({ pipeline: "Retried" })).runs.map((r) => r.id)).toEqual([runId])
          expect(yield* repository.history(runId)).toHaveLength(history.length)

          // a commit, then the same commit again: refused, nothing written twice
          const commit = {
            run: { ...created.run, status: "cancelled" as const, revision: created.run.revision + 1, ended_at: 1 },
            previous: created.run,
            steps: [],
            events: [{ ...history[0], type: "cancelled" as const }],
            expectedRevision: created.run.revision,
            consumedSignals: []
          }
          yield* repository.commit(commit)
          const second = yield* Effect.flip(repository.commit(commit))
          expect(second._tag).toBe("VersionConflict")
          expect((yield* repository.history(runId)).filter((e) => e.type === "cancelled")).toHaveLength(1)
          expect(Option.getOrThrow(yield* repository.load(runId)).run.revision).toBe(created.run.revision + 1)
        })
      ))

    it.effect("a signal repeated as it was: stored once, counted once, one history event", () =>
      withRepository(backend.fresh(), (orchestrator, repository) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const signal = { id: "signal-once", run_uuid: runId, step: "Wait", payload: "{}", created_at: 1 }
          const event = { run_uuid: runId, at: 1, type: "signalled" as const, step: "Wait", attempt: 1, worker: "test", data: null }
          expect(yield* repository.signal(signal, event, true)).toBe(true)
          // the same write again, as a retry after a lost reply sends it: recognised, not an error
          expect(yield* repository.signal(signal, event, true)).toBe(true)
          const loaded = Option.getOrThrow(yield* repository.load(runId))
          expect(loaded.signals.map((s) => s.id)).toEqual(["signal-once"])
          expect(loaded.run.pending_signals).toBe(1)
          expect((yield* repository.history(runId)).filter((e) => e.type === "signalled")).toHaveLength(1)
        })
      ))
  })
