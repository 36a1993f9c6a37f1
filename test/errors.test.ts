import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Layer } from "effect"
import * as path from "node:path"
import { SqlError } from "@effect/sql/SqlError"
import { Errors, Orchestrator, pipeline, Repository, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { makeMapStore, sqliteFile, tmpDir } from "./support/backends.js"
import { withRepository } from "./support/kit.js"

class StoreDown extends Data.TaggedError("StoreDown")<{ readonly collection: string }> {}

const simple = pipeline("Simple", step("Only", { onContinue: () => Effect.succeed(Step.wait()) }))

describe("a repository that fails surfaces as a typed error, not a defect", () => {
  it.effect("a custom store whose save fails: start fails with RepositoryError carrying the store's error", () =>
    Effect.gen(function*() {
      const { store } = makeMapStore()
      const failing: Repository.CrudStore<StoreDown> = {
        ...store,
        save: (collection) => Effect.fail(new StoreDown({ collection }))
      }
      const exit = yield* Orchestrator.start(simple).pipe(
        Effect.provide(Orchestrator.layer([simple]).pipe(Layer.provide(Repository.layerCrud(failing)))),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Cause.isFailType(exit.cause)).toBe(true)
        const error = Cause.squash(exit.cause) as any
        expect(error._tag).toBe("RepositoryError")
        expect(error.operation).toBe("save pipelines")
        expect(error.cause).toBeInstanceOf(StoreDown)
      }
    }))

  it.effect("a custom store that throws: the pass fails with a typed RepositoryError", () =>
    Effect.gen(function*() {
      const { store } = makeMapStore()
      const throwing: Repository.CrudStore<never> = {
        ...store,
        search: () =>
          Effect.sync(() => {
            throw new Error("socket closed")
          })
      }
      const error = yield* Orchestrator.executePending().pipe(
        Effect.provide(Orchestrator.layer([simple]).pipe(Layer.provide(Repository.layerCrud(throwing)))),
        Effect.flip
      )
      expect(error._tag).toBe("RepositoryError")
      expect(error.message).toContain("socket closed")
    }))

  it.effect("a SQLite file that cannot be opened is a typed error of the layer", () =>
    Effect.gen(function*() {
      const error = yield* Orchestrator.executePending().pipe(
        Effect.provide(
          Orchestrator.layer([simple]).pipe(
            Layer.provide(SqliteRepository.layer({ filename: path.join(tmpDir(), "missing", "dir", "x.db") }))
          )
        ),
        Effect.flip
      )
      expect(error._tag).toBe("RepositoryError")
    }))

  it.effect("a SQLite table dropped under the library: operations fail with RepositoryError", () => {
    const backend = sqliteFile()
    return withRepository(backend.fresh(), (orchestrator) =>
      Effect.gen(function*() {
        const o = yield* orchestrator([simple])
        const runId = yield* o.start(simple)
        yield* backend.sql!("DROP TABLE prorch_pipeline_steps")
        const pass = yield* Effect.flip(o.executePending())
        expect(pass._tag).toBe("RepositoryError")
        const start = yield* Effect.flip(o.start(simple))
        expect(start._tag).toBe("RepositoryError")
        const get = yield* Effect.flip(o.get(runId))
        expect(get._tag).toBe("RepositoryError")
      })
    )
  })

  it("a RepositoryError's message carries the driver's own words, however deep they are", () => {
    const error = new Errors.RepositoryError({
      operation: "commit",
      cause: new SqlError({
        message: "Failed to execute statement",
        cause: new Error("UNIQUE constraint failed: prorch_history.run_uuid, prorch_history.seq")
      })
    })
    expect(error.message).toBe(
      "repository operation commit failed: Failed to execute statement: " +
        "UNIQUE constraint failed: prorch_history.run_uuid, prorch_history.seq"
    )
    expect(new Errors.RepositoryError({ operation: "save", cause: "disk full" }).message).toBe(
      "repository operation save failed: disk full"
    )
  })
})

describe("Errors' guards", () => {
  it("tell prorch's errors by their TypeId and their tag", () => {
    const notFound = new Errors.RunNotFound({ runId: "r" })
    expect(Errors.isProrchError(notFound)).toBe(true)
    expect(Errors.isRunNotFound(notFound)).toBe(true)
    expect(Errors.isCorruptRecord(notFound)).toBe(false)
    // the same tag on a value that is not prorch's
    expect(Errors.isRunNotFound({ _tag: "RunNotFound", runId: "r" })).toBe(false)
    expect(Errors.isProrchError(new Error("boom"))).toBe(false)
    expect(Errors.isProrchError(null)).toBe(false)
  })
})
