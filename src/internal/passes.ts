/**
 * @internal passes over the due runs, and the worker that runs them
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import { RepositoryError, type TickError, UnknownPipeline } from "../Errors.js"
import type * as Orchestrator from "../Orchestrator.js"
import * as Repository from "../Repository.js"
import type { Leases } from "./leases.js"
import type { Runtime } from "./runtime.js"
import type { Ticks } from "./tick.js"
import { span } from "./tracing.js"
import * as Worker from "./worker.js"

/** @internal passes: `executePending`, `tick` of one run, and the worker's loop over passes */
export const make = (rt: Runtime, ticks: Ticks, leases: Leases) => {
  const { owner, leaseMillis, names, repository, provideServices, wakeups, load } = rt
  const { tickSnapshot } = ticks
  const { claimOne } = leases

  const tick: Orchestrator.Service["tick"] = (runId) =>
    Effect.gen(function*() {
      const claimed = yield* claimOne(runId)
      if (Option.isNone(claimed)) {
        const snapshot = yield* load(runId)
        return { runId, status: snapshot.run.status, ranHandlers: false }
      }
      let result: Either.Either<Orchestrator.TickOutcome, TickError> | undefined
      const fiber = yield* Effect.fork(
        tickSnapshot(claimed.value, 0, (r) =>
          Effect.sync(() => {
            result = r
          })).pipe(provideServices)
      )
      yield* Fiber.await(fiber)
      // no result: the tick was interrupted without losing its lease (this fiber is being interrupted)
      if (result === undefined) return yield* Effect.interrupt
      return yield* result
    })

  // --- passes ------------------------------------------------------------------

  /**
   * Claim the runs due at the pass's start, in due order, as slots free up, and tick each in the
   * background; a run ticked in this pass is not ticked again in it. Returns how many runs it
   * claimed, once nothing due is left to claim (ticks may still be running).
   */
  const pass = (
    runner: Worker.PassRunner,
    limit: number,
    onResult: (runId: string, result: Either.Either<Orchestrator.TickOutcome, TickError>) => Effect.Effect<void>
  ): Effect.Effect<number, RepositoryError> =>
    Effect.gen(function*() {
      const passStart = yield* Clock.currentTimeMillis
      const seen = new Set<string>()
      let cursor: Repository.Cursor | undefined
      let claimedTotal = 0
      while (claimedTotal < limit) {
        const taken = yield* runner.slots.take(Math.min(runner.slots.size, limit - claimedTotal))
        // from the claim until every claimed run has its tick forked, the pass is not interrupted:
        // a worker stopping meanwhile would leave runs leased that no tick of it releases
        const found = yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const batch = yield* repository.claim({
              owner,
              now: passStart,
              leaseExpiresAt: now + leaseMillis,
              limit: taken,
              names,
              after: cursor
            }).pipe(Effect.onError(() => runner.slots.release(taken)))
            cursor = batch.cursor
            for (const error of batch.corrupt) yield* onResult(error.runId, Either.left(error))
            yield* runner.slots.release(taken - batch.claimed.length)
            for (const claimed of batch.claimed) {
              const { run } = claimed.snapshot
              const effect = seen.has(run.uuid)
                ? Effect.ignore(repository.release({ runId: run.uuid, owner, revision: run.revision }))
                : tickSnapshot(claimed, runner.waitMillis, (result) => onResult(run.uuid, result))
              seen.add(run.uuid)
              // the tick itself can be interrupted (by the lease keeper, by the worker's shutdown)
              yield* runner.fork(Effect.ensuring(restore(effect), runner.slots.release(1)))
            }
            return batch.claimed.length + batch.corrupt.length
          })
        )
        if (found === 0) break
        claimedTotal += found
      }
      return claimedTotal
    }).pipe(
      // the handlers' services, once for all the ticks of the pass (they run in forked fibers)
      provideServices
    )

  const reportUnknown = (now: number) =>
    Effect.map(
      repository.dueElsewhere({ now, names, limit: 100 }),
      (runs) => runs.map((run) => ({ runId: run.uuid, error: new UnknownPipeline({ runId: run.uuid, pipeline: run.name }) }))
    )

  const executePending: Orchestrator.Service["executePending"] = (passOptions = {}) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const errors: Array<{ runId: string; error: TickError }> = yield* reportUnknown(now)
      const counts = { ticked: 0, finished: 0, failed: 0, cancelled: 0, waiting: 0 }
      const slots = yield* Worker.makeSlots(Math.max(1, passOptions.concurrency ?? 1))
      yield* Effect.scoped(Effect.gen(function*() {
        const fibers = yield* FiberSet.make<void, never>()
        yield* pass(
          { slots, fork: (effect) => Effect.asVoid(FiberSet.run(fibers, effect)), waitMillis: 0 },
          passOptions.limit ?? Number.POSITIVE_INFINITY,
          (runId, result) =>
            Effect.sync(() => {
              if (Either.isLeft(result)) {
                errors.push({ runId, error: result.left })
                return
              }
              counts.ticked++
              const status = result.right.status
              if (status === "finished") counts.finished++
              else if (status === "failed") counts.failed++
              else if (status === "cancelled") counts.cancelled++
              else counts.waiting++
            })
        )
        yield* FiberSet.awaitEmpty(fibers)
      }))
      for (const { runId, error } of errors) {
        yield* Effect.logWarning(`prorch: run ${runId} could not be ticked: ${error.message}`)
      }
      return { ...counts, errors }
    }).pipe(
      Effect.annotateLogs({ worker: owner }),
      span("prorch.executePending", { "prorch.worker": owner })
    )

  const worker: Orchestrator.Service["worker"] = (workerOptions) =>
    Worker.run({
      owner,
      names,
      options: workerOptions ?? {},
      repository,
      registerWakeup: (f) =>
        Effect.acquireRelease(Effect.sync(() => wakeups.add(f)), () => Effect.sync(() => wakeups.delete(f))),
      pass: (runner) =>
        // in the tick's fiber: through the application's logger
        pass(runner, Number.POSITIVE_INFINITY, (runId, result) =>
          Either.isLeft(result)
            ? Effect.logWarning(`prorch: run ${runId} could not be ticked: ${result.left.message}`).pipe(
              Effect.annotateLogs({ runId, worker: owner })
            )
            : Effect.void)
    })

  return { tick, executePending, worker }
}
