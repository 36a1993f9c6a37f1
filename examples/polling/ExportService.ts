/**
 * A simulated external "export job" service, as an Effect service: a `Context.Tag` with the
 * operations, and a layer that implements them in process. The pipeline's handlers use the tag, so
 * their requirements (`R`) name `ExportService`, and so does the Orchestrator layer that runs them
 * (see `db.ts`): a program that forgets to provide it does not compile.
 *
 * - `submit({ idempotencyKey, dataset })` starts an export and returns its job id. It is
 *   idempotent by key: submitting the same key again returns the same job and starts nothing (the
 *   pipeline passes `ctx.stepRunId`, stable across retries and crashes).
 * - `status(jobId)` reports `Running` (with a progress) or `Done` (with the file's url), and fails
 *   with a typed transient error, `ExportUnavailable`, deterministically on one poll (the 2nd by
 *   default), as a flaky network or a busy service would. An unknown job id is `ExportJobNotFound`,
 *   an error that retrying does not cure.
 *
 * The simulation keeps its jobs in memory; a real service keeps them on its side, which is what
 * lets a restarted worker go on polling the job that a crashed one submitted.
 */
import { Console, Context, Data, Effect, Layer } from "effect"

/** The service is unavailable for a moment: retrying later should work. */
export class ExportUnavailable extends Data.TaggedError("ExportUnavailable")<{
  readonly jobId: string
  readonly poll: number
}> {
  override get message() {
    return `export service unavailable (503) on poll ${this.poll} of ${this.jobId}`
  }
}

/** No job has this id: retrying does not help. */
export class ExportJobNotFound extends Data.TaggedError("ExportJobNotFound")<{ readonly jobId: string }> {
  override get message() {
    return `no export job ${this.jobId}`
  }
}

/** Where a job stands. */
export type JobStatus =
  | { readonly _tag: "Running"; readonly progress: number }
  | { readonly _tag: "Done"; readonly url: string; readonly rows: number }

/** The operations of the export service. */
export interface ExportApi {
  readonly submit: (request: { readonly idempotencyKey: string; readonly dataset: string }) => Effect.Effect<string>
  readonly status: (jobId: string) => Effect.Effect<JobStatus, ExportUnavailable | ExportJobNotFound>
}

/** The export service tag. */
export class ExportService extends Context.Tag("examples/polling/ExportService")<ExportService, ExportApi>() {}

/** How the simulation behaves: the poll that fails, and the poll that finds the job done. */
export interface SimulationOptions {
  readonly failOnPoll?: number | undefined
  readonly doneOnPoll?: number | undefined
}

const say = (message: string) => Console.log(`    (export service) ${message}`)

/**
 * The in-process simulation: the `failOnPoll`-th status call of each job fails with
 * `ExportUnavailable` (default: the 2nd), and the `doneOnPoll`-th finds it done (default: the 4th).
 */
export const layerSimulated = (options: SimulationOptions = {}): Layer.Layer<ExportService> =>
  Layer.sync(ExportService, () => {
    const failOnPoll = options.failOnPoll ?? 2
    const doneOnPoll = options.doneOnPoll ?? 4
    const byKey = new Map<string, string>()
    const jobs = new Map<string, { dataset: string; polls: number }>()
    return ExportService.of({
      submit: ({ dataset, idempotencyKey }) =>
        Effect.suspend(() => {
          const existing = byKey.get(idempotencyKey)
          if (existing !== undefined) return Effect.as(say(`submit: key already seen, job ${existing}`), existing)
          const jobId = `job-${byKey.size + 1}-${idempotencyKey.slice(0, 8)}`
          byKey.set(idempotencyKey, jobId)
          jobs.set(jobId, { dataset, polls: 0 })
          return Effect.as(say(`submit: export of ${dataset} accepted as ${jobId}`), jobId)
        }),
      status: (jobId) =>
        Effect.suspend((): Effect.Effect<JobStatus, ExportUnavailable | ExportJobNotFound> => {
          const job = jobs.get(jobId)
          if (job === undefined) return Effect.fail(new ExportJobNotFound({ jobId }))
          job.polls++
          if (job.polls === failOnPoll) {
            return Effect.zipRight(say(`status: 503 on poll ${job.polls}`), Effect.fail(new ExportUnavailable({ jobId, poll: job.polls })))
          }
          if (job.polls >= doneOnPoll) {
            const done = { _tag: "Done" as const, url: `https://exports.example.com/${job.dataset}.csv.gz`, rows: 12_480 }
            return Effect.as(say(`status: done on poll ${job.polls}`), done)
          }
          const progress = Math.round((100 * job.polls) / doneOnPoll)
          return Effect.as(say(`status: running (${progress}%) on poll ${job.polls}`), { _tag: "Running" as const, progress })
        })
    })
  })
