/**
 * Vitest global setup: is there a PostgreSQL server for the PostgreSQL tests?
 *
 * - `PRORCH_PG_URL` names the database (default `postgres://postgres@127.0.0.1:5432/test`).
 * - Without a reachable server the PostgreSQL tests skip, with one line saying why; with
 *   `PRORCH_PG_REQUIRED=1` (what `.ci/run` sets) an unreachable server fails the run instead.
 * - Each test works in a schema of its own (`prorch_t_<run>_<n>`); this setup drops this run's
 *   schemas at the end.
 */
import pg from "pg"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    pgUrl: string | null
    pgSkipReason: string | null
    pgRunId: string
  }
}

const url = process.env.PRORCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const required = process.env.PRORCH_PG_REQUIRED === "1"
const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`

export default async function setup(project: TestProject) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  let reason: string | null = null
  try {
    await client.connect()
    await client.query("SELECT 1")
  } catch (error) {
    reason = `PostgreSQL tests skipped: cannot connect to ${url.replace(/\/\/[^@]*@/, "//…@")} ` +
      `(${error instanceof Error ? error.message : String(error)}); set PRORCH_PG_URL to run them`
  } finally {
    await client.end().catch(() => {})
  }
  if (reason !== null && required) {
    throw new Error(`PRORCH_PG_REQUIRED=1 but ${reason}`)
  }
  if (reason !== null) console.log(reason)
  project.provide("pgUrl", reason === null ? url : null)
  project.provide("pgSkipReason", reason)
  project.provide("pgRunId", runId)

  return async () => {
    if (reason !== null) return
    const cleanup = new pg.Client({ connectionString: url })
    try {
      await cleanup.connect()
      const { rows } = await cleanup.query(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
        [`prorch_t_${runId}_%`]
      )
      for (const row of rows) await cleanup.query(`DROP SCHEMA "${row.nspname}" CASCADE`)
    } finally {
      await cleanup.end().catch(() => {})
    }
  }
}
