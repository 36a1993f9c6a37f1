/**
 * The approval example in one command: create an expense run, start a worker in the background
 * of this program, send the decision a moment later (`Orchestrator.signal`), wait for the run to
 * end (`Orchestrator.await`), print its steps and history, stop the worker.
 *
 *   npx tsx examples/approval/demo.ts                 # approved: the run finishes
 *   npx tsx examples/approval/demo.ts --reject        # rejected: AwaitApproval fails, so the run fails
 *   npx tsx examples/approval/demo.ts --no-decision   # nobody decides: cancelled at the deadline
 *
 * With `--no-decision` the deadline is 3 seconds (unless `APPROVAL_DEADLINE` is set), so that the
 * durable timer fires during the demo. Exits with 0 when the run ended as the scenario expects
 * (finished, failed, cancelled). Each invocation starts from an empty store of its own (see
 * ../shared/store.ts): `examples/approval/data/demo.db`, deleted first, or with `PRORCH_PG_URL` set
 * the schema `prorch_approval_demo`, dropped first (`PRORCH_DB` is not used here).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ConfigProvider, Console, Data, Effect, Layer } from "effect"
import { parseArgs } from "node:util"
import { Orchestrator, type Run } from "prorch"
import { report } from "../shared/drive.js"
import { freshStore, where } from "../shared/store.js"
import { withWorker } from "../shared/worker.js"
import { layerOn } from "./db.js"
import { approval, type Decision, expenseApproval } from "./pipelines.js"

const store = freshStore("approval", "demo")

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { reject: { type: "boolean", default: false }, "no-decision": { type: "boolean", default: false } }
})

const decision: Decision | undefined = values["no-decision"]
  ? undefined
  : values.reject
  ? { approved: false, by: "carla", note: "no receipt attached" }
  : { approved: true, by: "carla", note: "ok for the team offsite" }

const expected: Run.Status = decision === undefined ? "cancelled" : decision.approved ? "finished" : "failed"

/** The run did not end as the scenario expects. */
class UnexpectedEnd extends Data.TaggedError("UnexpectedEnd")<{ readonly expected: string; readonly actual: string }> {
  override get message() {
    return `the run ended ${this.actual}, the scenario expects ${this.expected}`
  }
}

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* store)}\n`)
  const runId = yield* Orchestrator.create(expenseApproval, { input: { employee: "ana", amount: 42.5 } })
  yield* Console.log(`created run ${runId}`)

  const ended = yield* withWorker(
    Effect.gen(function*() {
      yield* Effect.sleep("1 second")
      if (decision === undefined) {
        yield* Console.log(`demo: nobody decides; the deadline's timer will end the wait`)
      } else {
        yield* Console.log(`demo: Orchestrator.signal(runId, approval, ${JSON.stringify(decision)})`)
        yield* Orchestrator.signal(runId, approval, decision)
      }
      return yield* Orchestrator.await(runId)
    })
  )

  yield* Console.log(`\nrun ended: ${ended.status}`)
  yield* report(runId)
  if (ended.status !== expected) return yield* new UnexpectedEnd({ expected, actual: ended.status })
})

// --no-decision: a short deadline, unless APPROVAL_DEADLINE says otherwise
const config = ConfigProvider.fromEnv().pipe(
  ConfigProvider.orElse(() =>
    ConfigProvider.fromMap(new Map(decision === undefined ? [["APPROVAL_DEADLINE", "3 seconds"]] : []))
  )
)

NodeRuntime.runMain(
  program.pipe(
    Effect.withConfigProvider(config),
    Effect.provide(Layer.unwrapEffect(Effect.map(store, layerOn)))
  )
)
