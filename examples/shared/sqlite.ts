/**
 * Helpers shared by the examples that persist runs in SQLite: where the database file is, and the
 * layer that provides the Orchestrator for some pipelines on that file.
 */
import { Config, Effect, Layer } from "effect"
import { mkdirSync, rmSync } from "node:fs"
import { dirname } from "node:path"
import { Orchestrator, type Pipeline, SqliteRepository } from "prorch"

/** The database file: the env var `PRORCH_DB` when it is set, else `fallback`. */
export const databaseFile = (fallback: string): Config.Config<string> =>
  Config.string("PRORCH_DB").pipe(Config.withDefault(fallback))

/** Create the folder of a database file, if missing. */
export const ensureFolder = (file: string): Effect.Effect<void> =>
  Effect.sync(() => {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true })
  })

/** Delete a database file and its WAL companions, to start from an empty store. */
export const removeDatabase = (file: string): Effect.Effect<void> =>
  Effect.sync(() => {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(file + suffix, { force: true })
  })

/** The Orchestrator for `pipelines`, persisting runs in the SQLite file `file`. */
export const orchestratorOn = <const Pipelines extends ReadonlyArray<Pipeline.Any>>(
  pipelines: Pipelines,
  file: string
) =>
  Orchestrator.layer(pipelines).pipe(
    Layer.provide(Layer.unwrapEffect(Effect.as(ensureFolder(file), SqliteRepository.layer({ filename: file }))))
  )
