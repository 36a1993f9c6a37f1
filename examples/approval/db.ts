/**
 * The approval example's layer: the Orchestrator for the `ExpenseApproval` pipeline, with its runs in the store that
 * the example's scripts share (see ../shared/store.ts): PostgreSQL when `PRORCH_PG_URL` is set,
 * else the SQLite file `PRORCH_DB`, else `examples/approval/data/prorch.db` (the folder is created if missing).
 */
import { Effect, Layer } from "effect"
import { orchestratorOn, sharedStore, type Store } from "../shared/store.js"
import { expenseApproval } from "./pipelines.js"

/** Where the scripts of this example keep their runs. */
export const ApprovalStore = sharedStore("approval")

/** The Orchestrator for the approval pipeline on a store. */
export const layerOn = (store: Store) => orchestratorOn([expenseApproval], store)

/** The Orchestrator for the approval pipeline on `ApprovalStore`. */
export const ApprovalLive = Layer.unwrapEffect(Effect.map(ApprovalStore, layerOn))
