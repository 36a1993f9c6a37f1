/**
 * Where the examples keep their runs (a "store"), and the layers on it.
 *
 * - The scripts that share runs (`create.ts`, `run-pending.ts`, `worker.ts`...) use `sharedStore`:
 *   PostgreSQL when the env var `PRORCH_PG_URL` names a database (for instance
 *   `postgres://postgres@127.0.0.1:5432/test`), in the schema `PRORCH_PG_SCHEMA` (default `prorch`);
 *   else the SQLite file `PRORCH_DB`, else the example's `data/prorch.db`.
 * - The one-command scripts (`drive.ts`, `demo.ts`...) use `freshStore`, a store of their own that
 *   is emptied when they start: the schema `<PRORCH_PG_SCHEMA>_<example>_<name>` (dropped first), or
 *   the file `<name>.db` in the example's data folder (deleted first). They never empty the store
 *   of the other scripts, nor the file in `PRORCH_DB`.
 *
 * The data folder of an example is `examples/<example>/data/`, or `$PRORCH_EXAMPLES_DATA/<example>/`
 * when that env var is set (the tests use it to keep the working tree clean).
 */
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Config, type ConfigError, Effect, Layer, Option, Redacted } from "effect"
import { mkdirSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Errors, Orchestrator, type Pipeline, type Repository } from "prorch"
import { PgRepository } from "prorch/Pg"
import { SqliteRepository } from "prorch/Sqlite"
import { shown } from "./paths.js"

/** A SQLite file, or a schema of a PostgreSQL database; `fresh` ones are emptied when the layer starts. */
export type Store =
  | { readonly _tag: "Sqlite"; readonly file: string; readonly fresh: boolean }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted; readonly schema: string; readonly fresh: boolean }

/** The file `name` in the data folder of `example`. */
export const dataFile = (example: string, name: string): Config.Config<string> =>
  Config.map(
    Config.option(Config.string("PRORCH_EXAMPLES_DATA")),
    Option.match({
      onNone: () => fileURLToPath(new URL(`../${example}/data/${name}`, import.meta.url)),
      onSome: (folder) => join(folder, example, name)
    })
  )

/** `PRORCH_PG_URL` and `PRORCH_PG_SCHEMA`, when the URL is set. */
const postgres = Config.option(Config.all({
  url: Config.redacted("PRORCH_PG_URL"),
  schema: Config.string("PRORCH_PG_SCHEMA").pipe(Config.withDefault("prorch"))
}))

/** The store that the scripts of `example` share. */
export const sharedStore = (example: string): Config.Config<Store> =>
  Config.all([postgres, Config.string("PRORCH_DB").pipe(Config.orElse(() => dataFile(example, "prorch.db")))]).pipe(
    Config.map(([pg, file]): Store =>
      Option.match(pg, {
        onNone: () => ({ _tag: "Sqlite", file, fresh: false }),
        onSome: ({ schema, url }) => ({ _tag: "Postgres", url, schema, fresh: false })
      })
    )
  )

/** The store of the one-command script `name` of `example`, emptied when it starts. */
export const freshStore = (example: string, name: string): Config.Config<Store> =>
  Config.all([postgres, dataFile(example, `${name}.db`)]).pipe(
    Config.map(([pg, file]): Store =>
      Option.match(pg, {
        onNone: () => ({ _tag: "Sqlite", file, fresh: true }),
        onSome: ({ schema, url }) => ({
          _tag: "Postgres",
          url,
          schema: `${schema}_${example}_${name}`.replace(/\W/g, "_"),
          fresh: true
        })
      })
    )
  )

/** Where a store is, for messages: the file, or the database (without its password) and the schema. */
export const where = (store: Store): string => {
  const fresh = store.fresh ? " (fresh)" : ""
  if (store._tag === "Sqlite") return `${shown(store.file)}${fresh}`
  const url = URL.canParse(Redacted.value(store.url)) ? new URL(Redacted.value(store.url)) : undefined
  if (url !== undefined) url.password = ""
  return `PostgreSQL ${url ?? "PRORCH_PG_URL"}, schema ${store.schema}${fresh}`
}

/** Delete a SQLite file with its WAL companions, and create its folder if missing. */
const emptyFile = (file: string, remove: boolean): Effect.Effect<void> =>
  Effect.sync(() => {
    if (remove) for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(file + suffix, { force: true })
    mkdirSync(dirname(file), { recursive: true })
  })

/** Drop a PostgreSQL schema with the runs in it (over a connection of its own). */
const dropSchema = (url: Redacted.Redacted, schema: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).pipe(
    Effect.provide(PgClient.layer({ url }))
  )

/** The repository on a store (emptied first when the store is fresh). */
export const repositoryOn = (
  store: Store
): Layer.Layer<Repository.Repository, Errors.RepositoryError | ConfigError.ConfigError | SqlError> =>
  store._tag === "Sqlite"
    ? Layer.unwrapEffect(Effect.as(emptyFile(store.file, store.fresh), SqliteRepository.layer({ filename: store.file })))
    : Layer.unwrapEffect(
      Effect.as(
        store.fresh ? dropSchema(store.url, store.schema) : Effect.void,
        PgRepository.layer({ url: store.url, schema: store.schema })
      )
    )

/** The Orchestrator for `pipelines`, persisting runs in `store`. */
export const orchestratorOn = <const Pipelines extends ReadonlyArray<Pipeline.Any>>(
  pipelines: Pipelines,
  store: Store
) => Orchestrator.layer(pipelines).pipe(Layer.provide(repositoryOn(store)))
