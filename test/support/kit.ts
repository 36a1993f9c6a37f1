/**
 * What the concept suites (test/support/concepts/) share: fixtures, pipelines, and the clock and
 * repository helpers of the TestClock tests.
 */
import { Clock, Context, Data, Duration, Effect, Fiber, Layer, Logger, Schema, type Scope, TestClock } from "effect"
import { Orchestrator, Pipeline, pipeline, Repository, step, Step } from "prorch"
import type { Backend } from "./backends.js"

/** what handlers did, in order */
export const recorder = () => {
  const calls: Array<string> = []
  return {
    calls,
    record: (entry: string) => Effect.sync(() => void calls.push(entry)),
    count: (entry: string) => calls.filter((call) => call === entry).length
  }
}

let inFlight = 0

/** the repository, counting its operations in flight (to know when the storage is quiet) */
const tracked = (service: Repository.Service): Repository.Service =>
  Object.fromEntries(
    Object.entries(service).map(([key, value]) => [
      key,
      typeof value !== "function" ? value : (...args: Array<unknown>) =>
        Effect.suspend(() => {
          inFlight++
          return Effect.ensuring(value(...args), Effect.sync(() => void inFlight--))
        })
    ])
  ) as unknown as Repository.Service

/**
 * Let forked fibers run until they are all blocked on the TestClock or on each other, and no
 * repository operation is in flight (storage over a network answers in real time: wait for it).
 */
export const settle = Effect.gen(function*() {
  let quiet = 0
  for (let round = 0; round < 20_000 && quiet < 3; round++) {
    for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
    yield* TestClock.adjust(0)
    if (inFlight === 0) {
      quiet++
    } else {
      quiet = 0
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
    }
  }
})

/** advance the TestClock in small steps, letting fibers (and the storage) settle in between */
export const advance = (total: Duration.DurationInput, step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const end = Duration.toMillis(Duration.decode(total))
    const by = Duration.toMillis(Duration.decode(step))
    // what was started before runs up to its first sleep at the current time
    yield* settle
    for (let t = 0; t < end; t += by) {
      yield* TestClock.adjust(by)
      yield* settle
    }
  })

/** build a repository from the backend and orchestrators over it, in one scope */
export const withRepository = <A, E>(
  layer: Layer.Layer<Repository.Repository, unknown>,
  body: (orchestrator: <const P extends ReadonlyArray<Pipeline.Any>>(
    pipelines: P,
    options?: Orchestrator.Options
  ) => Effect.Effect<Orchestrator.Service, unknown>, repository: Repository.Service) => Effect.Effect<A, E, Scope.Scope>
): Effect.Effect<A, unknown> =>
  Effect.scoped(
    Effect.gen(function*() {
      const built = yield* Layer.build(layer)
      const repository = tracked(Context.get(built, Repository.Repository))
      const context = Context.add(built, Repository.Repository, repository)
      return yield* body(
        (pipelines, options) =>
          Orchestrator.make(pipelines, options).pipe(Effect.provide(context)) as Effect.Effect<
            Orchestrator.Service,
            unknown
          >,
        repository
      )
    })
  )

export class Boom extends Data.TaggedError("Boom")<{ readonly reason: string }> {}

export const statuses = (view: { steps: ReadonlyArray<{ status: string }> }) => view.steps.map((s) => s.status)


/** a logger that keeps the messages, as an application's own logger would */
export const capture = () => {
  const messages: Array<string> = []
  const logger = Logger.make(({ message }) => {
    messages.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
  })
  return { messages, layer: Logger.add(logger) }
}


/** run a test's body on a fresh repository of the backend */
export const runOn = (backend: Backend) => <A, E>(body: Parameters<typeof withRepository<A, E>>[1]) => withRepository(backend.fresh(), body)

/** three steps: the first finishes at once, the second waits `waits` times, the third finishes */
export const backupPipeline = (log: ReturnType<typeof recorder>, waits = 1) => {
  const generation = step("BackupGeneration", {
    onStart: () => log.record("BackupGeneration.onStart"),
    onContinue: () => Effect.as(log.record("BackupGeneration.onContinue"), Step.finish())
  })
  const transfer = step("BackupTransfer", {
    state: Schema.Struct({ jobId: Schema.String }),
    output: Schema.Struct({ location: Schema.String }),
    onStart: (ctx) => Effect.as(log.record("BackupTransfer.onStart"), { jobId: `job-${ctx.stepRunId}` }),
    onContinue: (ctx) =>
      Effect.as(
        log.record("BackupTransfer.onContinue"),
        ctx.continuations < waits ? Step.wait() : Step.finish({ location: `s3://backups/${ctx.state.jobId}` })
      )
  })
  const notification = step("ProcessCompletionNotification", {
    needs: { transfer },
    onStart: () => log.record("ProcessCompletionNotification.onStart"),
    onContinue: (ctx) =>
      Effect.as(log.record(`ProcessCompletionNotification.onContinue ${ctx.outputs.transfer.location}`), Step.finish())
  })
  return pipeline("BackupAutomationPipeline", generation, transfer, notification)
}

export const threeSteps = (log: ReturnType<typeof recorder>, waits = 0) =>
  pipeline(
    "ThreeSteps",
    step("A", { onContinue: () => Effect.as(log.record("A"), Step.finish()) }),
    step("B", {
      onContinue: (ctx) =>
        Effect.as(
          log.record("B"),
          ctx.continuations < waits ? Step.wait({ after: Duration.seconds(1) }) : Step.finish()
        )
    }),
    step("C", { onContinue: () => Effect.as(log.record("C"), Step.finish()) })
  )

/** the repository, noting the time of each claim (each poll of a worker) */
export const countingClaims = (repository: Repository.Service) => {
  const polls: Array<number> = []
  const service: Repository.Service = {
    ...repository,
    claim: (options) =>
      Effect.zipRight(
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => void polls.push(now))),
        repository.claim(options)
      )
  }
  return { polls, service }
}

/** a pass ticks the run of `p` (its handler is slow); `canceller` cancels it meanwhile; the pass's summary */
export const cancelDuringPass = (o: Orchestrator.Service, canceller: Orchestrator.Service, p: Pipeline.Any) =>
  Effect.gen(function*() {
    const runId = yield* o.create(p)
    const pass = yield* Effect.fork(o.executePending())
    yield* settle
    yield* canceller.cancel(runId)
    yield* advance("11 seconds", "1 second")
    return { runId, summary: yield* Fiber.join(pass) }
  })

/** a step whose onContinue takes 10 seconds, then a step that records its onStart */
export const slowThenNext = (name: string, log: ReturnType<typeof recorder>) =>
  pipeline(
    name,
    step("Slow", {
      onContinue: () => Effect.as(Effect.zipRight(Effect.sleep("10 seconds"), log.record("Slow")), Step.finish())
    }),
    step("Next", { onStart: () => log.record("Next.onStart") })
  )
