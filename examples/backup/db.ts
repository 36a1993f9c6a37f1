/**
 * The backup example's layer: the Orchestrator for the `backup` pipeline, with its runs in the store that
 * the example's scripts share (see ../shared/store.ts): PostgreSQL when `PRORCH_PG_URL` is set,
 * else the SQLite file `PRORCH_DB`, else `examples/backup/data/prorch.db` (the folder is created if missing).
 */
import { Effect, Layer } from "effect"
import { orchestratorOn, sharedStore, type Store } from "../shared/store.js"
import { backup } from "./pipelines.js"

/** Where the scripts of this example keep their runs. */
export const BackupStore = sharedStore("backup")

/** The Orchestrator for the backup pipeline on a store. */
export const layerOn = (store: Store) => orchestratorOn([backup], store)

/** The Orchestrator for the backup pipeline on `BackupStore`. */
export const BackupLive = Layer.unwrapEffect(Effect.map(BackupStore, layerOn))
