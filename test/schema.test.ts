/**
 * The library's tables, defined once (src/internal/sql/schema.ts) and rendered per dialect: a fresh
 * database gets exactly the tables, columns, keys and indexes that the first migration made when it
 * was written out by hand for each dialect (kept here as it was released), then the second (the
 * runs' `version` renamed `revision`), so that databases made before and after the change are the same.
 */
import Database from "better-sqlite3"
import { Effect, Layer, Option, Redacted } from "effect"
import { Orchestrator, pipeline, Repository, step, Step } from "prorch"
import pg from "pg"
import { describe, expect, inject, it } from "vitest"
import { PgRepository } from "prorch/Pg"
import { SqliteRepository } from "prorch/Sqlite"
import { pgSchema, tmpFile } from "./support/backends.js"

/** the first migration as it was released, SQLite */
const releasedSqlite = (t: ReturnType<typeof SqliteRepository.tables>, prefix: string): Array<string> => [

      `CREATE TABLE ${t.runs} (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        metadata TEXT NOT NULL,
        input TEXT,
        idempotency_key TEXT,
        version INTEGER NOT NULL,
        wake_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        pending_signals INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        ended_at INTEGER,
        events INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID`,
      `CREATE INDEX "${prefix}pipelines_due" ON ${t.runs} (wake_at, uuid) WHERE status IN ('created', 'pending')`,
      `CREATE UNIQUE INDEX "${prefix}pipelines_idempotency" ON ${t.runs} (name, idempotency_key) ` +
      `WHERE idempotency_key IS NOT NULL`,
      `CREATE INDEX "${prefix}pipelines_created" ON ${t.runs} (created_at, uuid)`,
      `CREATE INDEX "${prefix}pipelines_name_created" ON ${t.runs} (name, created_at)`,
      `CREATE INDEX "${prefix}pipelines_status_created" ON ${t.runs} (status, created_at)`,
      `CREATE TABLE ${t.steps} (
        pipeline_uuid TEXT NOT NULL REFERENCES ${t.runs} (uuid),
        position INTEGER NOT NULL,
        uuid TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        metadata TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        state TEXT,
        output TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        PRIMARY KEY (pipeline_uuid, position)
      ) WITHOUT ROWID`,
      `CREATE TABLE ${t.history} (
        run_uuid TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        attempt INTEGER,
        worker TEXT,
        data TEXT,
        PRIMARY KEY (run_uuid, seq)
      ) WITHOUT ROWID`,
      `CREATE TABLE ${t.signals} (
        id TEXT PRIMARY KEY,
        run_uuid TEXT NOT NULL,
        step TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        consumed_at INTEGER
      )`,
      `CREATE INDEX "${prefix}signals_pending" ON ${t.signals} (run_uuid, created_at) WHERE consumed_at IS NULL`
]

/** the first migration as it was released, PostgreSQL */
const releasedPg = (t: ReturnType<typeof PgRepository.tables>): Array<string> => [

        `CREATE TABLE ${t.runs} (
          uuid TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          status TEXT NOT NULL,
          metadata TEXT NOT NULL,
          input TEXT,
          idempotency_key TEXT,
          version BIGINT NOT NULL,
          wake_at BIGINT NOT NULL,
          lease_owner TEXT,
          lease_expires_at BIGINT,
          pending_signals INTEGER NOT NULL DEFAULT 0,
          error TEXT,
          created_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL,
          ended_at BIGINT,
          events INTEGER NOT NULL DEFAULT 0
        ) WITH (fillfactor = 80)`,
        `CREATE INDEX pipelines_due ON ${t.runs} (wake_at, uuid) WHERE status IN ('created', 'pending')`,
        `CREATE UNIQUE INDEX pipelines_idempotency ON ${t.runs} (name, idempotency_key) ` +
        `WHERE idempotency_key IS NOT NULL`,
        `CREATE INDEX pipelines_created ON ${t.runs} (created_at, uuid)`,
        `CREATE INDEX pipelines_name_created ON ${t.runs} (name, created_at)`,
        `CREATE INDEX pipelines_status_created ON ${t.runs} (status, created_at)`,
        `CREATE TABLE ${t.steps} (
          pipeline_uuid TEXT NOT NULL REFERENCES ${t.runs} (uuid),
          position INTEGER NOT NULL,
          uuid TEXT NOT NULL,
          name TEXT NOT NULL,
          status TEXT NOT NULL,
          metadata TEXT NOT NULL,
          attempt INTEGER NOT NULL,
          state TEXT,
          output TEXT,
          error TEXT,
          created_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL,
          started_at BIGINT,
          ended_at BIGINT,
          PRIMARY KEY (pipeline_uuid, position)
        ) WITH (fillfactor = 80)`,
        `CREATE TABLE ${t.history} (
          run_uuid TEXT NOT NULL,
          seq INTEGER NOT NULL,
          at BIGINT NOT NULL,
          type TEXT NOT NULL,
          step TEXT,
          attempt INTEGER,
          worker TEXT,
          data TEXT,
          PRIMARY KEY (run_uuid, seq)
        )`,
        `CREATE TABLE ${t.signals} (
          id TEXT PRIMARY KEY,
          run_uuid TEXT NOT NULL,
          step TEXT NOT NULL,
          payload TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          consumed_at BIGINT
        )`,
        `CREATE INDEX signals_pending ON ${t.signals} (run_uuid, created_at) WHERE consumed_at IS NULL`
]

/** the second migration, as written */
const renamed = (runs: string) => `ALTER TABLE ${runs} RENAME COLUMN version TO revision`

