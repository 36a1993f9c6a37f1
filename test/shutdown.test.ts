/** SIGTERM to a worker under NodeRuntime.runMain: the tick in flight finishes, then the process exits. */
import Database from "better-sqlite3"
import pg from "pg"
import { describe, expect, inject, it } from "vitest"
import { pgSchema, tmpFile } from "./support/backends.js"
import { spawnTs } from "./support/process.js"

/** run the worker on `backend`, SIGTERM it while its handler runs; its output and exit code */
const stopWhileHandlerRuns = async (backend: string) => {
  const child = spawnTs("test/fixtures/gracefulWorker.ts", [backend])
  let output = ""
  child.stderr!.on("data", (chunk) => (output += chunk))
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  await new Promise<void>((resolve) =>
    child.stdout!.on("data", (chunk) => {
      output += chunk
      if (output.includes("handler started")) resolve()
    })
  )
  child.kill("SIGTERM")
  return { code: await exit, output }
}

const expectGraceful = ({ code, output }: { code: number | null; output: string }) => {
  expect(code).toBe(0)
  expect(output).toContain("handler done")
  expect(output.indexOf("worker stopping")).toBeLessThan(output.indexOf("handler done"))
}

describe("graceful shutdown of a worker process", () => {
  it("SIGTERM while a handler runs: the handler finishes, its run is committed, the process exits 0", async () => {
    const file = tmpFile("graceful")
    expectGraceful(await stopWhileHandlerRuns(`sqlite:${file}`))
    const db = new Database(file, { readonly: true })
    const run = db.prepare("SELECT status, lease_owner FROM prorch_pipelines").get() as { status: string; lease_owner: string | null }
    db.close()
    expect(run).toEqual({ status: "finished", lease_owner: null })
  }, 60_000)

  const url = inject("pgUrl")
  if (url === null) {
    it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {})
  } else {
    it("on PostgreSQL too: the handler finishes, its run is committed, the process exits 0", async () => {
      const schema = pgSchema(inject("pgRunId"))
      expectGraceful(await stopWhileHandlerRuns(`pg:${url}#${schema}`))
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const { rows } = await client.query(`SELECT status, lease_owner FROM "${schema}".pipelines`)
        expect(rows).toEqual([{ status: "finished", lease_owner: null }])
      } finally {
        await client.end()
      }
    }, 60_000)
  }
})
