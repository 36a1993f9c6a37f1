/**
 * @internal what differs between SQLite and PostgreSQL, and the statements both share
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { RepositoryError } from "../../Errors.js"
import type * as Repository from "../../Repository.js"

/** @internal the escaped names of the library's tables */
export interface Tables {
  readonly runs: string
  readonly steps: string
  readonly history: string
  readonly signals: string
  readonly migrations: string
}

/** @internal what differs between SQLite and PostgreSQL */
export interface Dialect {
  /** turn `?` placeholders into the dialect's */
  readonly placeholders: (sql: string) => string
  readonly beginWrite: string
  readonly beginRead: string
  /**
   * the claim: lease due runs, returning their rows, the previous lease owners and, when the
   * dialect can fetch them in the same statement, their step rows
   */
  readonly claim: (
    tables: Tables,
    exec: Exec,
    options: Repository.ClaimOptions
  ) => Effect.Effect<ReadonlyArray<Leased>, SqlError | RepositoryError>
  /**
   * tell idle workers that a run is due at `at` (epoch milliseconds), in the transaction
   * (PostgreSQL NOTIFY, delivered when it commits)
   */
  readonly notify?: ((exec: Exec, at: number) => Effect.Effect<void, SqlError | RepositoryError>) | undefined
  /** the NOTIFY channel, for the statements that notify in themselves */
  readonly channel?: string | undefined
  /** whether a failed transaction may simply be tried again (SQLite's "database is locked") */
  readonly retryable: (error: RepositoryError) => boolean
  /** how long to keep trying a retryable transaction, in milliseconds */
  readonly retryFor: number
  /** the longest pause between two tries, in milliseconds */
  readonly maxPause: number
  /** whether a retried failure is worth a log line (a broken connection is; a busy lock is not) */
  readonly logRetries: boolean
  /**
   * whether writes are single statements (PostgreSQL: data-modifying CTEs, one round trip each)
   * instead of transactions of several statements (SQLite: statements cost no round trip)
   */
  readonly singleStatements: boolean
}

/** @internal a run leased by a claim */
export interface Leased {
  readonly row: any
  readonly previousOwner: string | null
  readonly steps?: ReadonlyArray<any> | undefined
}

/** @internal a run due later than this is not worth waking anyone for: polling finds it */
export const notifyWindow = 60_000

/**
 * @internal run one statement on the connection of a transaction. It fails with the driver's
 * `SqlError`: the transaction maps it, once, to a `RepositoryError` naming its operation
 * (`retrying`), rather than each statement paying for a mapping of its own.
 */
export type Exec = (sql: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<any>, SqlError>

/** @internal `(?, ?, ?)` */
export const tuple = (n: number) => `(${Array.from({ length: n }, () => "?").join(", ")})`

/** @internal `(?, ?), (?, ?)` */
export const values = (rows: number, columns: number) => Array.from({ length: rows }, () => tuple(columns)).join(", ")

/** @internal the query that finds the runs due for a claim, in due order, through the due index */
export const dueQuery = (tables: Tables, names: number, cursor: boolean): string =>
  `SELECT uuid, lease_owner FROM ${tables.runs} WHERE status IN ('created', 'pending') AND wake_at <= ? ` +
  `AND (lease_owner IS NULL OR lease_expires_at <= ?) AND name IN ${tuple(names)} ` +
  `${cursor ? "AND (wake_at, uuid) > (CAST(? AS BIGINT), CAST(? AS TEXT)) " : ""}ORDER BY wake_at, uuid LIMIT ?`

/** @internal the query that finds when an idle worker should look again */
export const nextWakeQuery = (tables: Tables, names: number): string =>
  `SELECT wake_at FROM ${tables.runs} WHERE status IN ('created', 'pending') AND wake_at > ? ` +
  `AND ${names === 0 ? "1 = 0" : `name IN ${tuple(names)}`} ORDER BY wake_at, uuid LIMIT 1`

/** @internal the claim of the dialects where one statement cannot return the previous owners */
export const claimBySelect = (
  tables: Tables,
  exec: Exec,
  options: Repository.ClaimOptions
): Effect.Effect<ReadonlyArray<Leased>, SqlError> =>
  Effect.gen(function*() {
    if (options.names.length === 0 || options.limit <= 0) return []
    const due = yield* exec(dueQuery(tables, options.names.length, options.after !== undefined), [
      options.now,
      options.now,
      ...options.names,
      ...(options.after === undefined ? [] : [options.after.wakeAt, options.after.uuid]),
      options.limit
    ])
    if (due.length === 0) return []
    const previous = new Map<string, string | null>(due.map((row) => [String(row.uuid), row.lease_owner ?? null]))
    const rows = yield* exec(
      `UPDATE ${tables.runs} SET lease_owner = ?, lease_expires_at = ?, revision = revision + 1 ` +
        `WHERE uuid IN ${tuple(due.length)} RETURNING *`,
      [options.owner, options.leaseExpiresAt, ...previous.keys()]
    )
    return rows.map((row) => ({ row, previousOwner: previous.get(String(row.uuid)) ?? null }))
  })
