/**
 * The polling example's layers, with their requirements spelled out.
 *
 * The handlers of `RunExport` use `ExportService`, so `Orchestrator.layer([exportPipeline])`
 * requires it, beside the Repository. Leave `ExportService` out of the final layer and the program
 * does not compile (`Effect.provide` leaves `ExportService` in its requirements, which
 * `NodeRuntime.runMain` does not accept): a missing service is a compile error, not a runtime
 * surprise.
 */
import { Layer } from "effect"
import { type Errors, Orchestrator, type Repository } from "prorch"
import { repositoryOn, type Store } from "../shared/store.js"
import { ExportService, layerSimulated } from "./ExportService.js"
import { exportPipeline } from "./pipelines.js"

/** The Orchestrator for the export pipeline: it needs a Repository and the ExportService. */
export const OrchestratorLayer: Layer.Layer<
  Orchestrator.Orchestrator,
  Errors.DefinitionError,
  Repository.Repository | ExportService
> = Orchestrator.layer([exportPipeline])

/** Everything provided: the repository on `store` (SQLite or PostgreSQL) and the simulated export service. */
export const layerOn = (store: Store) =>
  OrchestratorLayer.pipe(Layer.provide(repositoryOn(store)), Layer.provide(layerSimulated()))
