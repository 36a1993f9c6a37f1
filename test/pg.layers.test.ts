/**
 * The PostgreSQL repository's other layers: `PgRepository.layerConfig` (its connection read from
 * `Config`) and `PgRepository.layerClient` (over the application's own `PgClient`). Each test works
 * in schemas of its own and drops them at the end.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgClient } from "@effect/sql-pg"
import { ConfigError, ConfigProvider, Effect, Layer, Redacted, String as Str } from "effect"
import pg from "pg"
import { Orchestrator, pipeline, step, Step } from "prorch"
import { PgRepository } from "prorch/Pg"
import { inject } from "vitest"
import { pgSchema } from "./support/backends.js"

const url = inject("pgUrl")

const p = pipeline(
  "Layered",
  step("First", { onContinue: (ctx) => Effect.succeed(ctx.continuations === 0 ? Step.wait() : Step.finish()) }),
  step("Second", {})
)

/** build the orchestrator over `repository`, run `body` with it, and release everything */
const using = <A, E>(
  repository: Layer.Layer<import("prorch").Repository.Repository, unknown>,
  body: Effect.Effect<A, E, Orchestrator.Orchestrator>
) => Effect.scoped(Effect.provide(body, Orchestrator.layer([p]).pipe(Layer.provide(repository))))

/** a run started, taken to its end by a pass, and read back */
const startAndFinish = Effect.gen(function*() {
  const runId = yield* Orchestrator.start(p)
  expect((yield* Orchestrator.get(runId)).status).toBe("pending")
  expect(yield* Orchestrator.executePending()).toMatchObject({ ticked: 1, finished: 1, errors: [] })
  return runId
})

const query = (statement: string, values: Array<unknown> = []) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url! })
    await client.connect()
    try {
      return (await client.query(statement, values)).rows
    } finally {
      await client.end()
    }
  })

/** drop the schemas, and check that they are gone */
const dropSchemas = (...schemas: Array<string>) =>
  Effect.gen(function*() {
    for (const schema of schemas) yield* query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    const left = yield* query("SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)", [schemas])
    expect(left).toEqual([])
  })

const configLayer = (entries: Record<string, string>) =>
  PgRepository.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))))

describe("PgRepository.layerConfig: what it reads", () => {
  // these fail while reading the configuration, before any connection: they need no server
  it.effect("without PRORCH_PG_URL the layer fails with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(using(configLayer({ PRORCH_PG_SCHEMA: "unused" }), Orchestrator.Orchestrator))
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(error).toMatchObject({ _op: "MissingData", path: ["PRORCH_PG_URL"] })
    }))

  it.effect("a PRORCH_PG_MAX_CONNECTIONS that is not an integer is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        using(
          configLayer({
            PRORCH_PG_URL: "postgres://postgres@127.0.0.1:5432/test",
            PRORCH_PG_MAX_CONNECTIONS: "many"
          }),
          Orchestrator.Orchestrator
        )
      )
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(error).toMatchObject({ _op: "InvalidData", path: ["PRORCH_PG_MAX_CONNECTIONS"] })
    }))
})

if (url === null) {
  describe("PgRepository.layerConfig and layerClient", () =>
    it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  describe("PgRepository.layerConfig and layerClient", () => {
    it.effect("layerConfig reads the URL, the schema and the pool size from a ConfigProvider", () => {
      const schema = pgSchema(inject("pgRunId"))
      // a connection name of its own (in the URL, which pg prefers to the layer's default name), so
      // that the count below sees this pool only, not those of the test files running beside it
      const name = `prorch-${schema}`.slice(0, 63)
      const repository = configLayer({
        PRORCH_PG_URL: `${url}${url.includes("?") ? "&" : "?"}application_name=${name}`,
        PRORCH_PG_SCHEMA: schema,
        PRORCH_PG_MAX_CONNECTIONS: "2"
      })
      return Effect.gen(function*() {
        const runId = yield* using(repository, startAndFinish)
        // the library's tables are in the schema named by the configuration
        const rows = yield* query(`SELECT status FROM "${schema}".pipelines WHERE uuid = $1`, [runId])
        expect(rows).toEqual([{ status: "finished" }])

        // a new pool from the same configuration reads the run back
        const view = yield* using(repository, Orchestrator.get(runId))
        expect(view.status).toBe("finished")
        expect(view.steps.map((s) => s.status)).toEqual(["finished", "finished"])

        // the pool is the size configured: many runs at once never take more than 2 connections
        const [{ since }] = yield* query("SELECT clock_timestamp() AS since")
        const counted = yield* using(
          repository,
          Effect.gen(function*() {
            const ids = yield* Effect.all(Array.from({ length: 8 }, () => Orchestrator.start(p)), {
              concurrency: "unbounded"
            })
            const [{ n }] = yield* query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $2 " +
                "AND datname = current_database() AND backend_start >= $1",
              [since, name]
            )
            return { ids, n: n as number }
          })
        )
        expect(new Set(counted.ids).size).toBe(8)
        expect(counted.n).toBeGreaterThanOrEqual(1)
        expect(counted.n).toBeLessThanOrEqual(2)
      }).pipe(Effect.ensuring(dropSchemas(schema)))
    })

    it.effect("layerClient works over the application's own PgClient, beside the application's tables", () => {
      const schema = pgSchema(inject("pgRunId"))
      const appSchema = pgSchema(inject("pgRunId"))
      // the application's client, with its own pool and name transforms, as many apps have
      const AppSql = PgClient.layer({
        url: Redacted.make(url),
        maxConnections: 3,
        applicationName: "prorch-test-app",
        transformQueryNames: Str.camelToSnake,
        transformResultNames: Str.snakeToCamel
      })
      return Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE SCHEMA "${appSchema}"`)
        yield* sql.unsafe(`CREATE TABLE "${appSchema}".invoices (invoice_id INTEGER PRIMARY KEY, total_cents INTEGER)`)
        yield* sql.unsafe(`INSERT INTO "${appSchema}".invoices (invoice_id, total_cents) VALUES (1, 500)`)

        const runId = yield* startAndFinish
        const view = yield* Orchestrator.get(runId)
        expect(view.status).toBe("finished")
        expect((yield* Orchestrator.list({ pipeline: "Layered" })).runs.map((r) => r.id)).toEqual([runId])

        // read back through the application's own client: its transforms still apply to its queries
        const runs = yield* sql<{ status: string; name: string }>`SELECT status, name FROM ${
          sql(schema)
        }.pipelines WHERE uuid = ${runId}`
        expect(runs).toEqual([{ status: "finished", name: "Layered" }])
        const invoices = yield* sql.unsafe<{ invoiceId: number; totalCents: number }>(
          `SELECT * FROM "${appSchema}".invoices`
        )
        expect(invoices).toEqual([{ invoiceId: 1, totalCents: 500 }])
        const tables = yield* sql<{ tableName: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`
        expect(tables.map((t) => t.tableName)).toEqual(["history", "migrations", "pipeline_steps", "pipelines", "signals"])
      }).pipe(
        Effect.provide(Orchestrator.layer([p]).pipe(Layer.provideMerge(PgRepository.layerClient({ schema })))),
        Effect.provide(AppSql),
        Effect.scoped,
        Effect.ensuring(dropSchemas(schema, appSchema))
      )
    })
  })
}
