/**
 * Submit an expense: start a run of the ExpenseApproval pipeline for `[employee] [amount]`
 * (default `ana 42.50`). `Orchestrator.start` records the expense and starts AwaitApproval in the
 * first tick, which then sleeps until the deadline or a decision. Prints the run id and the
 * commands that approve or reject it.
 *
 *   npx tsx examples/approval/create.ts
 *   npx tsx examples/approval/create.ts bo 1250
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { Orchestrator } from "prorch"
import { where } from "../shared/store.js"
import { ApprovalLive, ApprovalStore } from "./db.js"
import { expenseApproval } from "./pipelines.js"

const [employee = "ana", amount = "42.50"] = process.argv.slice(2)

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* ApprovalStore)}`)
  const runId = yield* Orchestrator.start(expenseApproval, { input: { employee, amount: Number(amount) } })
  const run = yield* Orchestrator.get(runId)
  const waiting = run.steps.find((step) => step.name === run.currentStep)
  yield* Console.log(`\nrun ${run.id} (${run.pipeline}): ${run.status}, current step ${run.currentStep ?? "none"}`)
  for (const step of run.steps) yield* Console.log(`  ${step.name.padEnd(16)} ${step.status}`)
  yield* Console.log(`  next wake-up: ${run.wakeAt.toISOString()} (the deadline), or sooner on a decision`)
  if (waiting?.state !== undefined) yield* Console.log(`  state: ${JSON.stringify(waiting.state)}`)
  yield* Console.log(`
decide (a worker, examples/approval/worker.ts, then continues the run):
  npx tsx examples/approval/approve.ts ${runId} --by carla
  npx tsx examples/approval/approve.ts ${runId} --reject --by carla --note "no receipt"`)
})

NodeRuntime.runMain(program.pipe(Effect.provide(ApprovalLive)))
