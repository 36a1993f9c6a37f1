/** Views: get, list, await, reports of unknown pipelines, the storage rules, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"
import { Errors, pipeline, type Run, step, Step } from "prorch"
import * as Rules from "../../../src/internal/rules.js"
import type { Backend } from "../backends.js"
import { backupPipeline, recorder, runOn, settle, threeSteps } from "../kit.js"

/** views: get, list, await, reports of unknown pipelines, the storage rules */
export const views = (backend: Backend) =>
  describe(`views on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("a run whose pipeline is not registered is a typed error in the pass summary; the other runs go on", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 0)
          const other = pipeline("Retired", step("Gone", {}))
          const all = yield* orchestrator([backup, other])
          const retired = yield* all.create(other)
          const kept = yield* all.create(backup)
          const some = yield* orchestrator([backup])
          const summary = yield* some.executePending()
          expect(summary.finished).toBe(1)
          expect(summary.errors).toHaveLength(1)
          expect(summary.errors[0].runId).toBe(retired)
          expect(summary.errors[0].error._tag).toBe("UnknownPipeline")
          expect((yield* some.get(kept)).status).toBe("finished")
          expect((yield* some.get(retired)).status).toBe("created")
          // an orchestrator that knows the pipeline picks it up
          expect(yield* all.executePending()).toMatchObject({ finished: 1, errors: [] })
        })
      ))


    it.effect("a pass reports the first 100 due runs of pipelines it does not know, in due order", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const other = pipeline("Retired", step("Gone", {}))
          const known = pipeline("Known", step("Only", {}))
          const all = yield* orchestrator([other, known])
          yield* TestClock.adjust(Duration.hours(1))
          // created in the reverse of their due order: 101 due, the last of them not reported
          const ids: Array<string> = []
          for (let i = 0; i < 101; i++) ids.unshift(yield* all.create(other, { at: new Date(1_000 * (101 - i)) }))
          const some = yield* orchestrator([known])
          const summary = yield* some.executePending()
          expect(summary.errors.map((e) => e.error._tag)).toEqual(Array.from({ length: 100 }, () => "UnknownPipeline"))
          expect(summary.errors.map((e) => e.runId)).toEqual(ids.slice(0, 100))
        })
      ))


    it.effect("await returns the final view when the run ends", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = threeSteps(log, 2)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const waiting = yield* Effect.fork(o.await(runId))
          yield* settle
          expect(waiting.unsafePoll()).toBeNull()
          for (let i = 0; i < 3; i++) {
            yield* TestClock.adjust("1 second")
            yield* o.executePending()
          }
          const view = yield* Fiber.join(waiting)
          expect(view.status).toBe("finished")
          expect((yield* Effect.flip(o.await("missing")))._tag).toBe("RunNotFound")
        })
      ))


    it.effect("list filters by pipeline, status and creation time, newest first, a page at a time", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const a = threeSteps(log, 100)
          const b = pipeline("Other", step("X", {}))
          const o = yield* orchestrator([a, b])
          const ids: Array<string> = []
          for (let i = 0; i < 5; i++) {
            ids.push(yield* o.start(a))
            yield* TestClock.adjust("1 minute")
          }
          const other = yield* o.start(b)
          const all = yield* o.list()
          expect(all.runs.map((r) => r.id)).toEqual([other, ...ids.slice().reverse()])
          const pending = yield* o.list({ pipeline: "ThreeSteps", status: "pending" })
          expect(pending.runs).toHaveLength(5)
          expect((yield* o.list({ status: ["finished"] })).runs.map((r) => r.id)).toEqual([other])
          const window = yield* o.list({ createdFrom: new Date(60_000), createdTo: new Date(180_000) })
          expect(window.runs.map((r) => r.id)).toEqual([ids[2], ids[1]])
          const page1 = yield* o.list({ pipeline: "ThreeSteps", limit: 2 })
          const page2 = yield* o.list({ pipeline: "ThreeSteps", limit: 2, cursor: page1.cursor })
          const page3 = yield* o.list({ pipeline: "ThreeSteps", limit: 2, cursor: page2.cursor })
          expect([...page1.runs, ...page2.runs, ...page3.runs].map((r) => r.id)).toEqual(ids.slice().reverse())
          expect(page3.cursor).toBeUndefined()
          expect(page1.runs[0]).toMatchObject({ pipeline: "ThreeSteps", status: "pending", currentStep: "B" })
          // a cursor that list did not return is refused, not read as "from the start"
          for (const cursor of ["garbage", `${page1.cursor}x`, "", Buffer.from("[1]").toString("base64url")]) {
            const refused = yield* Effect.flip(o.list({ pipeline: "ThreeSteps", limit: 2, cursor }))
            expect(refused).toMatchObject({ _tag: "InvalidCursor", cursor })
            expect(Errors.isInvalidCursor(refused)).toBe(true)
          }
        })
      ))


    it.effect("the storage claims and lists exactly what the shared rules say (due, due order, lease, list filter)", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const p = pipeline("Rules", step("Only", { onContinue: () => Effect.succeed(Step.wait({ after: "1 hour" })) }))
          const q = pipeline("Other", step("Only", { onContinue: () => Effect.succeed(Step.finish()) }))
          const o = yield* orchestrator([p, q])
          // runs due at scattered instants, some started (pending), some ended, some leased
          let seed = 7
          const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647
          const ids: Array<string> = []
          for (let i = 0; i < 30; i++) {
            const at = new Date(Math.floor(random() * 20) * 60_000)
            const kind = random()
            if (kind < 0.2) {
              const id = yield* o.start(q) // ends at once
              ids.push(id)
            } else if (kind < 0.4) {
              ids.push(yield* o.start(p)) // pending, due in an hour
            } else {
              ids.push(yield* o.create(p, { at }))
            }
            yield* TestClock.adjust("1 second")
          }
          yield* TestClock.adjust("30 minutes") // the created runs are due; the pending ones not yet
          const now = yield* Clock.currentTimeMillis
          // another worker holds three of the due runs
          const held = yield* repository.claim({
            owner: "someone-else",
            now,
            leaseExpiresAt: now + 300_000,
            limit: 3,
            names: ["Rules"],
            after: undefined
          })
          expect(held.claimed).toHaveLength(3)
          const records: Array<Run.RunRecord> = []
          for (const id of ids) records.push(Option.getOrThrow(yield* repository.load(id)).run)

          const expectedDue = records.filter((r) => r.name === "Rules" && Rules.isDue(r, now)).sort(Rules.byDueOrder)
          // the rules leave out the held, the not yet due and the ended runs, and keep some
          expect(expectedDue.length).toBeGreaterThan(3)
          expect(records.filter((r) => r.name === "Rules" && !Rules.isDue(r, now)).length).toBeGreaterThan(3)
          const claimed = yield* repository.claim({
            owner: "checker",
            now,
            leaseExpiresAt: now + 60_000,
            limit: 100,
            names: ["Rules"],
            after: undefined
          })
          expect(claimed.claimed.map((c) => c.snapshot.run.uuid)).toEqual(expectedDue.map((r) => r.uuid))
          // the lease a claim takes
          for (const c of claimed.claimed) {
            const before = records.find((r) => r.uuid === c.snapshot.run.uuid)!
            expect(c.snapshot.run).toEqual(Rules.leased(before, "checker", now + 60_000))
            expect(c.previousOwner).toBe(before.lease_owner)
          }
          // the list filter and its order
          const filter = { names: ["Rules"], statuses: ["created" as const], createdFrom: 5_000, createdTo: 25_000, limit: 100 }
          const listed = yield* repository.list(filter)
          const after = yield* Effect.forEach(ids, (id) => Effect.map(repository.load(id), (s) => Option.getOrThrow(s).run))
          const expectedList = after.filter((r) => Rules.listed(filter, r)).sort(Rules.newest)
          expect(listed.runs.map((r) => r.uuid)).toEqual(expectedList.map((r) => r.uuid))
        })
      ))

  })
