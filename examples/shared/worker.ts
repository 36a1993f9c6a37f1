/**
 * Worker helpers shared by the examples.
 *
 * - `runWorker(options)`: a long-lived worker, for a `worker.ts` script run under
 *   `NodeRuntime.runMain`. It runs until the fiber is interrupted (Ctrl-C or SIGTERM: `runMain`
 *   interrupts the main fiber), then the library shuts it down gracefully (in-flight ticks get a
 *   grace period, their claims are released), and a line says that it stopped.
 * - `withWorker(program, options)`: run `program` with a worker in the background of the same
 *   process (for the one-command demos), then stop the worker gracefully and return the
 *   program's result. A worker that cannot start (a bad `PRORCH_WORKER_*` value) fails the
 *   program instead of leaving it waiting.
 * - `watchRuns`: print a line when a run ends (for the worker scripts: a worker itself prints
 *   nothing per run).
 *
 * Options not given here come from the environment: `PRORCH_WORKER_CONCURRENCY`,
 * `PRORCH_WORKER_POLL_INTERVAL`, `PRORCH_WORKER_MIN_POLL_INTERVAL`, `PRORCH_WORKER_GRACE_PERIOD`,
 * `PRORCH_WORKER_WAIT_INTERVAL` (durations as `"500 millis"`, `"2 seconds"`...). Options given in
 * code win over the environment.
 */
import { Console, Effect, Fiber } from "effect"
import { Orchestrator } from "prorch"

/** The worker options that are set in the environment, for the start-up line. */
const fromEnv = (): string => {
  const set = Object.entries(process.env).filter(([key]) => key.startsWith("PRORCH_WORKER_"))
  return set.length === 0 ? "defaults" : set.map(([key, value]) => `${key}=${value}`).join(" ")
}

/**
 * A worker that runs until interrupted, with a line when it starts and one when it has stopped
 * (after the graceful shutdown).
 */
export const runWorker = (options?: Orchestrator.WorkerOptions) =>
  Effect.gen(function*() {
    yield* Console.log(`worker: starting (options from env: ${fromEnv()})`)
    return yield* Effect.scoped(Orchestrator.worker(options))
  }).pipe(Effect.onInterrupt(() => Console.log("worker: stopped (in-flight ticks done, claims released)")))

/**
 * Run `program` with a worker in the background, then stop the worker (gracefully, waiting for
 * it) and return what `program` returned.
 */
export const withWorker = <A, E, R>(program: Effect.Effect<A, E, R>, options?: Orchestrator.WorkerOptions) =>
  Effect.scoped(
    Effect.gen(function*() {
      const worker = yield* Effect.forkScoped(runWorker(options))
      // the worker never succeeds: if it ends first, it failed (its error ends the program)
      const result = yield* Effect.raceFirst(program, Fiber.join(worker))
      yield* Console.log("worker: stopping")
      yield* Fiber.interrupt(worker)
      return result
    })
  )

/**
 * Print a line whenever a run ends: every second, look for active runs (also those created by
 * other processes) and `Orchestrator.await` each new one in the background. Runs until
 * interrupted; for display only, so errors are logged and the watch goes on.
 */
export const watchRuns = Effect.gen(function*() {
  const watched = new Set<string>()
  const look = Effect.gen(function*() {
    const active = yield* Orchestrator.list({ status: ["created", "pending"] })
    for (const run of active.runs) {
      if (watched.has(run.id)) continue
      watched.add(run.id)
      yield* Console.log(`watch: run ${run.id} (${run.pipeline}) is ${run.status}`)
      yield* Effect.forkScoped(
        Orchestrator.await(run.id).pipe(
          Effect.flatMap((ended) =>
            Console.log(
              `watch: run ${ended.id} ${ended.status}${ended.error === null ? "" : `: ${ended.error.message}`}`
            )
          ),
          Effect.catchAll((error) => Console.log(`watch: run ${run.id}: ${error._tag}`))
        )
      )
    }
  }).pipe(Effect.catchAll((error) => Console.log(`watch: could not list the runs: ${error._tag}`)))
  return yield* Effect.forever(Effect.zipRight(look, Effect.sleep("1 second")))
}).pipe(Effect.scoped)
