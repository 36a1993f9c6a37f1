/**
 * Send a decision to a waiting expense: `Orchestrator.signal(runId, approval, decision)`. The
 * payload is typed by AwaitApproval's `signal` schema (a wrong shape does not compile), stored
 * durably, and handed to the step's next `onContinue`; the run is due at once, so a running worker
 * continues it within its poll interval. This script does not tick the run itself.
 *
 *   npx tsx examples/approval/approve.ts <runId> [--reject] [--by name] [--note text]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { parseArgs } from "node:util"
import { Orchestrator } from "prorch"
import { where } from "../shared/store.js"
import { ApprovalLive, ApprovalStore } from "./db.js"
import { approval, type Decision } from "./pipelines.js"

const usage = "usage: npx tsx examples/approval/approve.ts <runId> [--reject] [--by name] [--note text]"

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    reject: { type: "boolean", default: false },
    by: { type: "string", default: "manager" },
    note: { type: "string" }
  }
})

const program = Effect.gen(function*() {
  const runId = positionals[0]
  if (runId === undefined) {
    yield* Console.error(usage)
    return yield* Effect.sync(() => {
      process.exitCode = 2
    })
  }
  yield* Console.log(`database: ${where(yield* ApprovalStore)}`)
  const decision: Decision = { approved: !values.reject, by: values.by, note: values.note }
  yield* Orchestrator.signal(runId, approval, decision)
  yield* Console.log(`signal sent to ${approval.name} of run ${runId}: ${JSON.stringify(decision)}`)
  const run = yield* Orchestrator.get(runId)
  yield* Console.log(`run ${run.id}: ${run.status} at ${run.currentStep ?? "-"}, due ${run.wakeAt.toISOString()}`)
  yield* Console.log("a worker (npx tsx examples/approval/worker.ts) continues it")
}).pipe(
  // the errors a user can cause, as one line and exit code 1 (others are reported by runMain)
  Effect.catchTags({
    RunNotFound: (error) => Effect.zipRight(Console.error(`approve: ${error.message}`), fail1),
    InvalidOperation: (error) => Effect.zipRight(Console.error(`approve: ${error.message}`), fail1),
    EncodeError: (error) => Effect.zipRight(Console.error(`approve: ${error.message}`), fail1)
  })
)

const fail1 = Effect.sync(() => {
  process.exitCode = 1
})

NodeRuntime.runMain(program.pipe(Effect.provide(ApprovalLive)))
