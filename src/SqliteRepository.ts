/**
 * The embedded default: the Repository service on a SQLite file, through `@effect/sql` and
 * `@effect/sql-sqlite-node`.
 *
 * - WAL journal, `synchronous = FULL` by default (a committed transition survives a power loss);
 *   several processes on one file wait for each other's write lock (the library retries a locked
 *   transaction with short pauses that leave the event loop free, for up to `busyTimeout`).
 * - Write transactions take the write lock up front (`BEGIN IMMEDIATE`): a claim's read and its
 *   write are one atomic step, also across processes.
 * - The library's own tables (`prorch_pipelines`, `prorch_pipeline_steps`, `prorch_history`,
 *   `prorch_signals`) and migrations table (`prorch_migrations`); the due query goes through a
 *   partial index over the runs that have not ended.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { RepositoryError } from "./Errors.js"
import * as Repository from "./Repository.js"
import * as Sql from "./internal/sql.js"
import * as Schema from "./internal/sql/schema.js"

/**
 * Options of the SQLite repository.
 *
 * - `filename`: the database file, or `:memory:`.
 * - `busyTimeout`: how long an operation keeps trying while another process holds the write lock
 *   (default 5 seconds). The library retries locked transactions itself, with short random
 *   pauses that leave the event loop free, instead of SQLite's busy handler, which sleeps the
 *   thread for up to 100 ms at a time.
 * - `synchronous`: SQLite's `synchronous` setting (default `FULL`; `NORMAL` trades the last
 *   commits before a power loss for speed; an application crash loses nothing either way).
 * - `tablePrefix`: the prefix of the library's tables (default `prorch_`).
 * - `groupCommit`: whether creates and commits that several fibers make at the same moment share
 *   one transaction, and so one fsync (default: when commits fsync, with `synchronous` `FULL` or
 *   `EXTRA`; with `NORMAL` or `OFF` a commit costs little, and a group would make a lone writer
 *   wait for the others' writes). Each call still returns once its own write has committed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly filename: string
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly synchronous?: "OFF" | "NORMAL" | "FULL" | "EXTRA" | undefined
  readonly tablePrefix?: string | undefined
  readonly groupCommit?: boolean | undefined
}

/**
 * Options of `layerClient`: the same as `Options` without the file (group commit needs the
 * repository's own connection: over a client, each write commits alone).
 *
 * @since 0.1.0
 * @category models
 */
export type ClientOptions = Omit<Options, "filename" | "groupCommit">

const cacheKiB = 8 * 1024

/** @internal */
export const tables = (prefix = "prorch_"): Sql.Tables => {
  const name = (table: string) => `"${`${prefix}${table}`.replace(/"/g, "\"\"")}"`
  return {
    runs: name("pipelines"),
    steps: name("pipeline_steps"),
    history: name("history"),
    signals: name("signals"),
    migrations: name("migrations")
  }
}

const isBusy = (error: RepositoryError): boolean => {
  const cause = (error.cause as { cause?: { code?: unknown } } | undefined)?.cause
  return typeof cause?.code === "string" && (cause.code === "SQLITE_BUSY" || cause.code.startsWith("SQLITE_BUSY_"))
}

/** @internal */
export const dialect = (retryFor: number): Sql.Dialect => ({
  placeholders: (sql) => sql,
  beginWrite: "BEGIN IMMEDIATE",
  beginRead: "BEGIN",
  claim: Sql.claimBySelect,
  retryable: isBusy,
  retryFor,
  maxPause: 20,
  logRetries: false,
  singleStatements: false
})

/** @internal */
export const migrations = (t: Sql.Tables, prefix: string): ReadonlyArray<Sql.Migration> => [
  {
    id: 1,
    name: "runs, steps, history, signals",
    statements: Schema.render({
      type: (type) => (type === "text" ? "TEXT" : "INTEGER"),
      tableOptions: (table) => (table.clustered ? " WITHOUT ROWID" : ""),
      indexName: (name) => `"${prefix}${name}"`
    }, t)
  },
  {
    id: 2,
    name: "the runs' version is their revision",
    statements: [`ALTER TABLE ${t.runs} RENAME COLUMN version TO revision`]
  }
]

