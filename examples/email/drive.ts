/**
 * The whole email example in one command: start a run of the email pipeline for a campaign
 * (first argument, default `spring-sale`), then execute passes over the pending runs until it has
 * ended (at most 10), printing every status change, then the run's final status and history.
 * Exits with 0 only if the run finished.
 *
 * Each invocation starts from an empty store of its own (see ../shared/store.ts):
 * `examples/email/data/drive.db`, deleted first, or with `PRORCH_PG_URL` set the schema
 * `prorch_email_drive`, dropped first (`PRORCH_DB` is not used here).
 *
 *   npx tsx examples/email/drive.ts [campaign]
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { startAndDrive } from "../shared/drive.js"
import { freshStore, where } from "../shared/store.js"
import { layerOn } from "./db.js"
import { email } from "./pipelines.js"

const store = freshStore("email", "drive")
const campaign = process.argv[2] ?? "spring-sale"

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* store)}\n`)
  yield* startAndDrive(email, { input: { campaign } })
})

NodeRuntime.runMain(program.pipe(Effect.provide(Layer.unwrapEffect(Effect.map(store, layerOn)))))
