/**
 * Helpers shared by the examples that persist runs in SQLite: where the database file is, and the
 * layer that provides the Orchestrator for some pipelines on that file.
 *
 * When the env var `PRORCH_PG_URL` names a PostgreSQL database (for instance
 * `postgres://postgres@127.0.0.1:5432/test`), the examples use it instead of the SQLite file,
 * through `PgRepository.layerConfig()` (which also reads `PRORCH_PG_SCHEMA`, default `prorch`).
 */
import { Config, Effect, Layer, Option } from "effect"
import { mkdirSync, rmSync } from "node:fs"
import { dirname } from "node:path"
import { Orchestrator, PgRepository, type Pipeline, SqliteRepository } from "prorch"

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

/** The repository: PostgreSQL when `PRORCH_PG_URL` is set, else the SQLite file `file`. */
export const repositoryOn = (file: string) =>
  Layer.unwrapEffect(
    Effect.map(Config.option(Config.string("PRORCH_PG_URL")), (url) =>
      Option.isSome(url)
        ? PgRepository.layerConfig()
        : Layer.unwrapEffect(Effect.as(ensureFolder(file), SqliteRepository.layer({ filename: file }))))
  )

/** The Orchestrator for `pipelines`, persisting runs in the SQLite file `file` (or in PostgreSQL). */
export const orchestratorOn = <const Pipelines extends ReadonlyArray<Pipeline.Any>>(
  pipelines: Pipelines,
  file: string
) => Orchestrator.layer(pipelines).pipe(Layer.provide(repositoryOn(file)))
