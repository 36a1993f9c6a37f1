/**
 * @internal the worker and its passes: a pass over the due runs (`executePending`, and `tick` of one
 * run), and the long-lived loop that runs passes (polling, wake-ups, graceful shutdown, stranded runs)
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { WorkerOptions } from "../Orchestrator.js"
import { RepositoryError, type TickError, UnknownPipeline } from "../Errors.js"
import type * as Orchestrator from "../Orchestrator.js"
import * as Repository from "../Repository.js"
import type { Leases } from "./leases.js"
import type { Runtime } from "./runtime.js"
import type { Ticks } from "./tick.js"
import { span } from "./tracing.js"

/** @internal */
export type Options = WorkerOptions

const configs = {
  concurrency: Config.integer("PRORCH_WORKER_CONCURRENCY"),
  pollInterval: Config.duration("PRORCH_WORKER_POLL_INTERVAL"),
  minPollInterval: Config.duration("PRORCH_WORKER_MIN_POLL_INTERVAL"),
  gracePeriod: Config.duration("PRORCH_WORKER_GRACE_PERIOD"),
  waitInterval: Config.duration("PRORCH_WORKER_WAIT_INTERVAL")
} as const

/**
 * @internal worker options: those given in code, then those found in `Config` (environment
 * variables `PRORCH_WORKER_*` by default); a key given in code is not read from `Config`
 */
export const resolve = (given: Options): Effect.Effect<Options, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const options: Record<string, unknown> = {}
    for (const [key, config] of Object.entries(configs)) {
      const value = (given as Record<string, unknown>)[key]
      if (value !== undefined) {
        options[key] = value
      } else {
        const read = yield* Config.option(config as Config.Config<unknown>)
        if (Option.isSome(read)) options[key] = read.value
      }
    }
    if (given.schedule !== undefined) options.schedule = given.schedule
    return options as Options
  })

/** @internal the delays of a schedule, one at a time, without sleeping */
export interface Backoff {
  readonly next: Effect.Effect<Duration.Duration>
  readonly reset: Effect.Effect<void>
}

/** @internal */
export const backoff = (schedule: Schedule.Schedule<unknown, unknown>, fallback: Duration.Duration): Backoff => {
  let state = schedule.initial
  let done = false
  return {
    next: Effect.gen(function*() {
      if (done) return fallback
      const now = yield* Clock.currentTimeMillis
      const [next, , decision] = yield* schedule.step(now, undefined, state)
      if (ScheduleDecision.isDone(decision)) {
        done = true
        return fallback
      }
      state = next
      return Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now))
    }),
    reset: Effect.sync(() => {
      state = schedule.initial
      done = false
    })
  }
}

/** @internal counted permits: how many ticks may start now */
export class Slots {
  available: number
  constructor(readonly semaphore: Effect.Semaphore, readonly size: number) {
    this.available = size
  }
  /** wait for one slot, then take up to `max` in all without waiting */
  take(max: number): Effect.Effect<number> {
    return Effect.flatMap(this.semaphore.take(1), () =>
      Effect.suspend(() => {
        this.available -= 1
        const extra = Math.max(0, Math.min(max - 1, this.available))
        this.available -= extra
        return Effect.as(extra > 0 ? this.semaphore.take(extra) : Effect.void, 1 + extra)
      }))
  }
  release(n: number): Effect.Effect<void> {
    if (n <= 0) return Effect.void
    return Effect.suspend(() => {
      this.available += n
      return Effect.asVoid(this.semaphore.release(n))
    })
  }
}

/** @internal */
export const makeSlots = (size: number): Effect.Effect<Slots> =>
  Effect.map(Effect.makeSemaphore(size), (semaphore) => new Slots(semaphore, size))

/** @internal what a pass needs from its caller */
export interface PassRunner {
  readonly slots: Slots
  /** run a tick in the background, in the caller's fiber set */
  readonly fork: (effect: Effect.Effect<void>) => Effect.Effect<void>
  readonly waitMillis: number
}

/** how often a worker looks for runs it does not register, and logs them */
export const strandedInterval = Duration.minutes(1)

/**
 * @internal every minute, the due runs of pipelines that this worker does not register: counted
 * and logged once per pipeline (they are left as stored, for a worker that registers them)
 */
export const reportStranded = (
  repository: Repository.Service,
  names: ReadonlyArray<string>
): Effect.Effect<never> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const runs = yield* repository.dueElsewhere({ now, names, limit: 100 })
    const byPipeline = new Map<string, Array<string>>()
    for (const run of runs) {
      const ids = byPipeline.get(run.name) ?? []
      ids.push(run.uuid)
      byPipeline.set(run.name, ids)
    }
    for (const [name, ids] of byPipeline) {
      const count = runs.length === 100 ? `${ids.length} or more` : `${ids.length}`
      yield* Effect.logWarning(
        `prorch: ${count} due run(s) of pipeline ${JSON.stringify(name)}, which this worker does not register, ` +
          `are left as stored until a worker that registers it runs (first: ${ids[0]})`
      ).pipe(Effect.annotateLogs({ pipeline: name, stranded: ids.length }))
    }
  }).pipe(
    Effect.catchAllCause((cause) => Effect.logDebug("prorch: looking for stranded runs failed", cause)),
    Effect.zipRight(Effect.sleep(strandedInterval)),
    Effect.forever
  )

