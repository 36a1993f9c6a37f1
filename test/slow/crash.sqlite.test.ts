import { describe, expect, it } from "vitest"
import { crashPoints } from "../fixtures/crashPipeline.js"
import { tmpFile } from "../support/backends.js"
import { runHarness } from "../support/harness.js"

describe("real worker processes on one SQLite file", () => {
  it("killed with SIGKILL at random points and restarted: every run ends right, nothing lost or applied twice, no overlap", async () => {
    const result = await runHarness({
      backend: `sqlite:${tmpFile("crash")}`,
      callsDir: tmpFile("crash-calls"),
      runs: 300,
      workers: 3,
      crashRate: 0.004,
      killEvery: [800, 2500],
      concurrency: 4,
      lease: "1 second",
      timeoutMs: 240_000,
      log: (line) => console.log(`[crash harness] ${line}`)
    })
    expect(result.problems).toEqual([])
    expect(result.kills + result.crashes).toBeGreaterThan(5)
    // every crash point fired (the harness designates each in turn to a new worker until it has)
    for (const point of crashPoints) expect(result.crashPoints.get(point) ?? 0, point).toBeGreaterThan(0)
    // the harness did crash workers inside handlers: some handler calls never ended
    expect(result.calls.some((call) => call.ended_at === null)).toBe(true)
    const statuses = new Map<string, number>()
    for (const run of result.runs) statuses.set(run.status, (statuses.get(run.status) ?? 0) + 1)
    expect(statuses.get("finished")).toBe(240)
    expect(statuses.get("failed")).toBe(30)
    expect(statuses.get("cancelled")).toBe(30)
  }, 300_000)

  it("4 workers, 1,000 runs of a 3-step pipeline with random waits: all end, no overlap, nothing lost", async () => {
    const result = await runHarness({
      backend: `sqlite:${tmpFile("multi")}`,
      callsDir: tmpFile("multi-calls"),
      runs: 1000,
      workers: 4,
      crashRate: 0,
      killEvery: undefined,
      concurrency: 8,
      lease: "5 seconds",
      timeoutMs: 240_000,
      log: (line) => console.log(`[4 workers] ${line}`)
    })
    expect(result.problems).toEqual([])
    expect(result.runs.filter((run) => run.status === "finished")).toHaveLength(800)
    const byWorker = new Map<string, number>()
    for (const call of result.calls) byWorker.set(call.worker, (byWorker.get(call.worker) ?? 0) + 1)
    expect(byWorker.size).toBe(4)
    console.log(
      `[4 workers] throughput: ${(1000 / (result.elapsedMs / 1000)).toFixed(1)} runs/s ` +
        `(${result.elapsedMs} ms for 1,000 runs, including worker start-up); handler calls per worker: ` +
        [...byWorker.values()].join(", ")
    )
  }, 300_000)
})
