/**
 * PostgreSQL with real time and real processes: NOTIFY wake-ups, and workers that lose their
 * connections (terminated backends, a restarted server) and go on.
 */
import { execSync } from "node:child_process"
import * as fs from "node:fs"
import pg from "pg"
import { Context, Effect, Layer, Redacted } from "effect"
import { describe, expect, inject, it } from "vitest"
import { Orchestrator, PgRepository, pipeline, step, Step } from "prorch"
import { pgSchema, tmpFile } from "./support/backends.js"
import { runHarness } from "./support/harness.js"

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
  describe("PostgreSQL in real time", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  describe("PostgreSQL in real time", () => {
    it("an idle worker is woken by NOTIFY: for a new run at once, for a timer set by another process on time", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const p = pipeline(
        "Notified",
        step("Only", { onContinue: () => Effect.succeed(Step.finish()) })
      )
      // two orchestrators with pools of their own, as two processes would have
      const repository = () => PgRepository.layer({ url: Redacted.make(url), schema })
      const creator = Orchestrator.layer([p], { owner: "creator" }).pipe(Layer.provide(repository()))
      const workerSide = Orchestrator.layer([p], { owner: "worker" }).pipe(Layer.provide(repository()))

      const program = Effect.gen(function*() {
        const worker = Context.get(yield* Layer.build(workerSide), Orchestrator.Orchestrator)
        const creatorContext = yield* Layer.build(creator)
        // polls once a minute at most: only a notification can wake it sooner
        yield* Effect.forkScoped(worker.worker({ pollInterval: "1 minute", minPollInterval: "1 minute" }))
        yield* Effect.sleep("1 second")
        const started = Date.now()
        const now = yield* Orchestrator.create(p).pipe(Effect.provide(creatorContext))
        const done = yield* worker.await(now).pipe(Effect.timeout("10 seconds"))
        const immediate = Date.now() - started
        const at = new Date(Date.now() + 1500)
        const later = yield* Orchestrator.create(p, { at }).pipe(Effect.provide(creatorContext))
        const timed = yield* worker.await(later).pipe(Effect.timeout("10 seconds"))
        const lateness = Date.now() - at.getTime()
        return { done, immediate, timed, lateness }
      })
      const result = await Effect.runPromise(Effect.scoped(program))
      expect(result.done.status).toBe("finished")
      expect(result.immediate).toBeLessThan(5_000)
      expect(result.timed.status).toBe("finished")
      expect(result.timed.endedAt!.getTime()).toBeGreaterThanOrEqual(result.timed.createdAt.getTime() + 1500)
      expect(result.lateness).toBeLessThan(5_000)
    }, 60_000)

    it("workers starting at once on a new schema migrate it once (under the advisory lock)", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const p = pipeline("Together", step("Only", {}))
      const one = Effect.scoped(
        Effect.flatMap(Orchestrator.Orchestrator, (o) => o.start(p)).pipe(
          Effect.provide(
            Orchestrator.layer([p]).pipe(Layer.provide(PgRepository.layer({ url: Redacted.make(url), schema })))
          )
        )
      )
      const ids = await Effect.runPromise(Effect.all(Array.from({ length: 6 }, () => one), { concurrency: "unbounded" }))
      expect(new Set(ids).size).toBe(6)
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const migrations = await client.query(`SELECT count(*)::int AS n FROM "${schema}".migrations`)
        const runs = await client.query(`SELECT count(*)::int AS n FROM "${schema}".pipelines WHERE status = 'finished'`)
        expect(migrations.rows[0].n).toBe(1)
        expect(runs.rows[0].n).toBe(6)
      } finally {
        await client.end()
      }
    }, 60_000)

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
