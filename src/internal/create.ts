/**
 * @internal creating runs
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Interpreter from "../Interpreter.js"
import type * as Orchestrator from "../Orchestrator.js"
import type * as Pipeline from "../Pipeline.js"
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
      const now = yield* Clock.currentTimeMillis
      const wakeAt = options.at === undefined ? now : options.at.getTime()
      const lease = leased && wakeAt <= now
      const runId = uuidv7()
      const made = Interpreter.initial(compiled, {
        input: options.input,
        idempotencyKey: options.idempotencyKey,
        wakeAt,
        worker: owner,
        leaseExpiresAt: lease ? now + leaseMillis : null
      }, now, { run: runId, steps: compiled.steps.map(() => uuidv7()) })
      if (Either.isLeft(made)) return yield* made.left
      const { events, snapshot } = made.right
      const created = yield* repository.create(snapshot, events)
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
