/**
 * The email example's layer: the Orchestrator for the `email` pipeline, with its runs in the store that
 * the example's scripts share (see ../shared/store.ts): PostgreSQL when `PRORCH_PG_URL` is set,
 * else the SQLite file `PRORCH_DB`, else `examples/email/data/prorch.db` (the folder is created if missing).
 */
import { Effect, Layer } from "effect"
import { orchestratorOn, sharedStore, type Store } from "../shared/store.js"
import { email } from "./pipelines.js"

/** Where the scripts of this example keep their runs. */
export const EmailStore = sharedStore("email")

/** The Orchestrator for the email pipeline on a store. */
export const layerOn = (store: Store) => orchestratorOn([email], store)

/** The Orchestrator for the email pipeline on `EmailStore`. */
export const EmailLive = Layer.unwrapEffect(Effect.map(EmailStore, layerOn))
