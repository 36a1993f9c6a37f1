/**
 * The whole email example in one command: start a run of the email pipeline for a campaign
 * (first argument, default `spring-sale`), then execute passes over the pending runs until it has
 * ended (at most 10), printing every status change, then the run's final status and history.
 * Exits with 0 only if the run finished.
 *
 * Each invocation starts from an empty database, `examples/email/data/drive.db` (deleted first;
 * `PRORCH_DB` is not used here).
 *
 *   npx tsx examples/email/drive.ts [campaign]
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { startAndDrive } from "../shared/drive.js"
import { shown } from "../shared/paths.js"
import { removeDatabase } from "../shared/sqlite.js"
import { layerOn } from "./db.js"
import { email } from "./pipelines.js"

const file = fileURLToPath(new URL("./data/drive.db", import.meta.url))
const campaign = process.argv[2] ?? "spring-sale"

const program = Effect.gen(function*() {
  yield* Console.log(process.env.PRORCH_PG_URL ? `database: PostgreSQL (PRORCH_PG_URL), schema ${process.env.PRORCH_PG_SCHEMA ?? "prorch"}
` : `database: ${shown(file)} (fresh)
`)
  yield* startAndDrive(email, { input: { campaign } })
})

NodeRuntime.runMain(
  program.pipe(Effect.provide(Layer.unwrapEffect(Effect.as(removeDatabase(file), layerOn(file)))))
)
