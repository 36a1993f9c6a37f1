/**
 * The crash harness, short: real worker processes on one SQLite file and on one PostgreSQL schema,
 * killed with SIGKILL while they work and restarted, then every promise the harness checks. The full
 * runs (300 runs, every crash point fired, scale-out) are in test/slow/ (`npm run test:slow`).
 */
import { describe, expect, inject, it } from "vitest"
import { expectedStatus } from "./fixtures/crashPipeline.js"
import { pgSchema, tmpFile } from "./support/backends.js"
import { type HarnessOptions, runHarness } from "./support/harness.js"

const RUNS = 40

/** 40 runs on 2 workers, one of them killed every 0.8 to 2 s, some killing themselves */
const smoke = async (backend: string, label: string) => {
  const options: HarnessOptions = {
    backend,
    callsDir: tmpFile(`${label}-calls`),
    runs: RUNS,
    workers: 2,
    crashRate: 0.004,
    killEvery: [800, 2000],
    concurrency: 4,
    lease: "1 second",
    timeoutMs: 180_000,
    log: (line) => console.log(`[${label}] ${line}`)
  }
  const result = await runHarness(options)
  expect(result.problems).toEqual([])
  // workers did die under it (the first kill is due 0.8 to 2 s after the start; the runs take longer)
  expect(result.kills + result.crashes).toBeGreaterThan(0)
  const expected = new Map<string, number>()
  for (let n = 0; n < RUNS; n++) expected.set(expectedStatus(n), (expected.get(expectedStatus(n)) ?? 0) + 1)
  const statuses = new Map<string, number>()
  for (const run of result.runs) statuses.set(run.status, (statuses.get(run.status) ?? 0) + 1)
  expect(statuses).toEqual(expected)
}

describe("SIGKILL smoke runs", () => {
  it("SQLite file: workers killed and restarted, every run ends right, nothing lost or applied twice", () =>
    smoke(`sqlite:${tmpFile("smoke")}`, "sqlite smoke"), 200_000)

  const url = inject("pgUrl")
  if (url === null) {
    it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {})
  } else {
    it("PostgreSQL: workers killed and restarted, every run ends right, nothing lost or applied twice", () =>
      smoke(`pg:${url}#${pgSchema(inject("pgRunId"))}`, "pg smoke"), 200_000)
  }
})
