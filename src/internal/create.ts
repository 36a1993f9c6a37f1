/**
 * @internal creating runs
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { EncodeError } from "../Errors.js"
import type * as Orchestrator from "../Orchestrator.js"
import type * as Pipeline from "../Pipeline.js"
import type { HistoryEvent, RunRecord, Snapshot, StepRecord } from "../Run.js"
import { uuidv7 } from "./ids.js"
import type { Runtime } from "./runtime.js"
import type { Ticks } from "./tick.js"
import { span } from "./tracing.js"

/** @internal creating runs: `start` (with its first tick) and `create` */
export const make = (rt: Runtime, ticks: Ticks) => {
  const { owner, leaseMillis, repository, provideServices, wake, lookup } = rt
  const { tickClaimed, leaseOf } = ticks

  // --- creating runs -----------------------------------------------------------

  const createRun = (
    pipeline: Pipeline.Any,
    args: ReadonlyArray<Partial<Orchestrator.StartOptions<unknown>> | undefined>,
    leased: boolean
  ) =>
    Effect.gen(function*() {
      const options = args[0] ?? {}
      const compiled = yield* lookup(undefined, pipeline.name)
      const input = compiled.input.encode(options.input)
      if (Either.isLeft(input)) {
        return yield* new EncodeError({ what: `input of pipeline ${JSON.stringify(pipeline.name)}`, detail: input.left })
      }
      const now = yield* Clock.currentTimeMillis
      const wakeAt = options.at === undefined ? now : options.at.getTime()
      const lease = leased && wakeAt <= now
      const runId = uuidv7()
      const run: RunRecord = {
        uuid: runId,
        name: pipeline.name,
        status: "created",
        metadata: { current_step: null },
        input: input.right,
        idempotency_key: options.idempotencyKey ?? null,
        revision: 1,
        wake_at: wakeAt,
        lease_owner: lease ? owner : null,
        lease_expires_at: lease ? now + leaseMillis : null,
        pending_signals: 0,
        error: null,
        created_at: now,
        updated_at: now,
        ended_at: null
      }
      const steps: Array<StepRecord> = compiled.pipeline.steps.map((step, position) => ({
        uuid: uuidv7(),
        name: step.name,
        pipeline_uuid: runId,
        position,
        status: "created",
        metadata: {},
        attempt: 1,
        state: null,
        output: null,
        error: null,
        created_at: now,
        updated_at: now,
        started_at: null,
        ended_at: null
      }))
      const event: HistoryEvent = {
        run_uuid: runId,
        at: now,
        type: "created",
        step: null,
        attempt: null,
        worker: owner,
        data: options.idempotencyKey === undefined ? null : { idempotencyKey: options.idempotencyKey }
      }
      const snapshot: Snapshot = { run, steps, signals: [] }
      const created = yield* repository.create(snapshot, [event])
      if (created._tag === "Existing") return { runId: created.runId, compiled, snapshot: undefined }
      return { runId, compiled, snapshot: lease ? snapshot : undefined }
    })

  const start: Orchestrator.Service["start"] = (pipeline, ...args) =>
    Effect.gen(function*() {
      const created = yield* createRun(pipeline, args as any, true)
      if (created.snapshot !== undefined) {
        // in the caller's fiber: a lost lease is caught by the revision check of the next commit
        yield* tickClaimed(created.compiled, created.snapshot, leaseOf(created.snapshot, undefined), null, 0).pipe(
          provideServices,
          Effect.catchAll((error) =>
            Effect.logWarning(`prorch: the first tick of run ${created.runId} failed: ${error.message}`).pipe(
              Effect.annotateLogs({ runId: created.runId, worker: owner })
            )
          )
        )
      } else {
        wake()
      }
      return created.runId
    }).pipe(span("prorch.start", { "prorch.pipeline": pipeline.name }))

  const create: Orchestrator.Service["create"] = (pipeline, ...args) =>
    createRun(pipeline, args as any, false).pipe(
      Effect.map((created) => created.runId),
      Effect.tap(() => Effect.sync(wake)),
      span("prorch.create", { "prorch.pipeline": pipeline.name })
    )

  return { start, create }
}
