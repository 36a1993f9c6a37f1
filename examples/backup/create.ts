/**
 * Create a run of the backup pipeline and start it (the original's `create_new_pipeline.py`):
 * `Orchestrator.start` writes the run with its three steps and executes its first tick, which goes
 * on while steps finish. The transfer step is then polling: `run-pending.ts` continues it.
 *
 *   npx tsx examples/backup/create.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Orchestrator } from "prorch"
import { where } from "../shared/store.js"
import { BackupLive, BackupStore } from "./db.js"
import { backup } from "./pipelines.js"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* BackupStore)}`)
  const runId = yield* Orchestrator.start(backup)
  const run = yield* Orchestrator.get(runId)
  yield* Console.log(`\nrun ${run.id} (${run.pipeline}): ${run.status}, current step ${run.currentStep ?? "none"}`)
  for (const step of run.steps) yield* Console.log(`  ${step.name.padEnd(30)} ${step.status}`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(BackupLive)))
