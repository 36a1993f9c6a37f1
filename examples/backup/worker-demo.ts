/**
 * A quick look at a worker, in one command: create three runs of the backup pipeline (created
 * only, not ticked: `Orchestrator.create`), start a worker in the background of this program,
 * wait until all three runs have ended (`Orchestrator.await`), print their final statuses, then
 * stop the worker gracefully and exit. Exits with 0 only if the three runs finished.
 *
 * The worker ticks the three runs concurrently; the transfer step's plain `Step.wait()` is
 * continued one `waitInterval` later (the worker's "next pass"; set to 500 ms here, so it takes
 * about a second). Each invocation starts from an empty store of its own (see ../shared/store.ts):
 * `examples/backup/data/worker-demo.db`, deleted first, or with `PRORCH_PG_URL` set the schema
 * `prorch_backup_worker_demo`, dropped first (`PRORCH_DB` is not used here).
 *
 *   npx tsx examples/backup/worker-demo.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Effect, Layer } from "effect"
import { Orchestrator } from "prorch"
import { freshStore, where } from "../shared/store.js"
import { withWorker } from "../shared/worker.js"
import { layerOn } from "./db.js"
import { backup } from "./pipelines.js"

const store = freshStore("backup", "worker-demo")

/** Some runs did not finish. */
class RunsDidNotFinish extends Data.TaggedError("RunsDidNotFinish")<{ readonly statuses: ReadonlyArray<string> }> {
  override get message() {
    return `not every run finished: ${this.statuses.join(", ")}`
  }
}

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* store)}\n`)
  const runIds = yield* Effect.forEach([1, 2, 3], () => Orchestrator.create(backup))
  for (const id of runIds) yield* Console.log(`created run ${id}`)

  const ended = yield* withWorker(
    Effect.forEach(runIds, (id) => Orchestrator.await(id), { concurrency: "unbounded" }),
    { concurrency: 3, waitInterval: "500 millis" }
  )

  yield* Console.log(`\nall ${ended.length} runs have ended:`)
  for (const run of ended) {
    const took = run.endedAt === null ? "" : ` in ${run.endedAt.getTime() - run.createdAt.getTime()} ms`
    yield* Console.log(`  ${run.id}  ${run.status}${took}`)
  }
  if (ended.some((run) => run.status !== "finished")) {
    return yield* new RunsDidNotFinish({ statuses: ended.map((run) => `${run.id}: ${run.status}`) })
  }
})

NodeRuntime.runMain(program.pipe(Effect.provide(Layer.unwrapEffect(Effect.map(store, layerOn)))))
