/**
 * The backup pipeline (from ../backup/pipelines.ts) run to its end on a custom repository: a
 * plain JSON file behind the four operations of the original's `IRepository` (see
 * JsonFileStore.ts for what such a store cannot guarantee).
 *
 * Each invocation starts from an empty file, `examples/custom-repository/data/database.json`
 * (deleted first; the folder is `$PRORCH_EXAMPLES_DATA/custom-repository/` when that env var is
 * set), then prints where the file is and the run's final status. Exits with 0 only if the run
 * finished.
 *
 *   npx tsx examples/custom-repository/main.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { rmSync } from "node:fs"
import { Orchestrator, Repository } from "prorch"
import { backup } from "../backup/pipelines.js"
import { startAndDrive } from "../shared/drive.js"
import { shown } from "../shared/paths.js"
import { dataFile } from "../shared/store.js"
import { JsonFileStore } from "./JsonFileStore.js"

/** The Orchestrator for the backup pipeline on the JSON file `file`. */
const layerOn = (file: string) =>
  Orchestrator.layer([backup]).pipe(Layer.provide(Repository.layerCrud(new JsonFileStore(file))))

const program = Effect.gen(function*() {
  const file = yield* dataFile("custom-repository", "database.json")
  yield* Effect.sync(() => rmSync(file, { force: true }))
  yield* Console.log(`store: ${shown(file)} (fresh)\n`)
  const run = yield* startAndDrive(backup).pipe(Effect.provide(layerOn(file)))
  yield* Console.log(`\nThe JSON file is ${shown(file)}: its collections are pipelines, pipeline_steps,`)
  yield* Console.log(`pipeline_history and pipeline_signals. Final status of run ${run.id}: ${run.status}.`)
})

NodeRuntime.runMain(program)
