/**
 * The whole backup example in one command: start a run of the backup pipeline, then execute
 * passes over the pending runs until it has ended (at most 10), printing every status change as it
 * happens, then the run's final status and history. Exits with 0 only if the run finished.
 *
 * Each invocation starts from an empty database, `examples/backup/data/drive.db` (deleted first;
 * `PRORCH_DB` is not used here, so that this never deletes a file of yours).
 *
 *   npx tsx examples/backup/drive.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { startAndDrive } from "../shared/drive.js"
import { shown } from "../shared/paths.js"
import { removeDatabase } from "../shared/sqlite.js"
import { layerOn } from "./db.js"
import { backup } from "./pipelines.js"

const file = fileURLToPath(new URL("./data/drive.db", import.meta.url))

const program = Effect.gen(function*() {
  yield* Console.log(process.env.PRORCH_PG_URL ? `database: PostgreSQL (PRORCH_PG_URL), schema ${process.env.PRORCH_PG_SCHEMA ?? "prorch"}
` : `database: ${shown(file)} (fresh)
`)
  yield* startAndDrive(backup)
})

NodeRuntime.runMain(
  program.pipe(Effect.provide(Layer.unwrapEffect(Effect.as(removeDatabase(file), layerOn(file)))))
)
