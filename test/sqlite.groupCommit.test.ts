import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, type Layer, Option } from "effect"
import { type Orchestrator, pipeline, type Repository, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { recordStatements } from "../bench/floors.js"
import type { Commit, Snapshot } from "../src/Run.js"
import { sqliteFile, tmpFile } from "./support/backends.js"
import { withRepository } from "./support/kit.js"

/**
 * Group commit on SQLite: writes made at the same time by several fibers share one transaction
 * (one fsync), and each keeps its own result. The transactions are counted at the driver, with the
 * benchmark suite's recorder.
 */
const countTransactions = () => {
  const recorder = recordStatements()
  let from = 0
  return {
    /** count from here on */
    mark: () => {
      from = recorder.statements.length
    },
    /** how many times `sql` ran since the mark */
    count: (sql: "COMMIT" | "ROLLBACK") => recorder.statements.slice(from).filter(([text]) => text === sql).length,
    stop: () => {
      recorder.stop()
    }
  }
}

const counted = <A, E, R>(use: (counter: ReturnType<typeof countTransactions>) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(Effect.sync(countTransactions), use, (counter) => Effect.sync(() => counter.stop()))

const instant = (name: string) =>
  step(name, { onStart: () => Effect.void, onContinue: () => Effect.succeed(Step.finish()) })
const threeSteps = pipeline("Grouped", instant("A"), instant("B"), instant("C"))
const waiting = pipeline("Waiting", step("Wait", { onContinue: () => Effect.succeed(Step.wait()) }))

/**
 * Three runs of `waiting` created at once (one group: the next writes look for company), and
 * the first two as stored.
 */
const threeCreated = (o: Orchestrator.Service, repository: Repository.Service) =>
  Effect.gen(function*() {
    const [a, b] = yield* Effect.all([o.create(waiting), o.create(waiting), o.create(waiting)], {
      concurrency: "unbounded"
    })
    return {
      a,
      b,
      runA: Option.getOrThrow(yield* repository.load(a)),
      runB: Option.getOrThrow(yield* repository.load(b))
    }
  })

/** a commit that cancels a created run, made by hand */
const cancelling = (snapshot: Snapshot, at: number): Commit => ({
  run: { ...snapshot.run, status: "cancelled", revision: snapshot.run.revision + 1, updated_at: at, ended_at: at },
  previous: snapshot.run,
  steps: [],
  events: [{ run_uuid: snapshot.run.uuid, at, type: "cancelled", step: null, attempt: null, worker: "test", data: null }],
  expectedRevision: snapshot.run.revision,
  consumedSignals: []
})

/**
 * Start `runs` runs of `threeSteps`, `concurrency` at a time, on a fresh repository; check that
 * each finished whole (its steps, its history in order), and return the COMMITs they took.
 */
const startRuns = (layer: Layer.Layer<Repository.Repository, unknown>, runs: number, concurrency: number) =>
  withRepository(layer, (orchestrator, repository) =>
    counted((counter) =>
      Effect.gen(function*() {
        const o = yield* orchestrator([threeSteps])
        const ids = yield* Effect.forEach(Array.from({ length: runs }), () => o.start(threeSteps), { concurrency })
        const commits = counter.count("COMMIT")
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
        return commits
      })
    ))

/** one at a time, a run is 4 writes (its creation, then one per step), each its own transaction */
const writesPerRun = 4

describe("group commit on a SQLite file", () => {
  const backend = sqliteFile()

  it.effect("50 runs started at once all finish whole, in fewer transactions than writes", () =>
    Effect.gen(function*() {
      const commits = yield* startRuns(backend.fresh(), 50, 50)
      expect(commits).toBeLessThan((50 * writesPerRun) / 2)
      expect(commits).toBeGreaterThan(0)
    }))

  it.effect("runs started one at a time: each write commits alone, in its own transaction", () =>
    Effect.gen(function*() {
      expect(yield* startRuns(backend.fresh(), 40, 1)).toBe(40 * writesPerRun)
    }))

  it.effect("without an fsync a commit (synchronous NORMAL) each write commits alone, unless groupCommit says so", () =>
    Effect.gen(function*() {
      const normal = (options: { readonly groupCommit?: boolean }) =>
        SqliteRepository.layer({ filename: tmpFile(), synchronous: "NORMAL", ...options })
      expect(yield* startRuns(normal({}), 30, 30)).toBe(30 * writesPerRun)
      expect(yield* startRuns(normal({ groupCommit: true }), 30, 30)).toBeLessThan((30 * writesPerRun) / 2)
    }))

  it.effect("a conflicting commit in a group fails alone, with its VersionConflict; the others commit", () =>
    withRepository(backend.fresh(), (orchestrator, repository) =>
      counted((counter) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([waiting])
          const { a, b, runA, runB } = yield* threeCreated(o, repository)
          counter.mark()
          const [first, second, other] = yield* Effect.all(
            [
              Effect.either(repository.commit(cancelling(runA, 10))),
              Effect.either(repository.commit(cancelling(runA, 20))),
              Effect.either(repository.commit(cancelling(runB, 30)))
            ],
            { concurrency: "unbounded" }
          )
          // the three were one transaction
          expect(counter.count("COMMIT")).toBe(1)
          expect(Either.isRight(first)).toBe(true)
          expect(Either.isLeft(second) && second.left._tag).toBe("VersionConflict")
          expect(Either.isRight(other)).toBe(true)
          // the winner's change once, nothing of the loser's
          const historyA = yield* repository.history(a)
          expect(historyA.filter((e) => e.type === "cancelled").map((e) => e.at)).toEqual([10])
          expect(Option.getOrThrow(yield* repository.load(a)).run.revision).toBe(runA.run.revision + 1)
          expect((yield* o.get(b)).status).toBe("cancelled")
        })
      )
    ))

  it.effect("a write that fails in a group runs again alone and gets its own error; the others commit", () =>
    withRepository(backend.fresh(), (orchestrator, repository) =>
      counted((counter) =>
        Effect.gen(function*() {
          const o = yield* orchestrator([waiting])
          const { a, b, runA, runB } = yield* threeCreated(o, repository)
          // a history row in the way of A's next event: A's commit breaks the table's primary key
          const next = (yield* repository.history(a)).length + 1
          yield* backend.sql!(
            `INSERT INTO prorch_history (run_uuid, seq, at, type) VALUES ('${a}', ${next}, 0, 'signalled')`
          )
          counter.mark()
          const [failed, committed] = yield* Effect.all(
            [
              Effect.either(repository.commit(cancelling(runA, 10))),
              Effect.either(repository.commit(cancelling(runB, 20)))
            ],
            { concurrency: "unbounded" }
          )
          // the group rolled back, then A alone rolled back and B alone committed
          expect(counter.count("ROLLBACK")).toBe(2)
          expect(counter.count("COMMIT")).toBe(1)
          expect(Either.isLeft(failed) && failed.left._tag).toBe("RepositoryError")
          expect(Either.isLeft(failed) && failed.left.message).toContain("UNIQUE constraint failed")
          expect(Either.isRight(committed)).toBe(true)
          // A is as it was (its commit rolled back whole), B's commit is there
          const storedA = Option.getOrThrow(yield* repository.load(a))
          expect(storedA.run.status).toBe("created")
          expect(storedA.run.revision).toBe(runA.run.revision)
          expect((yield* o.get(b)).status).toBe("cancelled")
          expect((yield* repository.history(b)).filter((e) => e.type === "cancelled")).toHaveLength(1)
        })
      )
    ))
})
