/**
 * The polling example in one command: create a run of the export pipeline, let a worker (in the
 * background of this program) run it to its end, print its steps and history, stop the worker.
 *
 * What happens, deterministically (about 5 seconds):
 *   1. RunExport starts: submits the job, polls it at once: running → waits 2 s (durable timer)
 *   2. poll 2: the service answers 503 (`ExportUnavailable`) → retried in 500 ms (attempt 2)
 *   3. poll 3 (attempt 2): running → waits 2 s; the attempt counter is back to 1
 *   4. poll 4: done → RunExport finishes, PublishLink runs, the run finishes
 *
 * Exits with 0 only if the run finished and its history shows the `retried` and `waited` events.
 * Each invocation starts from an empty store of its own (see ../shared/store.ts):
 * `examples/polling/data/demo.db`, deleted first, or with `PRORCH_PG_URL` set the schema
 * `prorch_polling_demo`, dropped first.
 *
 *   npx tsx examples/polling/demo.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Effect, Layer } from "effect"
import { Orchestrator } from "prorch"
import { report } from "../shared/drive.js"
import { freshStore, where } from "../shared/store.js"
import { withWorker } from "../shared/worker.js"
import { layerOn } from "./db.js"
import { exportPipeline } from "./pipelines.js"

const store = freshStore("polling", "demo")

/** The run did not go as the demo expects. */
class UnexpectedRun extends Data.TaggedError("UnexpectedRun")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* store)}\n`)
  const runId = yield* Orchestrator.create(exportPipeline, { input: { dataset: "orders-2025" } })
  yield* Console.log(`created run ${runId}`)

  const ended = yield* withWorker(Orchestrator.await(runId))

  yield* Console.log(`\nrun ended: ${ended.status}`)
  yield* report(runId)
  const types = new Set((yield* Orchestrator.history(runId)).map((event) => event.type))
  if (ended.status !== "finished") return yield* new UnexpectedRun({ detail: `the run ended ${ended.status}` })
  for (const type of ["waited", "retried"] as const) {
    if (!types.has(type)) return yield* new UnexpectedRun({ detail: `the history has no ${type} event` })
  }
})

NodeRuntime.runMain(program.pipe(Effect.provide(Layer.unwrapEffect(Effect.map(store, layerOn)))))