const sqliteShape = (file: string) => {
  const db = new Database(file, { readonly: true })
  try {
    const objects = db.prepare(
      "SELECT type, name, tbl_name FROM sqlite_master WHERE name LIKE 'prorch_%' AND name NOT LIKE '%migrations%' ORDER BY name"
    ).all() as Array<{ type: string; name: string; tbl_name: string }>
    return objects.map((o) => ({
      ...o,
      columns: o.type === "table" ? db.prepare(`PRAGMA table_xinfo("${o.name}")`).all() : db.prepare(`PRAGMA index_xinfo("${o.name}")`).all(),
      // WITHOUT ROWID, the partial index's WHERE, the foreign key
      sql: String((db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").get(o.name) as { sql: string }).sql)
        .replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")"),
      foreignKeys: o.type === "table" ? db.prepare(`PRAGMA foreign_key_list("${o.name}")`).all() : []
    }))
  } finally {
    db.close()
  }
}

describe("the tables, rendered per dialect", () => {
  it("SQLite: a fresh file has the tables, columns, keys and indexes of the released first migration", async () => {
    const fresh = tmpFile("schema-fresh")
    await Effect.runPromise(Effect.scoped(Layer.build(SqliteRepository.layer({ filename: fresh }))))
    const released = tmpFile("schema-released")
    const db = new Database(released)
    for (const statement of releasedSqlite(SqliteRepository.tables("prorch_"), "prorch_")) db.exec(statement)
    db.exec(renamed(SqliteRepository.tables("prorch_").runs))
    db.close()
    const a = sqliteShape(fresh)
    const b = sqliteShape(released)
    expect(a.length).toBe(10)
    expect(a).toEqual(b)
  })

  it("SQLite: a file made by the released first migration, with a run in it, is migrated and its run goes on", async () => {
    const file = tmpFile("schema-upgrade")
    const db = new Database(file)
    for (const statement of releasedSqlite(SqliteRepository.tables("prorch_"), "prorch_")) db.exec(statement)
    db.exec("CREATE TABLE prorch_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
    db.prepare("INSERT INTO prorch_migrations VALUES (1, 'runs, steps, history, signals', 0)").run()
    db.prepare(
      `INSERT INTO prorch_pipelines (uuid, name, status, metadata, input, idempotency_key, version, wake_at, lease_owner,
       lease_expires_at, pending_signals, error, created_at, updated_at, ended_at, events)
       VALUES ('run-1', 'Upgraded', 'created', '{"current_step":null}', NULL, NULL, 7, 0, NULL, NULL, 0, NULL, 0, 0, NULL, 0)`
    ).run()
    db.prepare(
      `INSERT INTO prorch_pipeline_steps (uuid, pipeline_uuid, position, name, status, metadata, attempt, state, output,
       error, created_at, updated_at, started_at, ended_at) VALUES ('step-1', 'run-1', 0, 'Only', 'created', '{}', 1,
       NULL, NULL, NULL, 0, 0, NULL, NULL)`
    ).run()
    db.close()
    const p = pipeline("Upgraded", step("Only", { onContinue: () => Effect.succeed(Step.finish()) }))
    const run = await Effect.runPromise(Effect.gen(function*() {
      const repository = yield* Repository.Repository
      const loaded = Option.getOrThrow(yield* repository.load("run-1"))
      expect(loaded.run.revision).toBe(7)
      yield* Orchestrator.executePending()
      return yield* Orchestrator.get("run-1")
    }).pipe(
      Effect.provide(Orchestrator.layer([p]).pipe(Layer.provideMerge(SqliteRepository.layer({ filename: file })))),
      Effect.scoped
    ))
    expect(run.status).toBe("finished")
    expect(run.revision).toBeGreaterThan(7)
    const migrated = new Database(file, { readonly: true })
    expect(migrated.prepare("SELECT id FROM prorch_migrations ORDER BY id").all()).toEqual([{ id: 1 }, { id: 2 }])
    migrated.close()
  })

  const url = inject("pgUrl")
  it.skipIf(url === null)("PostgreSQL: a fresh schema has the tables, columns, keys and indexes of the released first migration", async () => {
    const fresh = pgSchema(inject("pgRunId"))
    const released = pgSchema(inject("pgRunId"))
    await Effect.runPromise(Effect.scoped(Layer.build(PgRepository.layer({ url: Redacted.make(url!), schema: fresh }))))
    const client = new pg.Client({ connectionString: url! })
    await client.connect()
    try {
      await client.query(`CREATE SCHEMA "${released}"`)
      for (const statement of releasedPg(PgRepository.tables(released))) await client.query(statement)
      await client.query(renamed(PgRepository.tables(released).runs))
      const shape = async (schema: string) => ({
        columns: (await client.query(
          "SELECT table_name, column_name, data_type, is_nullable, column_default, ordinal_position FROM information_schema.columns " +
            "WHERE table_schema = $1 AND table_name <> 'migrations' ORDER BY table_name, ordinal_position",
          [schema]
        )).rows,
        indexes: (await client.query(
          "SELECT indexname, replace(indexdef, $1, 'S.') AS indexdef FROM pg_indexes " +
            "WHERE schemaname = $2 AND tablename <> 'migrations' ORDER BY indexname",
          [`${schema}.`, schema]
        )).rows,
        options: (await client.query(
          "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
            "WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> 'migrations' ORDER BY c.relname",
          [schema]
        )).rows,
        constraints: (await client.query(
          "SELECT conname, contype, replace(pg_get_constraintdef(oid), $1, 'S.') AS def FROM pg_constraint " +
            "WHERE connamespace = $2::regnamespace AND conrelid::regclass::text NOT LIKE '%migrations%' ORDER BY conname",
          [`${schema}.`, `"${schema}"`]
        )).rows
      })
      const a = await shape(fresh)
      const b = await shape(released)
      expect(a.columns.length).toBe(44)
      expect(a).toEqual(b)
    } finally {
      await client.end()
    }
  })
})
