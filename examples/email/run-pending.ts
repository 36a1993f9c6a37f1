/**
 * One pass over the runs that are due (the original's `start_active_pipelines.py`): every
 * created or pending run of the email pipeline is ticked once.
 *
 *   npx tsx examples/email/run-pending.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Orchestrator } from "prorch"
import { where } from "../shared/store.js"
import { EmailLive, EmailStore } from "./db.js"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* EmailStore)}`)
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

NodeRuntime.runMain(program.pipe(Effect.provide(EmailLive)))
