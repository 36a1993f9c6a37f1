import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Orchestrator, pipeline, step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { dueQuery, nextWakeQuery } from "../src/internal/sql.js"
import { tables } from "../src/SqliteRepository.js"
import { tmpFile } from "./support/backends.js"

/** The queries of a pass go through indexes: their cost grows with the due runs, not with the history. */
describe("SQLite query plans", () => {
  it("the due query, the next wake-up and the history use indexes, not table scans", async () => {
    const file = tmpFile("plans")
    const p = pipeline("Plans", step("Only", {}))
    // create the schema, and enough ended runs for the planner to prefer indexes
    await Effect.runPromise(
      Effect.gen(function*() {
        for (let i = 0; i < 300; i++) yield* Orchestrator.start(p)
      }).pipe(Effect.provide(Orchestrator.layer([p]).pipe(Layer.provide(SqliteRepository.layer({ filename: file })))))
    )
    const db = new Database(file)
    db.exec("ANALYZE")
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array(sql.split("?").length - 1).fill(0)) as Array<{ detail: string }>)
        .map((row) => row.detail)
        .join("\n")
    const t = tables()

    const due = plan(dueQuery(t, 2, false))
    expect(due).toContain("USING INDEX prorch_pipelines_due")
    expect(due).not.toMatch(/SCAN prorch_pipelines(?! USING)/)
    const dueAfter = plan(dueQuery(t, 2, true))
    expect(dueAfter).toContain("USING INDEX prorch_pipelines_due")

    const next = plan(nextWakeQuery(t, 1))
    expect(next).toContain("USING INDEX prorch_pipelines_due")

    // runs, steps and history are clustered by their keys (WITHOUT ROWID tables)
    const history = plan(`SELECT * FROM ${t.history} WHERE run_uuid = ? ORDER BY seq`)
    expect(history).toContain("USING PRIMARY KEY (run_uuid=?)")
    const steps = plan(`SELECT * FROM ${t.steps} WHERE pipeline_uuid = ? ORDER BY position`)
    expect(steps).toContain("USING PRIMARY KEY (pipeline_uuid=?)")
    const run = plan(`SELECT * FROM ${t.runs} WHERE uuid = ?`)
    expect(run).toContain("USING PRIMARY KEY (uuid=?)")
    db.close()
  })
})
