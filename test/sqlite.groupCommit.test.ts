import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Either, Option } from "effect"
import { pipeline, SqliteRepository, step, Step } from "prorch"
import type { Commit, Snapshot } from "../src/Run.js"
import { sqliteFile, tmpFile } from "./support/backends.js"
import { withRepository } from "./support/suite.js"

/**
 * Group commit on SQLite: writes made at the same time by several fibers share one transaction
 * (one fsync), and each keeps its own result. The transactions are counted at the driver.
 */
const countCommits = () => {
  const probe = new Database(":memory:")
  const proto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<"run" | "all", (...args: Array<unknown>) => unknown>
  probe.close()
  const original = { run: proto.run, all: proto.all }
  let commits = 0
  for (const method of ["run", "all"] as const) {
    proto[method] = function(this: { source: string }, ...args: Array<unknown>) {
      if (this.source === "COMMIT") commits++
      return original[method].apply(this, args)
    }
  }
  return {
    /** the COMMITs since the last call */
    take: () => {
      const n = commits
      commits = 0
      return n
    },
    stop: () => {
      Object.assign(proto, original)
    }
  }
}

const counted = <A, E, R>(use: (counter: ReturnType<typeof countCommits>) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(Effect.sync(countCommits), use, (counter) => Effect.sync(() => counter.stop()))

const instant = (name: string) =>
  step(name, { onStart: () => Effect.void, onContinue: () => Effect.succeed(Step.finish()) })
const threeSteps = pipeline("Grouped", instant("A"), instant("B"), instant("C"))
const waiting = pipeline("Waiting", step("Wait", { onContinue: () => Effect.succeed(Step.wait()) }))

/** a commit that cancels a created run, made by hand */
const cancelling = (snapshot: Snapshot, at: number): Commit => ({
  run: { ...snapshot.run, status: "cancelled", version: snapshot.run.version + 1, updated_at: at, ended_at: at },
  previous: snapshot.run,
  steps: [],
  events: [{ run_uuid: snapshot.run.uuid, at, type: "cancelled", step: null, attempt: null, worker: "test", data: null }],
  expectedVersion: snapshot.run.version,
  consumedSignals: []
})

describe("group commit on a SQLite file", () => {
  const backend = sqliteFile()

  it.effect("50 runs started at once all finish whole, in fewer transactions than writes", () =>
    withRepository(backend.fresh(), (orchestrator, repository) =>
      counted((counter) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([threeSteps])
          const ids = yield* Effect.forEach(Array.from({ length: 50 }), () => o.start(threeSteps), {
            concurrency: 50
          })
          // one at a time, a run is 4 writes (its creation, then one per step), each its own transaction
          const commits = counter.take()
          expect(commits).toBeLessThan((50 * 4) / 2)
          expect(commits).toBeGreaterThan(0)
          for (const id of ids) {
            const run = yield* o.get(id)
            expect(run.status).toBe("finished")
            expect(run.steps.map((s) => s.status)).toEqual(["finished", "finished", "finished"])
            const history = yield* repository.history(id)
            expect(history.map((e) => e.seq)).toEqual(history.map((_, i) => i + 1))
            expect(history.map((e) => e.type)).toEqual([
              "created",
              ...["A", "B", "C"].flatMap(() => ["started", "continued", "finished"]),
              "finished"
            ])
          }
        })
      )
    ))

  it.effect("runs started one at a time: each write commits alone, in its own transaction", () =>
    withRepository(backend.fresh(), (orchestrator) =>
      counted((counter) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([threeSteps])
          const ids: Array<string> = []
          for (let i = 0; i < 40; i++) ids.push(yield* o.start(threeSteps))
          // the creation, then one commit per step
          expect(counter.take()).toBe(40 * 4)
          for (const id of ids) expect((yield* o.get(id)).status).toBe("finished")
        })
      )
    ))

  it.effect("without an fsync a commit (synchronous NORMAL) each write commits alone, unless groupCommit says so", () =>
    Effect.gen(function*() {
      const startAtOnce = (options: { readonly groupCommit?: boolean }) =>
        withRepository(
          SqliteRepository.layer({ filename: tmpFile(), synchronous: "NORMAL", ...options }),
          (orchestrator) =>
            counted((counter) =>
              Effect.gen(function*() {
                const o = yield* orchestrator([threeSteps])
                const ids = yield* Effect.forEach(Array.from({ length: 30 }), () => o.start(threeSteps), {
                  concurrency: 30
                })
                const commits = counter.take()
                for (const id of ids) expect((yield* o.get(id)).status).toBe("finished")
                return commits
              })
            )
        )
      expect(yield* startAtOnce({})).toBe(30 * 4)
      expect(yield* startAtOnce({ groupCommit: true })).toBeLessThan((30 * 4) / 2)
    }))

  it.effect("a conflicting commit in a group fails alone, with its VersionConflict; the others commit", () =>
    withRepository(backend.fresh(), (orchestrator, repository) =>
      counted((counter) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([waiting])
          const [a, b] = yield* Effect.all([o.create(waiting), o.create(waiting), o.create(waiting)], {
            concurrency: "unbounded"
          })
          const runA = Option.getOrThrow(yield* repository.load(a))
          const runB = Option.getOrThrow(yield* repository.load(b))
          counter.take()
          const [first, second, other] = yield* Effect.all(
            [
              Effect.either(repository.commit(cancelling(runA, 10))),
              Effect.either(repository.commit(cancelling(runA, 20))),
              Effect.either(repository.commit(cancelling(runB, 30)))
            ],
            { concurrency: "unbounded" }
          )
          // the three were one transaction
          expect(counter.take()).toBe(1)
          expect(Either.isRight(first)).toBe(true)
          expect(Either.isLeft(second) && second.left._tag).toBe("VersionConflict")
          expect(Either.isRight(other)).toBe(true)
          // the winner's change once, nothing of the loser's
          const historyA = yield* repository.history(a)
          expect(historyA.filter((e) => e.type === "cancelled").map((e) => e.at)).toEqual([10])
          expect(Option.getOrThrow(yield* repository.load(a)).run.version).toBe(runA.run.version + 1)
          expect((yield* o.get(b)).status).toBe("cancelled")
        })
      )
    ))

  it.effect("a write that fails in a group runs again alone and gets its own error; the others commit", () =>
    withRepository(backend.fresh(), (orchestrator, repository) =>
      Effect.gen(function*() {
        const o = yield* orchestrator([waiting])
        const [a, b] = yield* Effect.all([o.create(waiting), o.create(waiting), o.create(waiting)], {
          concurrency: "unbounded"
        })
        const runA = Option.getOrThrow(yield* repository.load(a))
        const runB = Option.getOrThrow(yield* repository.load(b))
        // a history row in the way of A's next event: A's commit breaks the table's primary key
        const next = (yield* repository.history(a)).length + 1
        yield* backend.sql!(
          `INSERT INTO prorch_history (run_uuid, seq, at, type) VALUES ('${a}', ${next}, 0, 'signalled')`
        )
        const [failed, committed] = yield* Effect.all(
          [
            Effect.either(repository.commit(cancelling(runA, 10))),
            Effect.either(repository.commit(cancelling(runB, 20)))
          ],
          { concurrency: "unbounded" }
        )
        expect(Either.isLeft(failed) && failed.left._tag).toBe("RepositoryError")
        expect(Either.isLeft(failed) && failed.left.message).toContain("UNIQUE constraint failed")
        expect(Either.isRight(committed)).toBe(true)
        // A is as it was (its commit rolled back whole), B's commit is there
        const storedA = Option.getOrThrow(yield* repository.load(a))
        expect(storedA.run.status).toBe("created")
        expect(storedA.run.version).toBe(runA.run.version)
        expect((yield* o.get(b)).status).toBe("cancelled")
        expect((yield* repository.history(b)).filter((e) => e.type === "cancelled")).toHaveLength(1)
      })
    ))
})
