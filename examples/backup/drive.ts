/**
 * The whole backup example in one command: start a run of the backup pipeline, then execute
 * passes over the pending runs until it has ended (at most 10), printing every status change as it
 * happens, then the run's final status and history. Exits with 0 only if the run finished.
 *
 * Each invocation starts from an empty store of its own (see ../shared/store.ts):
 * `examples/backup/data/drive.db`, deleted first, or with `PRORCH_PG_URL` set the schema
 * `prorch_backup_drive`, dropped first. `PRORCH_DB` is not used here, so that this never deletes a
 * file of yours.
 *
 *   npx tsx examples/backup/drive.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { startAndDrive } from "../shared/drive.js"
import { freshStore, where } from "../shared/store.js"
import { layerOn } from "./db.js"
import { backup } from "./pipelines.js"

const store = freshStore("backup", "drive")

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* store)}\n`)
  yield* startAndDrive(backup)
})

NodeRuntime.runMain(program.pipe(Effect.provide(Layer.unwrapEffect(Effect.map(store, layerOn)))))
