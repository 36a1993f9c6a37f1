/**
 * The backup example's layer: the Orchestrator for the `backup` pipeline, with its runs persisted
 * in SQLite. The file is `examples/backup/data/prorch.db` (the folder is created if missing), or
 * the file named by the env var `PRORCH_DB`.
 */
import { Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { databaseFile, orchestratorOn } from "../shared/sqlite.js"
import { backup } from "./pipelines.js"

/** `examples/backup/data/prorch.db`, wherever the command runs from. */
export const defaultFile = fileURLToPath(new URL("./data/prorch.db", import.meta.url))

/** The database file: `PRORCH_DB`, else `defaultFile`. */
export const DatabaseFile = databaseFile(defaultFile)

/** The Orchestrator for the backup pipeline on a given SQLite file. */
export const layerOn = (file: string) => orchestratorOn([backup], file)

/** The Orchestrator for the backup pipeline on `DatabaseFile`. */
export const BackupLive = Layer.unwrapEffect(Effect.map(DatabaseFile, layerOn))
