import Database from "better-sqlite3"
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Duration, Effect, Layer, Schema, String as Str, TestClock } from "effect"
import * as fs from "node:fs"
import { Orchestrator, pipeline, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { sqliteFile, tmpFile } from "./support/backends.js"
import { runTs } from "./support/process.js"
import { corruption, retriedWrites } from "./support/sqlSuite.js"

const backend = sqliteFile()
corruption({ ...backend, sql: backend.sql! }, (name) => `prorch_${name}`)
retriedWrites(backend)

describe("a SQLite file outlives its process", () => {
  it("a run left half-way by one process is finished by a new process, without running onStart again", async () => {
    const db = tmpFile("halfway")
    const log = `${db}.log`
    const started = await runTs("test/fixtures/halfway.ts", ["start", db, log])
    expect(started.code, started.stderr).toBe(0)
    const runId = started.stdout.trim()
    expect(runId).toMatch(/^[0-9a-f-]{36}$/)

    const first = fs.readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" "))
    const starter = first[0][0]
    expect(first.map((entry) => entry[1])).toEqual([
      "Generate.onStart",
      "Generate.onContinue",
      "Transfer.onStart",
      "Transfer.onContinue"
    ])

    const pass = await runTs("test/fixtures/halfway.ts", ["pass", db, log])
    expect(pass.code, pass.stderr).toBe(0)
    expect(JSON.parse(pass.stdout)).toEqual({ ticked: 1, finished: 1, errors: 0 })

    const all = fs.readFileSync(log, "utf8").trim().split("\n").map((line) => line.split(" "))
    const later = all.slice(first.length)
    expect(later.every((entry) => entry[0] !== starter)).toBe(true)
    expect(later.map((entry) => entry[1])).toEqual(["Transfer.onContinue", "Notify.onStart", "Notify.onContinue"])
    // the new process continued the same step run, with the state that the first one committed
    const transferStart = first[2]
    const transferContinue = later[0]
    expect(transferContinue[2]).toBe(transferStart[2])
    expect(transferContinue[3]).toBe(`job-${transferStart[2]}`)
    expect(transferContinue[4]).toBe("1")
    expect(all.filter((entry) => entry[1].endsWith(".onStart"))).toHaveLength(3)
  })
})

