/**
 * The polling example's layers, with their requirements spelled out.
 *
 * The handlers of `RunExport` use `ExportService`, so `Orchestrator.layer([exportPipeline])`
 * requires it, beside the Repository. Leave `ExportService` out of the final layer and the program
 * does not compile (`Effect.provide` leaves `ExportService` in its requirements, which
 * `NodeRuntime.runMain` does not accept): a missing service is a compile error, not a runtime
 * surprise.
 */
import { Effect, Layer } from "effect"
import { type Errors, Orchestrator, type Repository, SqliteRepository } from "prorch"
import { ensureFolder } from "../shared/sqlite.js"
import { ExportService, layerSimulated } from "./ExportService.js"
import { exportPipeline } from "./pipelines.js"

/** The Orchestrator for the export pipeline: it needs a Repository and the ExportService. */
export const OrchestratorLayer: Layer.Layer<
  Orchestrator.Orchestrator,
  Errors.DefinitionError,
  Repository.Repository | ExportService
> = Orchestrator.layer([exportPipeline])

/** Runs persisted in the SQLite file `file` (its folder is created if missing). */
export const repositoryOn = (file: string) =>
  Layer.unwrapEffect(Effect.as(ensureFolder(file), SqliteRepository.layer({ filename: file })))

/** Everything provided: the SQLite repository and the simulated export service. */
export const layerOn = (file: string) =>
  OrchestratorLayer.pipe(Layer.provide(repositoryOn(file)), Layer.provide(layerSimulated()))
