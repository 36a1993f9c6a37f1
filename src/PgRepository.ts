/**
 * The scale-out backend: the Repository service on PostgreSQL, through `@effect/sql` and
 * `@effect/sql-pg`. Every worker, on every machine, points at one database; nothing else is
 * needed.
 *
 * - Claims lock due runs with `FOR UPDATE SKIP LOCKED` and lease them in one statement, which also
 *   returns their steps: workers never queue behind one another's rows.
 * - Idle workers are woken by `LISTEN/NOTIFY` when a run is created, signalled, released or
 *   becomes due within a minute; polling is the fallback.
 * - The library's own tables and migrations live in a schema of their own (`prorch` by default);
 *   migrations take an advisory lock, so several workers may start at once.
 * - A transaction that fails because the connection broke, or on a deadlock or serialization
 *   failure, is tried again (for up to `retryFor`, 15 seconds by default): a restarted server
 *   costs a pause, not a failed tick.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { RepositoryError } from "./Errors.js"
import * as Repository from "./Repository.js"
import * as Sql from "./internal/sql.js"
import * as Schema from "./internal/sql/schema.js"

/**
 * Options of the PostgreSQL repository (besides the connection).
 *
 * - `schema`: the schema of the library's tables (default `prorch`); created if missing.
 * - `retryFor`: how long a transaction that failed on a broken connection, a deadlock or a
 *   serialization failure is tried again (default 15 seconds).
 * - `listen`: whether idle workers listen for NOTIFY wake-ups (default `true`); turn it off behind
 *   a pooler that cannot LISTEN (PgBouncer in transaction mode): workers then poll.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly schema?: string | undefined
  readonly retryFor?: Duration.DurationInput | undefined
  readonly listen?: boolean | undefined
}

/**
 * The connection (see `@effect/sql-pg`'s `PgClientConfig`: `url`, or `host`, `port`, `database`,
 * `username`, `password`; `maxConnections` sizes the pool) and the repository's options.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends PgClient.PgClientConfig, Options {}

const quote = (identifier: string) => `"${identifier.replace(/"/g, "\"\"")}"`

/** @internal */
export const tables = (schema = "prorch"): Sql.Tables => ({
  runs: `${quote(schema)}.${quote("pipelines")}`,
  steps: `${quote(schema)}.${quote("pipeline_steps")}`,
  history: `${quote(schema)}.${quote("history")}`,
  signals: `${quote(schema)}.${quote("signals")}`,
  migrations: `${quote(schema)}.${quote("migrations")}`
})

/** @internal the NOTIFY channel of a schema */
export const channel = (schema: string): string => `prorch_${schema}`.slice(0, 63)

/** @internal `?` placeholders to `$1`, `$2`, ... */
export const placeholders = (sql: string): string => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

const retryableCodes = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300" // too_many_connections
])

const connectionErrors = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"])

/** @internal whether a failed transaction may be tried again */
export const isRetryable = (error: RepositoryError): boolean => {
  const sqlError = error.cause as { cause?: unknown; message?: string } | undefined
  const cause = sqlError?.cause as { code?: unknown; message?: unknown } | undefined
  if (cause === undefined || cause === null) return false
  const code = typeof cause.code === "string" ? cause.code : ""
  if (retryableCodes.has(code) || code.startsWith("08") || connectionErrors.has(code)) return true
  const message = typeof cause.message === "string" ? cause.message : ""
  return /Connection terminated|terminating connection|Client has encountered a connection error|not queryable|connection timeout|timeout exceeded when trying to connect/i
    .test(message)
}

/** @internal */
export const dialect = (schema: string, retryFor: number): Sql.Dialect => {
  const t = tables(schema)
  return {
    placeholders,
    beginWrite: "BEGIN",
    beginRead: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    claim: (_tables, exec, options) =>
      options.names.length === 0 || options.limit <= 0
        ? Effect.succeed([])
        : Effect.map(
          exec(
            `WITH due AS (SELECT uuid, lease_owner FROM ${t.runs} WHERE status IN ('created', 'pending') ` +
              `AND wake_at <= ? AND (lease_owner IS NULL OR lease_expires_at <= ?) ` +
              `AND name IN ${Sql.tuple(options.names.length)} ` +
              (options.after === undefined ? "" : `AND (wake_at, uuid) > (CAST(? AS BIGINT), CAST(? AS TEXT)) `) +
              `ORDER BY wake_at, uuid LIMIT ? FOR UPDATE SKIP LOCKED) ` +
              `UPDATE ${t.runs} AS r SET lease_owner = ?, lease_expires_at = ?, revision = r.revision + 1 ` +
              `FROM due WHERE r.uuid = due.uuid ` +
              `RETURNING r.*, due.lease_owner AS previous_owner, ` +
              `(SELECT COALESCE(json_agg(s ORDER BY s.position), '[]'::json) FROM ${t.steps} AS s ` +
              `WHERE s.pipeline_uuid = r.uuid) AS steps_json`,
            [
              options.now,
              options.now,
              ...options.names,
              ...(options.after === undefined ? [] : [options.after.wakeAt, options.after.uuid]),
              options.limit,
              options.owner,
              options.leaseExpiresAt
            ]
          ),
          (rows) =>
            rows.map((row) => {
              const { previous_owner, steps_json, ...run } = row
              return {
                row: run,
                previousOwner: previous_owner ?? null,
                steps: typeof steps_json === "string" ? JSON.parse(steps_json) : steps_json
              }
            })
        ),
    notify: (exec, at) => Effect.asVoid(exec(`SELECT pg_notify(?, ?)`, [channel(schema), String(at)])),
    retryable: isRetryable,
    retryFor,
    maxPause: 500,
    logRetries: true,
    singleStatements: true,
    channel: channel(schema)
  }
}

