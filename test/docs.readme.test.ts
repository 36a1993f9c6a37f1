/** The tour of README.md, as it is printed there (on the memory layer instead of a file). */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Mermaid, Orchestrator, pipeline, Repository, step, Step } from "prorch"

const generation = step("BackupGeneration", {
  output: Schema.Struct({ archive: Schema.String }),
  onContinue: (ctx) => Effect.succeed(Step.finish({ archive: `backup-${ctx.runId}.tar.gz` }))
})

const transfer = step("BackupTransfer", {
  needs: { generation }, // read earlier outputs, typed
  state: Schema.Struct({ jobId: Schema.String }), // persisted between ticks
  output: Schema.Struct({ location: Schema.String }), // given with finish
  onStart: (ctx) => Effect.succeed({ jobId: `job-${ctx.stepRunId}` }), // stepRunId: the idempotency key
  onContinue: (ctx) =>
    ctx.continuations < 2
      ? Effect.succeed(Step.wait({ after: "30 seconds" })) // a durable timer
      : Effect.succeed(Step.finish({ location: `s3://backups/${ctx.outputs.generation.archive}` }))
})

const notification = step("ProcessCompletionNotification", {
  needs: { transfer },
  onContinue: (ctx) => Effect.as(Effect.log(`backup at ${ctx.outputs.transfer.location}`), Step.finish())
})

const backup = pipeline("BackupAutomationPipeline", generation, transfer, notification)

describe("README tour", () => {
  it.effect("runs as printed", () =>
    Effect.gen(function*() {
      const runId = yield* Orchestrator.start(backup)
      yield* Orchestrator.executePending()
      let run = yield* Orchestrator.get(runId)
      expect(run.steps.map((s) => `${s.name}: ${s.status}`)).toEqual([
        "BackupGeneration: finished",
        "BackupTransfer: pending",
        "ProcessCompletionNotification: created"
      ])
      for (let i = 0; i < 2; i++) {
        yield* TestClock.adjust("30 seconds")
        yield* Orchestrator.executePending()
      }
      run = yield* Orchestrator.get(runId)
      expect(run.status).toBe("finished")
      expect(run.steps[1].output).toEqual({ location: `s3://backups/backup-${runId}.tar.gz` })
    }).pipe(
      Effect.provide(Orchestrator.layer([backup])),
      Effect.provide(Repository.layerMemory)
    ))
})

describe("docs/concepts.md pictures", () => {
  it("prints the tour's pipeline as Mermaid.pipeline draws it", () => {
    const text = fs.readFileSync(path.join(__dirname, "..", "docs", "concepts.md"), "utf8")
    const printed = /```mermaid\n([\s\S]*?)\n```/.exec(text)
    expect(printed?.[1]).toBe(Mermaid.pipeline(backup))
  })
})
