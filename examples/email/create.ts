/**
 * Create a run of the email pipeline for a campaign and start it (the original's
 * `create_new_pipeline.py`). The campaign is the first argument (default `spring-sale`); the same
 * campaign twice is the same run (it is the run's idempotency key).
 *
 *   npx tsx examples/email/create.ts [campaign]
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Orchestrator } from "prorch"
import { where } from "../shared/store.js"
import { EmailLive, EmailStore } from "./db.js"
import { email } from "./pipelines.js"

const campaign = process.argv[2] ?? "spring-sale"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* EmailStore)}`)
  const runId = yield* Orchestrator.start(email, { input: { campaign }, idempotencyKey: campaign })
  const run = yield* Orchestrator.get(runId)
  yield* Console.log(`\nrun ${run.id} (${run.pipeline}, input ${JSON.stringify(run.input)}): ${run.status}`)
  for (const step of run.steps) yield* Console.log(`  ${step.name.padEnd(18)} ${step.status}`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(EmailLive)))
