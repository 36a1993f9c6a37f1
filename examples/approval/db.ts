/**
 * The approval example's layer: the Orchestrator for the `ExpenseApproval` pipeline, with its runs
 * persisted in SQLite. The file is `examples/approval/data/prorch.db` (the folder is created if
 * missing), or the file named by the env var `PRORCH_DB`.
 */
import { Effect, Layer } from "effect"
import { fileURLToPath } from "node:url"
import { databaseFile, orchestratorOn } from "../shared/sqlite.js"
import { expenseApproval } from "./pipelines.js"

/** `examples/approval/data/prorch.db`, wherever the command runs from. */
export const defaultFile = fileURLToPath(new URL("./data/prorch.db", import.meta.url))

/** The database file: `PRORCH_DB`, else `defaultFile`. */
export const DatabaseFile = databaseFile(defaultFile)

/** The Orchestrator for the approval pipeline on a given SQLite file. */
export const layerOn = (file: string) => orchestratorOn([expenseApproval], file)

/** The Orchestrator for the approval pipeline on `DatabaseFile`. */
export const ApprovalLive = Layer.unwrapEffect(Effect.map(DatabaseFile, layerOn))