/** @internal */
export const run = (args: {
  readonly owner: string
  readonly names: ReadonlyArray<string>
  readonly options: Options
  readonly repository: Repository.Service
  readonly registerWakeup: (f: (at?: number) => void) => Effect.Effect<unknown, never, Scope.Scope>
  readonly pass: (runner: PassRunner) => Effect.Effect<number, unknown>
}): Effect.Effect<never, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* resolve(args.options)
    const concurrency = Math.max(1, options.concurrency ?? 10)
    const pollInterval = Duration.decode(options.pollInterval ?? "1 second")
    const minPollInterval = Duration.decode(options.minPollInterval ?? "10 millis")
    const gracePeriod = Duration.decode(options.gracePeriod ?? "10 seconds")
    const waitMillis = Duration.toMillis(Duration.decode(options.waitInterval ?? pollInterval))
    const idle = options.schedule ??
      Schedule.exponential(minPollInterval, 2).pipe(Schedule.union(Schedule.spaced(pollInterval)))

    const fibers = yield* FiberSet.make<void, never>()
    // once the worker is stopping, its loop claims nothing more, even when it still runs: forked into
    // the scope it works in (`Effect.forkScoped(worker())`), its fiber is interrupted only after this
    let stopping = false
    // runs first when the scope closes (finalizers run in reverse order): let in-flight ticks finish
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        const inFlight = yield* FiberSet.size(fibers)
        yield* Effect.logInfo(`prorch: worker stopping; ${inFlight} tick(s) in flight`)
        // finalizers run uninterruptibly: the wait must be interruptible for the timeout to end it
        yield* FiberSet.awaitEmpty(fibers).pipe(Effect.interruptible, Effect.timeout(gracePeriod), Effect.ignore)
        const left = yield* FiberSet.size(fibers)
        if (left > 0) {
          yield* Effect.logWarning(`prorch: worker grace period over; interrupting ${left} tick(s), releasing their claims`)
        }
      })
    )

    const slots = yield* makeSlots(concurrency)
    const clock = yield* Effect.clock
    // "work now": a run created or signalled here, a run released...
    let woken = yield* Deferred.make<void>()
    // "a run becomes due at a time": a wait committed here, or one pushed by the storage (a run of
    // another worker due soon). While the worker sleeps, a time sooner than its deadline moves the
    // deadline; while it works, the soonest is kept for its next sleep.
    let soonest = Number.POSITIVE_INFINITY
    let sleepingUntil = Number.NEGATIVE_INFINITY
    let sooner = yield* Deferred.make<void>()
    const wakeNow = () => Deferred.unsafeDone(woken, Effect.void)
    const wakeAt = (at?: number) => {
      if (at === undefined || at <= clock.unsafeCurrentTimeMillis()) return wakeNow()
      if (at < soonest) soonest = at
      if (at < sleepingUntil) Deferred.unsafeDone(sooner, Effect.void)
    }
    yield* args.registerWakeup(wakeAt)
    const pushed = args.repository.wakeups
    if (pushed !== undefined) {
      yield* Stream.runForEach(pushed, (at) => Effect.sync(() => wakeAt(at))).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.logDebug("prorch: wake-up stream failed; polling until it is back", cause),
            Effect.sleep(Duration.seconds(1))
          )
        ),
        Effect.forever,
        Effect.forkScoped
      )
    }
    const runner: PassRunner = {
      slots,
      fork: (effect) => Effect.asVoid(FiberSet.run(fibers, effect)),
      waitMillis
    }
    yield* Effect.forkScoped(reportStranded(args.repository, args.names))
    yield* Effect.logInfo(`prorch: worker started (concurrency ${concurrency})`)
    const delays = backoff(idle, pollInterval)
    while (true) {
      if (stopping) return yield* Effect.never
      const claimed = yield* args.pass(runner).pipe(
        Effect.catchAllCause((cause) =>
          Effect.as(Effect.logWarning("prorch: worker pass failed; polling again later", cause), 0)
        )
      )
      if (claimed > 0) {
        yield* delays.reset
        continue
      }
      // sleep until a deadline: the next poll, or the next durable timer if it comes sooner
      const now = yield* Clock.currentTimeMillis
      let deadline = now + Duration.toMillis(yield* delays.next)
      const next = yield* args.repository.nextWakeAt({ now, names: args.names }).pipe(
        Effect.orElseSucceed(() => Option.none<number>())
      )
      if (Option.isSome(next)) deadline = Math.min(deadline, next.value)
      while (true) {
        deadline = Math.min(deadline, soonest)
        soonest = Number.POSITIVE_INFINITY
        sleepingUntil = deadline
        const sleep = Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sleep(Math.max(0, deadline - at)))
        yield* Effect.raceFirst(Effect.raceFirst(Deferred.await(woken), Deferred.await(sooner)), sleep)
        sleepingUntil = Number.NEGATIVE_INFINITY
        const movedUp = yield* Deferred.isDone(sooner)
        if (movedUp) sooner = yield* Deferred.make<void>()
        if (yield* Deferred.isDone(woken)) {
          woken = yield* Deferred.make<void>()
          yield* delays.reset
          break
        }
        // the deadline came (poll), or a sooner one was announced (sleep again, until it)
        if (!movedUp) break
      }
    }
  }).pipe(
    Effect.annotateLogs({ worker: args.owner }),
    Effect.withSpan("prorch.worker", { attributes: { "prorch.worker": args.owner } })
  )

/** @internal passes: `executePending`, `tick` of one run, and the worker's loop over passes */
export const makePasses = (rt: Runtime, ticks: Ticks, leases: Leases) => {
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
    runner: PassRunner,
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
      const slots = yield* makeSlots(Math.max(1, passOptions.concurrency ?? 1))
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
    run({
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
