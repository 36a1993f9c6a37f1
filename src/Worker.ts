/**
 * Workers: `Worker.run` is the long-lived loop that claims the due runs of the orchestrator's
 * pipelines and ticks them with bounded concurrency, polls when idle (woken at once for new runs,
 * and on time for durable timers), reports the runs of pipelines it does not register, and shuts
 * down gracefully; `Worker.pass` is one pass over the runs that are due (the original's
 * `execute_pipelines`), which the loop repeats. Both run through the Orchestrator service, and are
 * the same as `Orchestrator.worker` and `Orchestrator.executePending`. See docs/runtime.md.
 *
 * @example
 * ```ts
 * // a worker process: runs until SIGTERM, then lets its ticks in flight finish
 * Effect.scoped(Worker.run({ concurrency: 20 })).pipe(
 *   Effect.provide(AppLive),
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { RepositoryError } from "./Errors.js"
import * as Orchestrator from "./Orchestrator.js"

/**
 * Options of a worker; see `docs/runtime.md`. Each one not given here is read from `Config`
 * (`PRORCH_WORKER_CONCURRENCY`, `PRORCH_WORKER_POLL_INTERVAL`, `PRORCH_WORKER_MIN_POLL_INTERVAL`,
 * `PRORCH_WORKER_GRACE_PERIOD`, `PRORCH_WORKER_WAIT_INTERVAL`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How many runs the worker ticks at once. Default 10. */
  readonly concurrency?: number | undefined
  /** The longest pause between two polls when there is nothing to do. Default 1 second. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** The first pause after a poll that found nothing; pauses double up to `pollInterval`. Default 10 ms. */
  readonly minPollInterval?: Duration.DurationInput | undefined
  /** How long in-flight ticks may take to finish when the worker stops. Default 10 seconds. */
  readonly gracePeriod?: Duration.DurationInput | undefined
  /**
   * When a step answers a plain `Step.wait()` in a worker, it is continued this much later (the
   * worker's "next pass"). Default: `pollInterval`.
   */
  readonly waitInterval?: Duration.DurationInput | undefined
  /** Replace the idle polling schedule (its delays are capped by the next durable timer). */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Options of one pass: see `Orchestrator.PassOptions`.
 *
 * @since 0.1.0
 * @category models
 */
export type PassOptions = Orchestrator.PassOptions

/**
 * What a pass did: see `Orchestrator.PassSummary`.
 *
 * @since 0.1.0
 * @category models
 */
export type PassSummary = Orchestrator.PassSummary

/**
 * The long-lived worker, in a scope: it runs until interrupted (the scope closing, SIGTERM under
 * `NodeRuntime.runMain`), then lets the ticks in flight finish within `gracePeriod`.
 *
 * @since 0.1.0
 * @category workers
 */
export const run = (
  options?: Options
): Effect.Effect<never, ConfigError.ConfigError, Orchestrator.Orchestrator | Scope.Scope> =>
  Effect.flatMap(Orchestrator.Orchestrator, (o) => o.worker(options))

/**
 * One pass over the runs that are due: each is ticked once; returns what the pass did.
 *
 * @since 0.1.0
 * @category workers
 */
export const pass = (
  options?: PassOptions
): Effect.Effect<PassSummary, RepositoryError, Orchestrator.Orchestrator> =>
  Effect.flatMap(Orchestrator.Orchestrator, (o) => o.executePending(options))
