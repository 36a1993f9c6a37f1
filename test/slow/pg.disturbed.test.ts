/**
 * PostgreSQL disturbed under real worker processes: their connections terminated mid-run, the
 * server restarted mid-run (with PRORCH_PG_RESTART=1 only: it restarts the machine's server).
 */
import { execSync } from "node:child_process"
import * as fs from "node:fs"
import pg from "pg"
import { describe, expect, inject, it } from "vitest"
import { pgSchema, tmpFile } from "../support/backends.js"
import { runHarness } from "../support/harness.js"

const url = inject("pgUrl")

const terminate = async (applicationName: string): Promise<number> => {
  const client = new pg.Client({ connectionString: url! })
  await client.connect()
  try {
    const { rows } = await client.query(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
      [applicationName]
    )
    return rows.length
  } finally {
    await client.end()
  }
}

/** how many runs of a schema have ended (to disturb the workers mid-run, whatever their pace) */
const endedRuns = async (schema: string): Promise<number> => {
  const client = new pg.Client({ connectionString: url! })
  await client.connect()
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM "${schema}".pipelines WHERE status IN ('finished', 'failed', 'cancelled')`
    )
    return rows[0].n
  } catch {
    // the tables are not there yet: the workers have not started
    return 0
  } finally {
    await client.end()
  }
}

/**
 * 300 runs on 2 worker processes in a schema of their own, while `meanwhile` disturbs the server
 * (called as the harness polls, with the time elapsed and the schema)
 */
const disturbed = (label: string, meanwhile: (elapsed: number, schema: string) => Promise<void>) => {
  const schema = pgSchema(inject("pgRunId"))
  return runHarness({
    backend: `pg:${url}#${schema}`,
    callsDir: tmpFile(label),
    runs: 300,
    workers: 2,
    crashRate: 0,
    killEvery: undefined,
    concurrency: 8,
    lease: "5 seconds",
    timeoutMs: 200_000,
    meanwhile: (elapsed) => meanwhile(elapsed, schema),
    log: (line) => console.log(`[${label}] ${line}`)
  })
}

if (url === null) {
  describe("PostgreSQL disturbed", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  describe("PostgreSQL disturbed", () => {
    it("workers whose connections are terminated mid-run log it, reconnect and go on: nothing lost or applied twice", async () => {
      let terminated = 0
      let last = 0
      let underway = false
      const result = await disturbed("pg-terminate", async (elapsed, schema) => {
        // from the moment the workers are well under way (20 runs ended), every 1.5 s, 5 times at most
        if (!underway) underway = (await endedRuns(schema)) >= 20
        if (underway && elapsed - last > 1_500 && terminated < 5) {
          last = elapsed
          // the workers' pools are named after their schema
          terminated += (await terminate(`prorch-${schema}`.slice(0, 63))) > 0 ? 1 : 0
        }
      })
      expect(terminated).toBeGreaterThan(0)
      expect(result.problems).toEqual([])
      expect(result.output).toMatch(/failed, trying again|worker pass failed|could not be ticked/)
      expect(result.runs.filter((run) => run.status === "finished")).toHaveLength(240)
      console.log(`[pg terminate] terminated the workers' connections ${terminated} times`)
    }, 300_000)

    const cluster = fs.existsSync("/etc/postgresql") ? fs.readdirSync("/etc/postgresql")[0] : undefined
    const mayRestart = process.env.PRORCH_PG_RESTART === "1" && cluster !== undefined
    const restartReason = cluster === undefined
      ? "no local cluster in /etc/postgresql to restart"
      : "set PRORCH_PG_RESTART=1 to let this test restart the local PostgreSQL server"
    it(
      "PostgreSQL restarted mid-run: workers reconnect and go on",
      async (ctx) => {
        if (!mayRestart) {
          // in a full run, vitest's default reporter does not list skipped tests: say why here
          console.log(`PostgreSQL restart test skipped: ${restartReason}`)
          ctx.skip(restartReason)
        }
        let restarted = false
        const result = await disturbed("pg-restart", async (_elapsed, schema) => {
          // mid-run, whatever the workers' pace: once 30 of the 300 runs have ended
          if (!restarted && (await endedRuns(schema)) >= 30) {
            restarted = true
            execSync(`pg_ctlcluster --skip-systemctl-redirect ${cluster} main restart`, { stdio: "inherit" })
          }
        })
        expect(restarted).toBe(true)
        expect(result.problems).toEqual([])
        expect(result.runs.filter((run) => run.status === "finished")).toHaveLength(240)
        // the workers said so, and recovered
        expect(result.output).toMatch(/failed, trying again/)
        expect(result.output).toMatch(/succeeded after \d+ tries/)
      },
      300_000
    )
  })
}
