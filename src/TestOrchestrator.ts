/**
 * An orchestrator for users' own tests: the real Orchestrator over the memory layer (or any
 * repository layer) wrapped in `TestRepository`'s fault injection, driven under Effect's
 * `TestClock`, and `runUntilSettled`, which runs pass after pass, moving the clock to the run's
 * next wake-up, until the run ends.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { TestOrchestrator } from "prorch/Test"
 *
 * it.effect("the backup ends", () =>
 *   Effect.gen(function*() {
 *     const runId = yield* Orchestrator.start(backup)
 *     const run = yield* TestOrchestrator.runUntilSettled(runId)
 *     expect(run.status).toBe("finished")
 *   }).pipe(Effect.provide(TestOrchestrator.layer([backup]))))
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { type CorruptRecord, type DecodeError, type DefinitionError, type RepositoryError, RunNotFound } from "./Errors.js"
import * as Orchestrator from "./Orchestrator.js"
import type * as Pipeline from "./Pipeline.js"
import * as Repository from "./Repository.js"
import { isTerminal, type Status } from "./Run.js"
import * as TestRepository from "./TestRepository.js"

/**
 * The run did not end within the bounds of `runUntilSettled`: the step it is stuck on, its status
 * and attempt, when it is due next, and the last error its passes reported.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotSettled extends Data.TaggedError("NotSettled")<{
  readonly runId: string
  readonly status: Status
  /** the step the run is on (`null` for a run that has not started) */
  readonly step: string | null
  readonly attempt: number | null
  readonly passes: number
  /** when the run is due next, epoch milliseconds */
  readonly dueAt: number
  /** why the loop stopped */
  readonly reason: "maxPasses" | "maxTime"
  /** the last error that a pass reported for this run */
  readonly lastError: string | null
}> {
  override get message(): string {
    const where = this.step === null ? "before its first step" : `on step ${JSON.stringify(this.step)} (attempt ${this.attempt})`
    const bound = this.reason === "maxPasses"
      ? `after ${this.passes} passes`
      : `within maxTime (next due at ${new Date(this.dueAt).toISOString()})`
    return `run ${this.runId} did not settle ${bound}: it is ${this.status} ${where}` +
      (this.lastError === null ? "" : `; last error: ${this.lastError}`)
  }
}

/**
 * Bounds of `runUntilSettled`: at most `maxPasses` passes (1,000 by default), and no wake-up
 * further than `maxTime` milliseconds after the call (one year by default).
 *
 * @since 0.1.0
 * @category models
 */
export interface SettleOptions {
  readonly maxPasses?: number | undefined
  readonly maxTime?: number | undefined
}

/**
 * What `runUntilSettled` can fail with: its bound, or what reading the run fails with.
 *
 * @since 0.1.0
 * @category models
 */
export type SettleError = NotSettled | RunNotFound | RepositoryError | CorruptRecord | DecodeError

/**
 * Options of `TestOrchestrator.layer`: the orchestrator's own options (its owner is `"test"` by
 * default) and the repository layer under the fault injection (`Repository.layerMemory` by
 * default: a new, empty store for each build of the layer).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R> {
  readonly orchestrator?: Orchestrator.Options | undefined
  readonly repository?: Layer.Layer<Repository.Repository, E, R> | undefined
}

/**
 * The Orchestrator for `pipelines` over a faulty repository (`TestRepository.layer`), with the
 * Repository and the fault controls in the context too. Provide it inside each test (`it.effect`
 * runs under the `TestClock`): each build is a fresh store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Pipelines extends ReadonlyArray<Pipeline.Any>, E = never, R = never>(
  pipelines: Pipelines,
  options: Options<E, R> = {}
): Layer.Layer<
  Orchestrator.Orchestrator | Repository.Repository | TestRepository.Faults,
  DefinitionError | E,
  Pipeline.Context<Pipelines[number]> | R
> =>
  Orchestrator.layer(pipelines, { owner: "test", ...options.orchestrator }).pipe(
    Layer.provideMerge(TestRepository.layer(options.repository))
  )

/** a failure that `TestRepository` injected */
const isInjected = (error: { readonly _tag: string }): boolean =>
  error._tag === "RepositoryError" && (error as RepositoryError).cause instanceof TestRepository.InjectedFailure

/**
 * Drive one run to its end: a pass (`executePending`), then, while the run has not ended, the
 * `TestClock` moved to the instant it is due again (its timer, its retry, or the expiry of the lease
 * a crashed tick left) and another pass. Returns the run's view once it has ended (finished, failed
 * or cancelled); fails with `NotSettled` when a bound is hit, naming the step the run is stuck on.
 * Other runs that are due are ticked by the same passes. Needs the `TestClock` (`it.effect`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const runUntilSettled = Effect.fn("TestOrchestrator.runUntilSettled")(function*(
  runId: string,
  options: SettleOptions = {}
) {
  const maxPasses = options.maxPasses ?? 1000
  const repository = yield* Repository.Repository
  const start = yield* Clock.currentTimeMillis
  const maxTime = options.maxTime ?? 365 * 24 * 60 * 60 * 1000
  let lastError: string | null = null
  let passes = 0
  let reads = 0
  while (true) {
    // the test's own reads: an injected failure of them is not the run's business, read again
    const read = yield* Effect.either(Effect.all([Orchestrator.get(runId), repository.load(runId)]))
    if (Either.isLeft(read)) {
      if (!isInjected(read.left) || ++reads > maxPasses) return yield* read.left
      continue
    }
    const [view, loaded] = read.right
    if (isTerminal(view.status)) return view
    if (Option.isNone(loaded)) return yield* new RunNotFound({ runId })
    const now = yield* Clock.currentTimeMillis
    const run = loaded.value.run
    const leased = run.lease_expires_at !== null && run.lease_expires_at > now ? run.lease_expires_at : 0
    const dueAt = Math.max(run.wake_at, leased)
    const stuck = (reason: NotSettled["reason"]) => {
      const step = view.steps.find((s) => s.name === view.currentStep)
      return new NotSettled({
        runId,
        status: view.status,
        step: view.currentStep,
        attempt: step?.attempt ?? null,
        passes,
        dueAt,
        reason,
        lastError
      })
    }
    if (passes >= maxPasses) return yield* stuck("maxPasses")
    if (dueAt > start + maxTime) return yield* stuck("maxTime")
    if (dueAt > now) yield* TestClock.setTime(dueAt)
    passes++
    // a pass whose storage fails is a failed pass, as in a worker: the next one tries again
    const summary = yield* Effect.either(Orchestrator.executePending())
    if (Either.isLeft(summary)) {
      lastError = summary.left.message
      continue
    }
    for (const { error, runId: id } of summary.right.errors) {
      if (id === runId) lastError = error.message
    }
  }
})
