/**
 * `prorch/Sqlite`: the SQLite repository, the embedded default, over `@effect/sql-sqlite-node`
 * (better-sqlite3). Its own entry, so that importing `prorch` loads no SQL driver.
 *
 * @example
 * ```ts
 * import { Orchestrator } from "prorch"
 * import { SqliteRepository } from "prorch/Sqlite"
 *
 * const AppLive = Orchestrator.layer([backup]).pipe(
 *   Layer.provide(SqliteRepository.layer({ filename: "prorch.db" }))
 * )
 * ```
 *
 * @module prorch/Sqlite
 * @since 0.1.0
 */

/**
 * The SQLite repository layers: `layer({ filename })`, `layerConfig`, `layerClient`.
 *
 * @since 0.1.0
 */
export * as SqliteRepository from "./SqliteRepository.js"
