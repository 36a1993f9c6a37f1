/**
 * @internal connections and transactions: failures mapped once, writes tried again, the held connection's lock
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { RepositoryError } from "../../Errors.js"
import type { Dialect, Exec } from "./dialect.js"

/** @internal a pause on the real clock (lock waits are real, also under a TestClock) */
export const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * @internal what a transaction failed with, as the repository reports it: the driver's `SqlError`, and a
 * defect (a driver that throws), become a `RepositoryError` naming the operation; anything else
 * (a `VersionConflict`, a `CorruptRecord`, an interruption) stays as it is.
 */
export const repositoryCause = <E>(
  operation: string,
  cause: Cause.Cause<E | SqlError>
): Cause.Cause<Exclude<E, SqlError> | RepositoryError> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    return failure.value instanceof SqlError
      ? Cause.fail(new RepositoryError({ operation, cause: failure.value }))
      : cause as Cause.Cause<Exclude<E, SqlError>>
  }
  const defect = Cause.dieOption(cause)
  return Option.isSome(defect)
    ? Cause.fail(new RepositoryError({ operation, cause: defect.value }))
    : cause as Cause.Cause<never>
}

/**
 * @internal run a transaction (or a statement) of `operation`, with its failures as the repository reports
 * them (`repositoryCause`). Another process holds the lock (SQLite), or the connection broke
 * (PostgreSQL): try the whole transaction again after a short, random pause that leaves the event
 * loop free (SQLite's own busy handler sleeps the thread, up to 100 ms at a time), until
 * `retryFor` has passed since the first failure. A transaction that succeeds at once costs one
 * handler, nothing more.
 */
export const retrying = <A, E>(
  dialect: Pick<Dialect, "retryable" | "retryFor" | "maxPause" | "logRetries">,
  operation: string,
  effect: Effect.Effect<A, E | SqlError>
): Effect.Effect<A, Exclude<E, SqlError> | RepositoryError> => {
  type Out = Effect.Effect<A, Exclude<E, SqlError> | RepositoryError>
  /** the failure of `cause`, when it is one worth trying again */
  const retryable = (cause: Cause.Cause<Exclude<E, SqlError> | RepositoryError>): RepositoryError | undefined => {
    const failure = Option.getOrUndefined(Cause.failureOption(cause))
    return failure instanceof RepositoryError && dialect.retryable(failure) ? failure : undefined
  }
  const attempt = (onFailure: (cause: Cause.Cause<Exclude<E, SqlError> | RepositoryError>) => Out): Out =>
    Effect.matchCauseEffect(effect, {
      onFailure: (cause) => onFailure(repositoryCause(operation, cause)),
      onSuccess: Effect.succeed
    })
  return attempt((cause) => {
    const first = dialect.retryFor > 0 ? retryable(cause) : undefined
    if (first === undefined) return Effect.failCause(cause)
    const deadline = Date.now() + dialect.retryFor
    let pause = 1
    let tries = 1
    const again = (error: RepositoryError): Out => {
      const ms = Math.random() * pause
      pause = Math.min(pause * 2, dialect.maxPause)
      const log = dialect.logRetries && tries === 1
        ? Effect.logWarning(`prorch: ${operation} failed, trying again: ${error.message}`)
        : Effect.void
      return log.pipe(
        Effect.zipRight(realSleep(ms)),
        Effect.zipRight(attempt((cause) => {
          const error = Date.now() < deadline ? retryable(cause) : undefined
          if (error === undefined) return Effect.failCause(cause)
          tries++
          return again(error)
        }))
      )
    }
    const retried = again(first)
    return dialect.logRetries
      ? Effect.tap(retried, () => Effect.logInfo(`prorch: ${operation} succeeded after ${tries + 1} tries`))
      : retried
  })
}

/** @internal the lock of a connection that the repository holds: one transaction at a time */
export interface Lock {
  /**
   * run `use` with the lock held, released however `use` ends; a fiber interrupted while it waits
   * gets the lock first (a waiter is never lost), then gives it back without running `use`
   */
  <A, E>(use: Effect.Effect<A, E>): Effect.Effect<A, E>
  /**
   * The same for a caller that is uninterruptible already (and restores interruption where it
   * wants it, inside `use`): take the lock (at once, in the same step, when it is free), run `use`,
   * give the lock back however `use` ends.
   */
  readonly holding: <A, E>(use: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

/**
 * @internal the lock of a connection that the repository holds: one transaction at a time.
 * Uncontended it costs a synchronous step (Effect's semaphore costs several times more). Like
 * Effect's semaphore, a release wakes the first waiter through the scheduler and a fiber that runs
 * first may take the lock meanwhile (the woken waiter then waits again, first in line): handing the
 * lock straight to the next waiter would make every transaction under contention wait a round of
 * the scheduler. Taken in an uninterruptible region, so a waiter is never lost; released however
 * `use` ends.
 */
export const makeLock = (): Lock => {
  let locked = false
  const waiting: Array<() => void> = []
  const wait = (first: boolean): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      // checked again here: the lock may have been released since `holding` looked
      if (!locked) {
        locked = true
        resume(Effect.void)
        return
      }
      const woken = () => resume(wait(true))
      if (first) waiting.unshift(woken)
      else waiting.push(woken)
    })
  const release = () => {
    locked = false
    waiting.shift()?.()
  }
  const holding = <A, E>(use: Effect.Effect<A, E>): Effect.Effect<A, E> => {
    const used = Effect.matchCauseEffect(use, {
      onFailure: (cause) => {
        release()
        return Effect.failCause(cause)
      },
      onSuccess: (value) => {
        release()
        return Effect.succeed(value)
      }
    })
    return Effect.suspend(() => {
      if (locked) return Effect.zipRight(wait(false), used)
      locked = true
      return used
    })
  }
  const lock = <A, E>(use: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.uninterruptibleMask((restore) => holding(restore(use)))
  return Object.assign(lock, { holding })
}

/** BEGIN, the body, COMMIT (ROLLBACK if anything failed); only the body can be interrupted */
/** @internal */
export const inTransaction = <A, E>(
  exec: Exec,
  begin: string,
  body: (exec: Exec) => Effect.Effect<A, E>,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
): Effect.Effect<A, E | SqlError> => {
  const rollback = (cause: Cause.Cause<E | SqlError>) => Effect.zipRight(Effect.ignore(exec("ROLLBACK")), Effect.failCause(cause))
  return Effect.flatMap(exec(begin), () =>
    Effect.matchCauseEffect(restore(body(exec)), {
      onFailure: rollback,
      onSuccess: (value) =>
        Effect.matchCauseEffect(exec("COMMIT"), {
          onFailure: rollback,
          onSuccess: () => Effect.succeed(value)
        })
    }))
}