describe("SqliteRepository.layerClient over the application's own client", () => {
  it.effect("the library's tables live beside the application's; the client's name transforms do not matter", () => {
    const p = pipeline("Shared", step("Only", { onContinue: () => Effect.succeed(Step.finish()) }))
    // an application client that maps snake_case columns to camelCase, as many apps do
    const AppSql = SqliteClient.layer({
      filename: tmpFile("shared"),
      transformQueryNames: Str.camelToSnake,
      transformResultNames: Str.snakeToCamel
    })
    return Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE invoices (invoice_id INTEGER PRIMARY KEY, total_cents INTEGER)`
      yield* sql`INSERT INTO invoices ${sql.insert({ invoiceId: 1, totalCents: 500 })}`
      const runId = yield* Orchestrator.start(p)
      expect((yield* Orchestrator.get(runId)).status).toBe("finished")
      // the application's own queries still see its transforms, and its table is untouched
      const rows = yield* sql<{ invoiceId: number; totalCents: number }>`SELECT * FROM invoices`
      expect(rows).toEqual([{ invoiceId: 1, totalCents: 500 }])
      const tables = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
      expect(tables.map((t) => t.name)).toEqual([
        "invoices",
        "prorch_history",
        "prorch_migrations",
        "prorch_pipeline_steps",
        "prorch_pipelines",
        "prorch_signals"
      ])
    }).pipe(
      Effect.provide(Orchestrator.layer([p]).pipe(Layer.provideMerge(SqliteRepository.layerClient()))),
      Effect.provide(AppSql)
    )
  })
})

describe("a repository starting while another process writes to the file", () => {
  it.effect("waits for the write lock (it does not fail with \"database is locked\"), then migrates and works", () => {
    const file = tmpFile("startup")
    const p = pipeline("Startup", step("Only", {}))
    return Effect.gen(function*() {
      // another process (here: another connection) holds the write lock for 300 ms
      const other = new Database(file)
      other.pragma("journal_mode = WAL")
      other.exec("BEGIN IMMEDIATE")
      other.exec("CREATE TABLE app_table (id INTEGER PRIMARY KEY)")
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          other.exec("COMMIT")
          other.close()
          resolve()
        }, 300)
      )
      const runId = yield* Effect.scoped(
        Effect.flatMap(Orchestrator.Orchestrator, (o) => o.start(p)).pipe(
          Effect.provide(Orchestrator.layer([p]).pipe(Layer.provide(SqliteRepository.layer({ filename: file }))))
        )
      )
      yield* Effect.promise(() => released)
      const db = new Database(file, { readonly: true })
      const run = db.prepare("SELECT status FROM prorch_pipelines WHERE uuid = ?").get(runId) as { status: string }
      const app = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'app_table'").get() as { n: number }
      db.close()
      expect(run.status).toBe("finished")
      expect(app.n).toBe(1)
    })
  })
})

describe("a write while another process holds the write lock", () => {
  const p = pipeline("Locked", step("Only", {}))
  /** another process (here: another connection) takes the file's write lock; `release` gives it back */
  const holdLock = (file: string) => {
    const other = new Database(file)
    other.pragma("journal_mode = WAL")
    other.exec("BEGIN IMMEDIATE")
    return () => {
      other.exec("COMMIT")
      other.close()
    }
  }
  const started = (file: string, busyTimeout: Duration.DurationInput, hold: (file: string) => void) =>
    Effect.scoped(
      Effect.gen(function*() {
        const o = yield* Orchestrator.Orchestrator
        hold(file)
        return yield* o.start(p)
      }).pipe(Effect.provide(Orchestrator.layer([p]).pipe(Layer.provide(SqliteRepository.layer({ filename: file, busyTimeout })))))
    )

  it.effect("is tried again until the lock is released, then commits", () => {
    const file = tmpFile("locked-released")
    return Effect.gen(function*() {
      const runId = yield* started(file, "10 seconds", (file) => {
        const release = holdLock(file)
        setTimeout(release, 200)
      })
      const db = new Database(file, { readonly: true })
      const run = db.prepare("SELECT status FROM prorch_pipelines WHERE uuid = ?").get(runId) as { status: string }
      db.close()
      expect(run.status).toBe("finished")
    })
  })

  it.effect("fails with a RepositoryError (SQLITE_BUSY) once busyTimeout has passed, and writes nothing", () => {
    const file = tmpFile("locked-timeout")
    let release = () => {}
    return Effect.gen(function*() {
      const error = yield* Effect.flip(started(file, "150 millis", (file) => {
        release = holdLock(file)
      }))
      release()
      expect(error._tag).toBe("RepositoryError")
      expect(String((error as { cause?: { cause?: { code?: unknown } } }).cause?.cause?.code)).toMatch(/^SQLITE_BUSY/)
      const db = new Database(file, { readonly: true })
      const runs = db.prepare("SELECT count(*) AS n FROM prorch_pipelines").get() as { n: number }
      db.close()
      expect(runs.n).toBe(0)
    })
  })
})

describe("SqliteRepository.layer({ filename: \":memory:\" })", () => {
  it.effect("an in-memory database migrates and runs a pipeline to its end, with its state and outputs", () => {
    const fetch = step("Fetch", {
      state: Schema.Struct({ tries: Schema.Number }),
      output: Schema.Struct({ bytes: Schema.Number }),
      onStart: () => Effect.succeed({ tries: 0 }),
      onContinue: (ctx) =>
        Effect.succeed(
          ctx.state.tries < 2
            ? Step.wait({ state: { tries: ctx.state.tries + 1 }, after: "1 minute" })
            : Step.finish({ bytes: 42 })
        )
    })
    const report = step("Report", {
      needs: { fetch },
      output: Schema.Struct({ line: Schema.String }),
      onContinue: (ctx) => Effect.succeed(Step.finish({ line: `fetched ${ctx.outputs.fetch.bytes} bytes` }))
    })
    const p = pipeline("InMemory", fetch, report)
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(p)
      expect((yield* Orchestrator.get(runId)).status).toBe("pending")
      // the run is read back from the same in-memory database by each pass
      for (let pass = 0; pass < 2; pass++) {
        yield* TestClock.adjust(Duration.minutes(1))
        expect(yield* Orchestrator.executePending()).toMatchObject({ ticked: 1, errors: [] })
      }
      const view = yield* Orchestrator.get(runId)
      expect(view.status).toBe("finished")
      expect(view.steps.map((s) => s.status)).toEqual(["finished", "finished"])
      expect(view.steps[0].state).toEqual({ tries: 2 })
      expect(view.steps[0].output).toEqual({ bytes: 42 })
      expect(view.steps[1].output).toEqual({ line: "fetched 42 bytes" })
      expect((yield* Orchestrator.list({ pipeline: "InMemory" })).runs.map((r) => r.id)).toEqual([runId])
      expect((yield* Orchestrator.history(runId)).at(-1)?.type).toBe("finished")
    }).pipe(
      Effect.provide(Orchestrator.layer([p]).pipe(Layer.provide(SqliteRepository.layer({ filename: ":memory:" }))))
    )
  })
})
