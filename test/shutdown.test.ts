/** SIGTERM to a worker under NodeRuntime.runMain: the tick in flight finishes, then the process exits. */
import Database from "better-sqlite3"
import { describe, expect, it } from "vitest"
import { tmpFile } from "./support/backends.js"
import { spawnTs } from "./support/process.js"

describe("graceful shutdown of a worker process", () => {
  it("SIGTERM while a handler runs: the handler finishes, its run is committed, the process exits 0", async () => {
    const file = tmpFile("graceful")
    const child = spawnTs("test/fixtures/gracefulWorker.ts", [file])
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
    expect(await exit).toBe(0)
    expect(output).toContain("handler done")
    expect(output.indexOf("worker stopping")).toBeLessThan(output.indexOf("handler done"))
    const db = new Database(file, { readonly: true })
    const run = db.prepare("SELECT status, lease_owner FROM prorch_pipelines").get() as { status: string; lease_owner: string | null }
    db.close()
    expect(run).toEqual({ status: "finished", lease_owner: null })
  }, 60_000)
})