/**
 * Build the repository over an existing SqlClient connected to SQLite: apply the library's
 * migrations and return the service. The client keeps its own settings (its `synchronous` mode is
 * set only when `options.synchronous` is given).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: ClientOptions = {}
): Effect.Effect<Repository.Service, RepositoryError, SqlClient.SqlClient | Scope.Scope> => build(options, false)

/** with `own`, the client is the repository's alone: it is configured, and its connection held */
const build = (
  options: Omit<Options, "filename">,
  own: boolean
): Effect.Effect<Repository.Service, RepositoryError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const prefix = options.tablePrefix ?? "prorch_"
    const t = tables(prefix)
    const busy = Math.round(Duration.toMillis(Duration.decode(options.busyTimeout ?? "5 seconds")))
    const d = dialect(busy)
    const pragmas = own
      ? [
        // the library waits for locks itself (without blocking the event loop); a short timeout
        // inside SQLite covers the rest
        "busy_timeout = 5",
        `synchronous = ${options.synchronous ?? "FULL"}`,
        // a page cache a little larger than SQLite's 2 MiB default, still bounded: fewer reads
        `cache_size = -${cacheKiB}`
      ]
      : options.synchronous === undefined ? [] : [`synchronous = ${options.synchronous}`]
    yield* Effect.scoped(Effect.gen(function*() {
      const conn = yield* sql.reserve
      for (const pragma of pragmas) yield* conn.executeUnprepared(`PRAGMA ${pragma}`, [], undefined)
    })).pipe(Effect.mapError((cause) => new RepositoryError({ operation: "configure", cause })))
    yield* Sql.migrate(sql, d, t, migrations(t, prefix))
    if (!own) return Sql.make(sql, d, t)
    // the client is the repository's own: hold its connection for good, and save each transaction
    // the cost of reserving it
    const conn = yield* Effect.mapError(sql.reserve, (cause) => new RepositoryError({ operation: "connect", cause }))
    const lock = Sql.makeLock()
    const synchronous = options.synchronous ?? "FULL"
    const groupCommit = options.groupCommit ?? (synchronous === "FULL" || synchronous === "EXTRA")
    return Sql.make(sql, d, t, { conn, lock, groupCommit })
  })

/**
 * The repository on a SQLite file (or `:memory:`), with a client of its own.
 *
 * @example
 * ```ts
 * Effect.provide(program, Orchestrator.layer([backup]).pipe(
 *   Layer.provide(SqliteRepository.layer({ filename: "prorch.db" }))
 * ))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Repository.Repository, RepositoryError | ConfigError.ConfigError> =>
  Layer.scoped(Repository.Repository, build(options, true)).pipe(
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    // opening the file throws (a missing directory, a file that is not a database): a typed error
    Layer.catchAllCause((cause) =>
      Layer.fail(
        Cause.isFailType(cause) ? cause.error : new RepositoryError({ operation: "open", cause: Cause.squash(cause) })
      )
    )
  )

/**
 * The repository on a SQLite file, with its options read from `Config` (environment variables
 * by default).
 *
 * @example
 * ```ts
 * SqliteRepository.layerConfig({
 *   filename: Config.string("PRORCH_DB").pipe(Config.withDefault("prorch.db"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<Repository.Repository, RepositoryError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * The repository over the application's own SqlClient (from `@effect/sql-sqlite-node`): the
 * library's tables live beside the application's, under their prefix.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: ClientOptions = {}
): Layer.Layer<Repository.Repository, RepositoryError, SqlClient.SqlClient> =>
  Layer.scoped(Repository.Repository, make(options))
