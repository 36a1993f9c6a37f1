/**
 * @internal the migrations of the library's tables
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { RepositoryError } from "../../Errors.js"
import { inTransaction, retrying } from "./connection.js"
import type { Dialect, Exec, Tables } from "./dialect.js"

/** @internal a migration: statements applied once, in order, recorded in the library's own table */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

/**
 * @internal apply the migrations that are missing, in one write transaction, tried again like any
 * write (several processes may start at once)
 */
export const migrate = (
  sql: SqlClient.SqlClient,
  dialect: Pick<Dialect, "placeholders" | "beginWrite" | "retryable" | "retryFor" | "maxPause" | "logRetries">,
  tables: Tables,
  migrations: ReadonlyArray<Migration>,
  lock: (exec: Exec) => Effect.Effect<unknown, SqlError> = () => Effect.void
): Effect.Effect<void, RepositoryError> =>
  retrying(dialect, "migrate", Effect.uninterruptibleMask((restore) =>
    Effect.scoped(
      Effect.flatMap(
        sql.reserve,
        (conn) => {
          // unprepared: a migration's statements run once
          const exec: Exec = (text, params = []) =>
            conn.executeUnprepared(dialect.placeholders(text), params, undefined)
          return inTransaction(exec, dialect.beginWrite, (exec) =>
            Effect.gen(function*() {
              yield* lock(exec)
              yield* exec(
                `CREATE TABLE IF NOT EXISTS ${tables.migrations} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, ` +
                  `applied_at BIGINT NOT NULL)`
              )
              const applied = new Set((yield* exec(`SELECT id FROM ${tables.migrations}`)).map((row) => Number(row.id)))
              for (const migration of migrations) {
                if (applied.has(migration.id)) continue
                for (const statement of migration.statements) yield* exec(statement)
                yield* exec(`INSERT INTO ${tables.migrations} (id, name, applied_at) VALUES (?, ?, ?)`, [
                  migration.id,
                  migration.name,
                  Date.now()
                ])
              }
            }), restore)
        }
      )
    )
  ))
