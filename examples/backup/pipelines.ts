/**
 * The backup automation pipeline of the Python original, as values:
 *
 *   BackupGeneration -> BackupTransfer -> ProcessCompletionNotification
 *
 * - BackupGeneration starts the backup in `onStart` (its state names the archive being written)
 *   and reports it done in `onContinue`, with the archive as its output.
 * - BackupTransfer is a "sensor" step: `onStart` submits a transfer job whose id is derived from
 *   `ctx.stepRunId` (stable across retries and crashes, so a repeated `onStart` submits the same
 *   job), and `onContinue` polls the job, answering `Step.wait()` until it is done.
 * - ProcessCompletionNotification reads where the backup went (`ctx.outputs.transfer.location`).
 *
 * The external systems are simulated, deterministically: the transfer job reports "done" on the
 * third poll (`ctx.continuations === 2`).
 */
import { Console, Effect, Schema } from "effect"
import { pipeline, Step, step } from "prorch"

/** How many polls of the transfer job answer "still running" before it is done. */
export const TRANSFER_POLLS = 2

const say = (stepName: string, message: string) => Console.log(`  [${stepName}] ${message}`)

export const generation = step("BackupGeneration", {
  state: Schema.Struct({ archive: Schema.String }),
  output: Schema.Struct({ archive: Schema.String, sizeBytes: Schema.Number }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      const archive = `backup-${ctx.runId.slice(0, 8)}.tar.gz`
      yield* say(ctx.step, `Starting the backup generation process (${archive}).`)
      return { archive }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      yield* say(ctx.step, `Backup generation completed (${ctx.state.archive}).`)
      return Step.finish({ archive: ctx.state.archive, sizeBytes: 48_213_504 })
    })
})

export const transfer = step("BackupTransfer", {
  needs: { generation },
  state: Schema.Struct({ jobId: Schema.String }),
  output: Schema.Struct({ location: Schema.String }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      // the step run id is the idempotency key of the job: submitting it twice is harmless
      const jobId = `transfer-${ctx.stepRunId}`
      yield* say(
        ctx.step,
        `Starting the process of transferring ${ctx.outputs.generation.archive} to secure storage (job ${jobId}).`
      )
      return { jobId }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const poll = ctx.continuations + 1
      if (ctx.continuations < TRANSFER_POLLS) {
        yield* say(ctx.step, `Job ${ctx.state.jobId} still running (poll ${poll}); checking again later.`)
        return Step.wait()
      }
      const location = `s3://secure-backups/${ctx.outputs.generation.archive}`
      yield* say(ctx.step, `Backup transfer completed (poll ${poll}): ${location}.`)
      return Step.finish({ location })
    })
})

export const notification = step("ProcessCompletionNotification", {
  needs: { transfer },
  onStart: (ctx) => say(ctx.step, "Initiating process completion notification."),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      yield* say(ctx.step, `Notification sent: the backup is at ${ctx.outputs.transfer.location}. Backup process completed.`)
      return Step.finish()
    })
})

export const backup = pipeline("BackupAutomationPipeline", generation, transfer, notification)
