/** Leases: renewal, take-over, lost leases, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Fiber, Option, TestClock } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { advance, backupPipeline, capture, recorder, runOn, settle, statuses } from "../kit.js"

/** leases: renewal, take-over, lost leases */
export const leases = (backend: Backend) =>
  describe(`leases on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("a stale commit is a typed VersionConflict and writes nothing", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 3)
          const o = yield* orchestrator([backup])
          const runId = yield* o.start(backup)
          const loaded = (yield* repository.load(runId)).pipe((o) => (o._tag === "Some" ? o.value : undefined))!
          const stale = { ...loaded.run, revision: loaded.run.revision }
          const result = yield* Effect.either(
            repository.commit({
              run: { ...stale, status: "cancelled", revision: stale.revision },
              steps: [],
              events: [],
              expectedRevision: stale.revision - 1,
              consumedSignals: []
            })
          )
          expect(Either.isLeft(result) && result.left._tag).toBe("VersionConflict")
          expect((yield* o.get(runId)).status).toBe("pending")
        })
      ))


    it.effect("a tick whose lease is taken during a pass is stopped and reported as LeaseLost", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = pipeline(
            "Stolen",
            step("Slow", {
              onContinue: () => Effect.as(Effect.zipRight(Effect.sleep("1 minute"), log.record("done")), Step.finish())
            })
          )
          const o = yield* orchestrator([p], { leaseDuration: "30 seconds" })
          const steal = (runId: string) =>
            Effect.gen(function*() {
              const run = Option.getOrThrow(yield* repository.load(runId)).run
              expect(run.lease_owner).toBe(o.owner)
              // the thief holds it for an hour: no worker of this test may claim it back meanwhile
              yield* repository.commit({
                run: {
                  ...run,
                  lease_owner: "thief",
                  lease_expires_at: (yield* Clock.currentTimeMillis) + 3_600_000,
                  revision: run.revision + 1
                },
                steps: [],
                events: [],
                expectedRevision: run.revision,
                consumedSignals: []
              })
            })

          // in a pass: the summary names the run
          const first = yield* o.create(p)
          const pass = yield* Effect.fork(o.executePending())
          yield* settle
          yield* steal(first)
          yield* advance("15 seconds", "5 seconds")
          const summary = yield* Fiber.join(pass)
          expect(summary.errors.map((e) => [e.runId, e.error._tag])).toEqual([[first, "LeaseLost"]])

          // in a worker: a warning, through the application's logger
          const second = yield* o.create(p)
          const logged = capture()
          const worker = yield* Effect.fork(Effect.scoped(o.worker()).pipe(Effect.provide(logged.layer)))
          yield* settle
          yield* steal(second)
          yield* advance("15 seconds", "5 seconds")
          expect(logged.messages.some((m) => m.includes(`lost its lease on run ${second}`))).toBe(true)
          yield* Fiber.interrupt(worker)
          expect(log.calls).toEqual([])
        })
      ))


    it.effect("a long tick renews its lease, so that no other worker takes the run", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = pipeline(
            "LongTick",
            step("Long", {
              onContinue: () => Effect.as(Effect.zipRight(Effect.sleep("2 minutes"), log.record("long")), Step.finish())
            })
          )
          const a = yield* orchestrator([p], { owner: "worker-a", leaseDuration: "30 seconds" })
          const b = yield* orchestrator([p], { owner: "worker-b", leaseDuration: "30 seconds" })
          const runId = yield* a.create(p)
          const first = yield* Effect.fork(a.executePending())
          yield* settle
          for (let i = 0; i < 12; i++) {
            yield* advance("10 seconds", "5 seconds")
            const other = yield* b.executePending()
            expect(other.ticked).toBe(0)
          }
          yield* Fiber.join(first)
          expect(log.calls).toEqual(["long"])
          const run = Option.getOrThrow(yield* repository.load(runId)).run
          expect(run.status).toBe("finished")
          expect(run.lease_owner).toBeNull()
        })
      ))


    it.effect("a worker whose lease expired is taken over; the lost lease aborts its tick without writing", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const calls: Array<string> = []
          const p = pipeline(
            "TakeOver",
            step("Slow", {
              onContinue: (ctx) =>
                Effect.gen(function*() {
                  calls.push(`start ${ctx.stepRunId}`)
                  yield* Effect.sleep("1 minute")
                  calls.push(`end ${ctx.stepRunId}`)
                  return Step.finish()
                })
            })
          )
          const a = yield* orchestrator([p], { owner: "worker-a", leaseDuration: "30 seconds" })
          const runId = yield* a.create(p)
          // worker a claims the run, and then stops renewing: it is frozen (a long GC pause)
          const claimed = yield* repository.claim({
            owner: "worker-a",
            now: 0,
            leaseExpiresAt: 30_000,
            limit: 10,
            names: ["TakeOver"],
            after: undefined
          })
          expect(claimed.claimed).toHaveLength(1)
          const b = yield* orchestrator([p], { owner: "worker-b", leaseDuration: "30 seconds" })
          expect((yield* b.executePending()).ticked).toBe(0)
          yield* TestClock.adjust("30 seconds")
          const takeover = yield* Effect.fork(b.executePending())
          yield* advance("1 minute", "10 seconds")
          expect(yield* Fiber.join(takeover)).toMatchObject({ ticked: 1, finished: 1 })
          const history = yield* b.history(runId)
          const lost = history.find((e) => e.type === "lease_lost")
          expect(lost).toMatchObject({ worker: "worker-b", data: { previousOwner: "worker-a" } })
          expect(history.filter((e) => e.type === "finished" && e.step === "Slow")[0].worker).toBe("worker-b")

          // a third worker's lease is stolen mid-tick: it stops without writing
          const c = yield* orchestrator([p], { owner: "worker-c", leaseDuration: "30 seconds" })
          const second = yield* c.create(p)
          const tick = yield* Effect.fork(Effect.either(c.tick(second)))
          yield* settle
          const before = Option.getOrThrow(yield* repository.load(second)).run
          expect(before.lease_owner).toBe("worker-c")
          // the lease is taken away (as a claim after expiry would): the next renewal notices
          yield* repository.commit({
            run: { ...before, lease_owner: "worker-d", revision: before.revision + 1 },
            steps: [],
            events: [],
            expectedRevision: before.revision,
            consumedSignals: []
          })
          yield* advance("15 seconds", "5 seconds")
          const result = yield* Fiber.join(tick)
          expect(result._tag === "Left" && result.left._tag).toBe("LeaseLost")
          const after = Option.getOrThrow(yield* repository.load(second))
          expect(after.run.lease_owner).toBe("worker-d")
          expect(after.run.revision).toBe(before.revision + 1)
          expect(statuses(after)).toEqual(["created"])
          expect(calls.filter((c) => c.startsWith("end"))).toHaveLength(1)
        })
      ))

  })
