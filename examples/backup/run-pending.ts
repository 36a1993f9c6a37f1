/**
 * One pass over the runs that are due (the original's `start_active_pipelines.py`, which calls
 * `Orchestrator.execute_pipelines()`): every created or pending run of the backup pipeline is
 * ticked once. Run it (by hand, or from cron) until the runs have finished.
 *
 *   npx tsx examples/backup/run-pending.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Orchestrator } from "prorch"
import { where } from "../shared/store.js"
import { BackupLive, BackupStore } from "./db.js"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* BackupStore)}`)
  const summary = yield* Orchestrator.executePending()
  yield* Console.log(
    `\npass: ${summary.ticked} run(s) ticked: ${summary.finished} finished, ${summary.waiting} waiting, ` +
      `${summary.failed} failed, ${summary.cancelled} cancelled, ${summary.errors.length} error(s)`
  )
  for (const { runId, error } of summary.errors) yield* Console.log(`  ${runId}: ${error._tag}: ${error.message}`)
  const active = yield* Orchestrator.list({ status: ["created", "pending"] })
  yield* Console.log(`runs still active: ${active.runs.length}${active.cursor === undefined ? "" : "+"}`)
  for (const run of active.runs) yield* Console.log(`  ${run.id} ${run.status} at ${run.currentStep ?? "-"}`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(BackupLive)))
