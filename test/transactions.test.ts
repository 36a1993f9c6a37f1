/**
 * How the SQL repositories report what a transaction failed with: the driver's `SqlError`, or a
 * defect (a driver that throws), becomes one `RepositoryError` naming the operation, mapped once
 * around the whole transaction; the repository's own errors and interruptions pass unchanged; a
 * retryable failure (SQLite's busy file, a broken PostgreSQL connection) runs the transaction again.
 */
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { RepositoryError, VersionConflict } from "../src/Errors.js"
import { retrying } from "../src/internal/sql.js"
import { dialect } from "../src/SqliteRepository.js"

/** what better-sqlite3 throws, under what `@effect/sql-sqlite-node` fails with, when another process writes */
const busy = new SqlError({
  message: "Failed to execute statement",
  cause: Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" })
})

const failureOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("a transaction's failures, as the repository reports them", () => {
  /** what `retrying` reports for a transaction that fails with `cause`: a RepositoryError of `operation` */
  const reported = (operation: string, failed: Effect.Effect<never, SqlError>, cause: unknown) =>
    Effect.gen(function*() {
      const error = failureOf(yield* Effect.exit(retrying(dialect(1_000), operation, failed)))
      expect(error).toBeInstanceOf(RepositoryError)
      expect((error as RepositoryError).operation).toBe(operation)
      expect((error as RepositoryError).cause).toBe(cause)
    })

  it.effect("the driver's SqlError is a RepositoryError of the operation, with the driver's error as its cause", () => {
    const sqlError = new SqlError({ message: "Failed to execute statement", cause: new Error("no such table: x") })
    return reported("commit", Effect.fail(sqlError), sqlError)
  })

  it.effect("a defect (a driver that throws) is a RepositoryError too, not a crash of the caller", () => {
    const boom = new TypeError("cannot bind a boolean")
    return reported("create", Effect.die(boom), boom)
  })

  it.effect("the repository's own errors pass unchanged, and are not tried again", () =>
    Effect.gen(function*() {
      let tries = 0
      const conflict = new VersionConflict({ runId: "r", expected: 2, actual: 3 })
      const exit = yield* Effect.exit(retrying(dialect(1_000), "commit", Effect.suspend(() => {
        tries++
        return Effect.fail(conflict)
      })))
      expect(failureOf(exit)).toBe(conflict)
      expect(tries).toBe(1)
    }))

  it.effect("an interruption stays an interruption", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(retrying(dialect(1_000), "commit", Effect.interrupt))
      expect(Exit.isInterrupted(exit)).toBe(true)
    }))

  it.live("a busy file: the whole transaction runs again until it succeeds", () =>
    Effect.gen(function*() {
      let tries = 0
      const result = yield* retrying(dialect(5_000), "commit", Effect.suspend(() => {
        tries++
        return tries < 4 ? Effect.fail(busy) : Effect.succeed("committed")
      }))
      expect(result).toBe("committed")
      expect(tries).toBe(4)
    }))

  it.effect("with no time to retry (retryFor 0), a busy file fails at once as a RepositoryError", () =>
    Effect.gen(function*() {
      let tries = 0
      const exit = yield* Effect.exit(retrying(dialect(0), "claim", Effect.suspend(() => {
        tries++
        return Effect.fail(busy)
      })))
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(RepositoryError)
      expect((error as RepositoryError).cause).toBe(busy)
      expect(tries).toBe(1)
    }))
})
