/**
 * The command line (`Cli.run`) over the backup example's store: the same runs as `create.ts`,
 * `run-pending.ts` and `worker.ts` (PostgreSQL when `PRORCH_PG_URL` is set, else the SQLite file
 * `PRORCH_DB`, else `examples/backup/data/prorch.db`).
 *
 *   npx tsx examples/backup/cli.ts --help
 *   npx tsx examples/backup/cli.ts list --status pending
 *   npx tsx examples/backup/cli.ts show <run-id>
 *   npx tsx examples/backup/cli.ts picture <run-id>
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Layer } from "effect"
import * as Cli from "prorch/Cli"
import { BackupLive } from "./db.js"

Cli.run({ name: "backup", version: "0.1.0" })(process.argv).pipe(
  // Cli.run prints its own failures; a store that cannot be opened is printed here
  Effect.provide(Layer.tapErrorCause(BackupLive, (cause) => Console.error(Cause.pretty(cause)))),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
