/**
 * `prorch/Pg`: the PostgreSQL repository, for many workers on many machines, over
 * `@effect/sql-pg`. Its own entry, so that importing `prorch` or `prorch/Sqlite` loads no
 * PostgreSQL code and needs no PostgreSQL types.
 *
 * @example
 * ```ts
 * import { Orchestrator } from "prorch"
 * import { PgRepository } from "prorch/Pg"
 *
 * const AppLive = Orchestrator.layer([backup]).pipe(
 *   Layer.provide(PgRepository.layer({ url: Redacted.make(process.env.DATABASE_URL!) }))
 * )
 * ```
 *
 * @module prorch/Pg
 * @since 0.1.0
 */

/**
 * The PostgreSQL repository layers: `layer(config)`, `layerConfig`, `layerClient`.
 *
 * @since 0.1.0
 */
export * as PgRepository from "./PgRepository.js"
