/**
 * A step that starts external work and polls it with a durable timer and a retry policy:
 *
 *   RunExport -> PublishLink
 *
 * - RunExport: `onStart` submits an export job to the `ExportService` with `ctx.stepRunId` as the
 *   idempotency key (a repeated `onStart`, after a crash, gets the same job back) and keeps the job
 *   id in its typed state. `onContinue` polls the job: still running → `Step.wait({ after: "2 seconds" })`,
 *   a durable timer (the wake-up time is stored with the run; no fiber sleeps on it); done →
 *   `Step.finish(...)` with the file's url. A failed poll (the service's typed `ExportUnavailable`)
 *   is retried under `retry`: 500 ms, 1 s, 2 s... at most 5 retries, each a durable wake-up with the
 *   attempt number persisted (`ctx.attempt`). Errors that retrying cannot cure are not retried.
 *   `timeout` bounds every handler call: a hung status call fails with `HandlerTimeout`, which is
 *   retried too.
 * - PublishLink reads the export's output (`needs: { exported }`) and publishes the link.
 *
 * The handlers require `ExportService`: that requirement is part of the steps' and the pipeline's
 * types, and of the Orchestrator layer's (see `db.ts`).
 */
import { Console, Effect, Schedule, Schema } from "effect"
import { Errors, pipeline, Step, step } from "prorch"
import { ExportService, ExportUnavailable } from "./ExportService.js"

/** The input of a run: which dataset to export. */
export const ExportInput = Schema.Struct({ dataset: Schema.NonEmptyTrimmedString })

const say = (stepName: string, message: string) => Console.log(`  [${stepName}] ${message}`)

/** Failures that a later attempt may not meet: the service's 503, a handler call that timed out. */
const isTransient = (error: unknown): boolean =>
  error instanceof ExportUnavailable || error instanceof Errors.HandlerTimeout

export const runExport = step("RunExport", {
  input: ExportInput,
  state: Schema.Struct({ jobId: Schema.String }),
  output: Schema.Struct({ jobId: Schema.String, url: Schema.String, rows: Schema.Number }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      const service = yield* ExportService
      const jobId = yield* service.submit({ idempotencyKey: ctx.stepRunId, dataset: ctx.input.dataset })
      yield* say(ctx.step, `submitted the export of ${ctx.input.dataset}: ${jobId}`)
      return { jobId }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const service = yield* ExportService
      yield* say(ctx.step, `polling ${ctx.state.jobId} (attempt ${ctx.attempt})`)
      // a failure here (ExportUnavailable) fails the call: the step's retry policy takes over
      const status = yield* service.status(ctx.state.jobId)
      switch (status._tag) {
        case "Running":
          yield* say(ctx.step, `still running (${status.progress}%); polling again in 2 seconds`)
          return Step.wait({ after: "2 seconds" })
        case "Done":
          yield* say(ctx.step, `done: ${status.rows} rows at ${status.url}`)
          return Step.finish({ jobId: ctx.state.jobId, url: status.url, rows: status.rows })
      }
    }),
  // each retry is a durable wake-up: 500 ms, 1 s, 2 s, 4 s, 8 s, then the step fails
  retry: Schedule.exponential("500 millis").pipe(
    Schedule.intersect(Schedule.recurs(5)),
    Schedule.whileInput(isTransient)
  ),
  timeout: "10 seconds"
})

export const publishLink = step("PublishLink", {
  needs: { exported: runExport },
  output: Schema.Struct({ message: Schema.String }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const message = `export ready: ${ctx.outputs.exported.url} (${ctx.outputs.exported.rows} rows)`
      yield* say(ctx.step, message)
      return Step.finish({ message })
    })
})

export const exportPipeline = pipeline("DataExport", { input: ExportInput }, runExport, publishLink)