/** @internal */
export const migrations = (schema: string): ReadonlyArray<Sql.Migration> => {
  const t = tables(schema)
  return [
    {
      id: 1,
      name: "runs, steps, history, signals",
      statements: Schema.render({
        type: (type) => (type === "text" ? "TEXT" : type === "int" ? "INTEGER" : "BIGINT"),
        tableOptions: (table) => (table.updated ? " WITH (fillfactor = 80)" : ""),
        indexName: (name) => name
      }, t)
    },
    {
      id: 2,
      name: "the runs' version is their revision",
      statements: [`ALTER TABLE ${t.runs} RENAME COLUMN version TO revision`]
    }
  ]
}

/**
 * Build the repository over an existing `PgClient`: apply the library's migrations (under an
 * advisory lock) and return the service, with NOTIFY wake-ups.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Repository.Service, RepositoryError, PgClient.PgClient> =>
  Effect.gen(function*() {
    const client = yield* PgClient.PgClient
    const sql = (client as SqlClient.SqlClient).withoutTransforms()
    const schema = options.schema ?? "prorch"
    const retryFor = Math.round(Duration.toMillis(Duration.decode(options.retryFor ?? "15 seconds")))
    const d = dialect(schema, retryFor)
    const t = tables(schema)
    yield* Sql.migrate(
      sql,
      d,
      t,
      migrations(schema),
      (exec) =>
        Effect.zipRight(
          exec(`SELECT pg_advisory_xact_lock(hashtext(?))`, [`prorch:${schema}`]),
          exec(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`)
        )
    )
    const wakeups: Stream.Stream<number, RepositoryError> = Stream.suspend(() => client.listen(channel(schema))).pipe(
      // a LISTEN connection that broke (the server restarted) stays silent: listen afresh now and then
      Stream.interruptAfter(Duration.seconds(30)),
      Stream.map(Number),
      Stream.filter((at) => Number.isFinite(at)),
      Stream.mapError((cause) => new RepositoryError({ operation: "listen", cause }))
    )
    return { ...Sql.make(sql, d, t), wakeups: options.listen === false ? undefined : wakeups }
  })

const typed = <A, R>(layer: Layer.Layer<A, unknown, R>): Layer.Layer<A, RepositoryError, R> =>
  Layer.catchAllCause(layer, (cause) => {
    const error = Cause.squash(cause)
    return Layer.fail(
      error instanceof RepositoryError ? error : new RepositoryError({ operation: "connect", cause: error })
    )
  })

/**
 * The repository over the application's own `PgClient` (from `@effect/sql-pg`): the library's
 * tables live in their own schema of the application's database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (options: Options = {}): Layer.Layer<Repository.Repository, RepositoryError, PgClient.PgClient> =>
  Layer.effect(Repository.Repository, make(options))

/**
 * The repository with a connection pool of its own.
 *
 * @example
 * ```ts
 * PgRepository.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/app"), maxConnections: 10 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: LayerOptions): Layer.Layer<Repository.Repository, RepositoryError> => {
  const { listen, retryFor, schema, ...connection } = config
  return typed(
    layerClient({ schema, retryFor, listen }).pipe(
      Layer.provide(PgClient.layer({ applicationName: "prorch", ...connection }))
    )
  )
}

/**
 * The repository with its connection read from `Config`. By default (no argument) it reads
 * `PRORCH_PG_URL` (a connection URL), `PRORCH_PG_SCHEMA` (default `prorch`) and
 * `PRORCH_PG_MAX_CONNECTIONS` (default 10) from the environment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<LayerOptions> = {
    url: Config.redacted("PRORCH_PG_URL"),
    schema: Config.string("PRORCH_PG_SCHEMA").pipe(Config.withDefault("prorch")),
    maxConnections: Config.integer("PRORCH_PG_MAX_CONNECTIONS").pipe(Config.withDefault(10))
  }
): Layer.Layer<Repository.Repository, RepositoryError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
