/**
 * The lock that `SqliteRepository.layer` puts around the connection it holds: one transaction at a
 * time, waiters in the order they came, released however a use ends, and never lost to a waiter
 * that is interrupted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { makeLock } from "../src/internal/sql.js"

describe("the lock of a held connection (SqliteRepository.layer)", () => {
  it.effect("lets one use in at a time, in the order they came", () =>
    Effect.gen(function*() {
      const lock = makeLock()
      let inside = 0
      let most = 0
      const order: Array<number> = []
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) =>
          lock(Effect.gen(function*() {
            inside++
            most = Math.max(most, inside)
            order.push(i)
            yield* Effect.yieldNow()
            yield* Effect.yieldNow()
            inside--
          })),
        { concurrency: "unbounded", discard: true }
      )
      expect(most).toBe(1)
      expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i))
    }))

  it.effect("a fiber that releases may take the lock again at once; the waiter it woke stays first in line", () =>
    Effect.gen(function*() {
      const lock = makeLock()
      const order: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const entered = yield* Deferred.make<void>()
      const enter = (name: string) => Effect.sync(() => order.push(name))
      const holder = yield* Effect.fork(
        lock(Effect.zipRight(Effect.zipRight(enter("A"), Deferred.succeed(entered, undefined)), Deferred.await(gate))).pipe(
          // the same fiber, straight after its release: it takes the lock before the woken waiter runs
          Effect.zipRight(lock(Effect.zipRight(enter("B"), Effect.zipRight(Effect.yieldNow(), Effect.yieldNow()))))
        )
      )
      yield* Deferred.await(entered)
      const first = yield* Effect.fork(lock(enter("W1")))
      yield* Effect.yieldNow()
      const second = yield* Effect.fork(lock(enter("W2")))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(order).toEqual(["A", "B", "W1", "W2"])
    }))

  it.effect("is released when a use fails, dies or is interrupted", () =>
    Effect.gen(function*() {
      const lock = makeLock()
      expect(yield* Effect.flip(lock(Effect.fail("boom")))).toBe("boom")
      expect(Exit.isFailure(yield* Effect.exit(lock(Effect.die("defect"))))).toBe(true)
      const entered = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock(Effect.zipRight(Deferred.succeed(entered, undefined), Effect.never)))
      yield* Deferred.await(entered)
      yield* Fiber.interrupt(holder)
      expect(yield* lock(Effect.succeed("free"))).toBe("free")
    }))

  it.effect("a waiter that is interrupted does not keep the lock once it is handed to it", () =>
    Effect.gen(function*() {
      const lock = makeLock()
      const entered = yield* Deferred.make<void>()
      const leave = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock(Effect.zipRight(Deferred.succeed(entered, undefined), Deferred.await(leave))))
      yield* Deferred.await(entered)
      let waiterRan = false
      const waiter = yield* Effect.fork(lock(Effect.sync(() => {
        waiterRan = true
      })))
      yield* Effect.yieldNow()
      // the interruption waits for the lock (a waiter cannot be lost), then ends the waiter's use at once
      const interrupting = yield* Effect.fork(Fiber.interrupt(waiter))
      yield* Deferred.succeed(leave, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(interrupting)
      expect(waiterRan).toBe(false)
      expect(yield* lock(Effect.succeed("free"))).toBe("free")
    }))
})
