/**
 * The backup pipeline run by a long-lived worker, as in production: a loop that claims the runs
 * that are due (created ones, and waiting ones whose timer is due), ticks them with bounded
 * concurrency, and sleeps until the next one is due. Runs created by other processes
 * (`create.ts`) on the same database are picked up within a poll interval.
 *
 * It runs until Ctrl-C or SIGTERM: `NodeRuntime.runMain` then interrupts the program, the
 * worker's scope closes, in-flight ticks get a grace period to finish (their claims are released
 * otherwise), and it prints `worker: stopped`. Exit code 0.
 *
 * Options come from the environment (`PRORCH_WORKER_CONCURRENCY`, `PRORCH_WORKER_POLL_INTERVAL`,
 * `PRORCH_WORKER_GRACE_PERIOD`, `PRORCH_WORKER_WAIT_INTERVAL`...), the runs from the store of
 * `create.ts` (`db.ts`: PostgreSQL when `PRORCH_PG_URL` is set, else the SQLite file `PRORCH_DB`,
 * default `examples/backup/data/prorch.db`). Besides the steps' own lines,
 * it prints a `watch:` line when a run ends (`watchRuns`, which uses `Orchestrator.await`).
 *
 *   npx tsx examples/backup/worker.ts
 *   PRORCH_WORKER_CONCURRENCY=4 PRORCH_WORKER_POLL_INTERVAL="500 millis" npx tsx examples/backup/worker.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { where } from "../shared/store.js"
import { runWorker, watchRuns } from "../shared/worker.js"
import { BackupLive, BackupStore } from "./db.js"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* BackupStore)} (Ctrl-C or SIGTERM to stop)`)
  // for display: a line when a run ends (the worker itself prints nothing per run)
  yield* Effect.fork(watchRuns)
  return yield* runWorker()
})

NodeRuntime.runMain(program.pipe(Effect.provide(BackupLive)))
