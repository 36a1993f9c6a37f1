import { describe, expect, inject, it } from "vitest"
import { crashPoints } from "../fixtures/crashPipeline.js"
import { pgSchema, tmpFile } from "../support/backends.js"
import { runHarness } from "../support/harness.js"

const url = inject("pgUrl")

if (url === null) {
  describe("PostgreSQL worker processes", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  const backend = () => `pg:${url}#${pgSchema(inject("pgRunId"))}`

  describe("PostgreSQL worker processes", () => {
    it("killed with SIGKILL at random points and restarted: every run ends right, nothing lost or applied twice, no overlap; a killed worker's runs are taken over", async () => {
      const result = await runHarness({
        backend: backend(),
        callsDir: tmpFile("pg-crash-calls"),
        runs: 300,
        workers: 3,
        crashRate: 0.004,
        killEvery: [400, 1500],
        concurrency: 4,
        lease: "2 seconds",
        timeoutMs: 240_000,
        log: (line) => console.log(`[pg crash harness] ${line}`)
      })
      expect(result.problems).toEqual([])
      expect(result.kills + result.crashes).toBeGreaterThan(5)
      // every crash point fired (the harness designates each in turn to a new worker until it has)
      for (const point of crashPoints) expect(result.crashPoints.get(point) ?? 0, point).toBeGreaterThan(0)
      expect(result.calls.some((call) => call.ended_at === null)).toBe(true)
      // runs held by killed workers were taken over once their lease expired
      const takeovers = [...result.histories.values()].flat().filter((e) => e.type === "lease_lost")
      expect(takeovers.length).toBeGreaterThan(0)
      expect(result.runs.filter((run) => run.status === "finished")).toHaveLength(240)
    }, 300_000)

    it("scale-out: 1, 2 and 4 worker processes on one database, 2,000 runs each: all end, no overlap, nothing lost", async () => {
      const lines: Array<string> = []
      for (const workers of [1, 2, 4]) {
        const result = await runHarness({
          backend: backend(),
          callsDir: tmpFile(`pg-scale-${workers}`),
          runs: 2000,
          workers,
          crashRate: 0,
          killEvery: undefined,
          concurrency: 16,
          lease: "10 seconds",
          timeoutMs: 240_000
        })
        expect(result.problems).toEqual([])
        expect(result.runs.filter((run) => run.status === "finished")).toHaveLength(1600)
        expect(new Set(result.calls.map((call) => call.worker)).size).toBe(workers)
        lines.push(
          `${workers} worker(s): ${(2000 / (result.elapsedMs / 1000)).toFixed(1)} runs/s ` +
            `(${result.elapsedMs} ms for 2,000 runs, including worker start-up)`
        )
      }
      console.log(`[pg scale-out]\n${lines.join("\n")}`)
    }, 900_000)
  })
}
