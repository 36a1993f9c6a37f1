/**
 * The approval pipeline run by a long-lived worker: it picks up new expenses, sleeps while they
 * await a decision (their durable timers are in the database, not in this process), and continues
 * a run as soon as a decision is signalled (`approve.ts`, from another process: within the poll
 * interval) or its deadline is due. Stops gracefully on Ctrl-C or SIGTERM.
 *
 * Options from the environment (`PRORCH_WORKER_CONCURRENCY`, `PRORCH_WORKER_POLL_INTERVAL`...),
 * the runs from the example's store (`db.ts`: PostgreSQL when `PRORCH_PG_URL` is set, else the
 * SQLite file `PRORCH_DB`, default `examples/approval/data/prorch.db`).
 *
 *   npx tsx examples/approval/worker.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { where } from "../shared/store.js"
import { runWorker, watchRuns } from "../shared/worker.js"
import { ApprovalLive, ApprovalStore } from "./db.js"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* ApprovalStore)} (Ctrl-C or SIGTERM to stop)`)
  // for display: a line when a run ends (the worker itself prints nothing per run)
  yield* Effect.fork(watchRuns)
  return yield* runWorker()
})

NodeRuntime.runMain(program.pipe(Effect.provide(ApprovalLive)))
