/**
 * The Orchestrator service: creates runs, ticks the runs that are due, and manages them.
 *
 * `Orchestrator.layer(pipelines)` registers pipelines (the original's `register_pipeline`) and
 * captures the services their handlers need; the functions of this module are accessors over the
 * service: `start`, `create`, `executePending` (the original's `execute_pipelines`), `tick`, `get`,
 * `list`, `history`, `cancel`, `retry`, `signal`, `await` and `worker`.
 *
 * @since 0.1.0
 */
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import {
  CorruptRecord,
  DecodeError,
  DefinitionError,
  EncodeError,
  InvalidOperation,
  type InvalidCursor,
  RepositoryError,
  RunNotFound,
  type TickError,
  UnknownPipeline,
  VersionConflict
} from "./Errors.js"
import type * as Pipeline from "./Pipeline.js"
import * as Repository from "./Repository.js"
import type {
  RunSummary,
  RunView,
  Status,
} from "./Run.js"
import type * as Step from "./Step.js"
import type * as WorkerModule from "./Worker.js"
import * as Child from "./Child.js"
import * as Children from "./internal/children.js"
import * as Create from "./internal/create.js"
import * as Leases from "./internal/leases.js"
import * as Manage from "./internal/manage.js"
import * as Runtime from "./internal/runtime.js"
import * as Tick from "./internal/tick.js"
import * as Views from "./internal/views.js"
import * as Waiters from "./internal/waiters.js"
import * as Worker from "./internal/worker.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Options of `start` and `create`: the pipeline `input` (required when the pipeline declares an
 * input schema), an `idempotencyKey` (the same key for the same pipeline returns the same run,
 * also under concurrent calls), and `at`, to schedule the run's first tick for later.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions<I> {
  readonly input: I
  readonly idempotencyKey?: string | undefined
  readonly at?: Date | undefined
}

/**
 * The arguments of `start` and `create` after the pipeline: options are optional for a
 * pipeline without input, required (with `input`) for one with.
 *
 * @since 0.1.0
 * @category models
 */
export type StartArgs<P> = [Pipeline.Input<P>] extends [void]
  ? [options?: Partial<StartOptions<Pipeline.Input<P>>>]
  : [options: StartOptions<Pipeline.Input<P>>]

/**
 * What one tick did to a run: its status afterwards, and whether it ran a handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface TickOutcome {
  readonly runId: string
  readonly status: Status
  readonly ranHandlers: boolean
}

/**
 * The errors of `start` and `create`.
 *
 * @since 0.1.0
 * @category models
 */
export type StartError = RepositoryError | UnknownPipeline | EncodeError

/**
 * The result of a pass over the due runs: how many runs were ticked and where they stand, and
 * the runs that could not be ticked, each with its typed error.
 *
 * @since 0.1.0
 * @category models
 */
export interface PassSummary {
  readonly ticked: number
  readonly finished: number
  readonly failed: number
  readonly cancelled: number
  readonly waiting: number
  readonly errors: ReadonlyArray<{ readonly runId: string; readonly error: TickError }>
}

/**
 * Options of a pass: how many runs to tick at once (default 1, as in the original), and at most
 * how many runs to tick in this pass (default: all that are due).
 *
 * @since 0.1.0
 * @category models
 */
export interface PassOptions {
  readonly concurrency?: number | undefined
  readonly limit?: number | undefined
}

/**
 * Options of `list`: filters, a page size (default 100) and the `cursor` of the previous page.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  readonly pipeline?: string | ReadonlyArray<string> | undefined
  readonly status?: Status | ReadonlyArray<Status> | undefined
  readonly createdFrom?: Date | undefined
  readonly createdTo?: Date | undefined
  /** only the children of this run (the runs that its `child` steps started) */
  readonly parent?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/**
 * A page of runs, newest first, and the cursor of the next page (absent on the last page).
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly runs: ReadonlyArray<RunSummary>
  /**
   * The stored runs of this page that do not decode, reported beside the others (an operator can
   * still `cancel` them); they count towards `limit`
   */
  readonly corrupt: ReadonlyArray<CorruptRecord>
  readonly cursor: string | undefined
}

/**
 * Options of the orchestrator.
 *
 * - `owner`: this orchestrator's identity in leases, logs, spans and the history (default:
 *   `<hostname>:<pid>:<random>`).
 * - `leaseDuration`: how long a claim holds a run before another worker may take it over
 *   (default 30 seconds); a long tick renews it every third of that.
 * - `awaitInterval`: the longest pause between two looks at a run in `await` (default 1 second).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly owner?: string | undefined
  readonly leaseDuration?: Duration.DurationInput | undefined
  readonly awaitInterval?: Duration.DurationInput | undefined
}

/**
 * Options of a worker: `Worker.Options` (see docs/runtime.md).
 *
 * @since 0.1.0
 * @category models
 */
export type WorkerOptions = WorkerModule.Options

/**
 * The errors of management operations on one run.
 *
 * @since 0.1.0
 * @category models
 */
export type ManageError = RepositoryError | RunNotFound | CorruptRecord | InvalidOperation

/**
 * The operations of the Orchestrator service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** This orchestrator's identity (lease owner, worker id in the history). */
  readonly owner: string
  /** The registered pipelines, by name. */
  readonly pipelines: ReadonlyMap<string, Pipeline.Any>
  /**
   * Create a run (the run record and one record per step, all `created`) and execute its first
   * tick at once, which goes on while steps finish. Returns the run id. With an idempotency key
   * that a run of this pipeline already has, returns that run's id and does nothing else.
   */
  readonly start: <P extends Pipeline.Any>(pipeline: P, ...args: StartArgs<P>) => Effect.Effect<string, StartError>
  /** Create a run without ticking it: a later pass or a worker picks it up. */
  readonly create: <P extends Pipeline.Any>(pipeline: P, ...args: StartArgs<P>) => Effect.Effect<string, StartError>
  /** Tick one run now, if it is due and no other worker holds it. */
  readonly tick: (runId: string) => Effect.Effect<TickOutcome, TickError | RunNotFound>
  /**
   * One pass over the runs that are due: each is ticked at most once (a plain `Step.wait()` is
   * continued on the next pass, as in the original). Errors of single runs are in the summary;
   * the pass goes on.
   */
  readonly executePending: (options?: PassOptions) => Effect.Effect<PassSummary, RepositoryError>
  /** A run with its steps, its input, state and outputs decoded. */
  readonly get: (runId: string) => Effect.Effect<RunView, RepositoryError | RunNotFound | CorruptRecord | DecodeError>
  /** Runs by pipeline, status and creation time, newest first, a page at a time. */
  readonly list: (options?: ListOptions) => Effect.Effect<Page, RepositoryError | InvalidCursor>
  /** A run's history, in order. */
  readonly history: (runId: string) => Effect.Effect<ReadonlyArray<Repository.LoggedEvent>, RepositoryError>
  /**
   * Cancel a run that has not ended: its current step and the run become `cancelled` and later
   * steps never start. A tick of the run in flight in this process stops at once (its running
   * handler is interrupted, unless it runs inside a `start` call): no handler of the run starts
   * after `cancel` returns. A tick in another process stops at its next lease renewal or commit.
   */
  readonly cancel: (runId: string, reason?: string) => Effect.Effect<void, ManageError>
  /** Resume a failed run from its failed step, with the step's attempt counter reset. */
  readonly retry: (runId: string) => Effect.Effect<void, ManageError>
  /**
   * Store a payload for a step of a run, durably; it is handed to that step's next `onContinue`
   * (in `ctx.signals`), and the run is due at once.
   */
  readonly signal: {
    <S extends Step.Any>(
      runId: string,
      step: S,
      payload: Step.Signal<S>
    ): Effect.Effect<void, ManageError | EncodeError | UnknownPipeline>
    (runId: string, step: string, payload: unknown): Effect.Effect<void, ManageError | EncodeError | UnknownPipeline>
  }
  /** Wait until a run has ended, and return its final view. */
  readonly await: (
    runId: string
  ) => Effect.Effect<RunView, RepositoryError | RunNotFound | CorruptRecord | DecodeError>
  /**
   * A worker: a loop that claims due runs and ticks them with bounded concurrency, until it is
   * interrupted (then in-flight ticks get a grace period, and their claims are released).
   */
  readonly worker: (options?: WorkerOptions) => Effect.Effect<never, ConfigError.ConfigError, Scope.Scope>
}

/**
 * The Orchestrator service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Orchestrator extends Context.Tag("prorch/Orchestrator")<Orchestrator, Service>() {}

/**
 * Build the service for a list of pipelines, in a scope (a fiber renews the leases of the ticks in
 * flight for as long as the scope is open). Fails with a `DefinitionError` when two pipelines have
 * the same name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Pipelines extends ReadonlyArray<Pipeline.Any>>(
  pipelines: Pipelines,
  options: Options = {}
): Effect.Effect<
  Service,
  DefinitionError,
  Repository.Repository | Scope.Scope | Pipeline.Context<Pipelines[number]>
> =>
  Effect.gen(function*() {
    const registry = new Map<string, Runtime.Compiled>()
    for (const pipeline of pipelines) {
      if (registry.has(pipeline.name)) {
        return yield* new DefinitionError({
          problem: "DuplicatePipelineName",
          pipeline: pipeline.name,
          step: undefined,
          detail: "two registered pipelines have this name"
        })
      }
      registry.set(pipeline.name, Runtime.compile(pipeline))
    }
    // a child step's pipeline is registered beside it: its runs are this orchestrator's to start
    for (const pipeline of pipelines) {
      for (const step of Child.childrenOf(pipeline.elements)) {
        const name = step.child!.pipeline.name
        if (!registry.has(name)) {
          return yield* new DefinitionError({
            problem: "InvalidOption",
            pipeline: pipeline.name,
            step: step.name,
            detail: `the child pipeline ${JSON.stringify(name)} is not registered with this orchestrator`
          })
        }
      }
    }
    const repository = yield* Repository.Repository
    const context = yield* Effect.context<Pipeline.Context<Pipelines[number]>>()
    const { keeper, service } = makeService(registry, repository, context, options)
    yield* Effect.forkScoped(keeper)
    return service
  })

/**
 * The Orchestrator layer for a list of pipelines. It requires the Repository service and every
 * service that the pipelines' handlers require.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const runId = yield* Orchestrator.start(backup)
 *   return yield* Orchestrator.get(runId)
 * }).pipe(
 *   Effect.provide(Orchestrator.layer([backup])),
 *   Effect.provide(SqliteRepository.layer({ filename: "prorch.db" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Pipelines extends ReadonlyArray<Pipeline.Any>>(
  pipelines: Pipelines,
  options?: Options
): Layer.Layer<Orchestrator, DefinitionError, Repository.Repository | Pipeline.Context<Pipelines[number]>> =>
  Layer.scoped(Orchestrator, make(pipelines, options))

// -----------------------------------------------------------------------------
// implementation
// -----------------------------------------------------------------------------

const makeService = (
  registry: ReadonlyMap<string, Runtime.Compiled>,
  repository: Repository.Service,
  context: Context.Context<any>,
  options: Options
): { readonly service: Service; readonly keeper: Effect.Effect<never> } => {
  const rt = Runtime.make(registry, repository, context, options)
  const ticks = Tick.make(rt)
  const leases = Leases.make(rt)
  const { create, start } = Create.make(rt, ticks)
  const views = Views.make(rt)
  const { get, list } = views
  const { cancel, retry, signal } = Manage.make(rt)
  // child runs: started (idempotently, by key) and read by child steps; a child's end signals its parent
  rt.children.service = {
    start: (name, input, key) => {
      const compiled = registry.get(name)
      return compiled === undefined
        ? Effect.fail(new UnknownPipeline({ runId: undefined, pipeline: name }))
        // started as `start` does: its first tick at once, in this fiber (a child that finishes at
        // once is done before its parent's step looks at it)
        : (start as (p: Pipeline.Any, options: unknown) => Effect.Effect<string, unknown>)(compiled.pipeline, {
          input,
          idempotencyKey: key
        })
    },
    get: (runId) => get(runId)
  }
  rt.children.ended = (runId, key) => {
    const parent = Children.parentOf(key)
    if (parent === null) return Effect.void
    return signal(parent.runId, parent.step, { child: runId }).pipe(
      Effect.catchAll((error) =>
        Effect.logDebug(`prorch: the end of child run ${runId} did not wake its parent ${parent.runId}: ${error.message}`)
      )
    )
  }
  const { executePending, tick, worker } = Worker.makePasses(rt, ticks, leases)
  const awaitRun = Waiters.make(rt, views)
  const owner = rt.owner
  const service: Service = {
    owner,
    pipelines: new Map([...registry].map(([name, compiled]) => [name, compiled.pipeline])),
    start,
    create,
    tick,
    executePending,
    get,
    list,
    history: (runId) => repository.history(runId),
    cancel: (runId, reason) => Effect.asVoid(cancel(runId, reason)),
    retry,
    signal,
    await: awaitRun,
    worker
  }
  return { service, keeper: leases.keeper }
}

// -----------------------------------------------------------------------------
// accessors
// -----------------------------------------------------------------------------

/**
 * Create a run and execute its first tick; returns the run id. See `Service.start`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const start = <P extends Pipeline.Any>(
  pipeline: P,
  ...args: StartArgs<P>
): Effect.Effect<string, StartError, Orchestrator> => Effect.flatMap(Orchestrator, (o) => o.start(pipeline, ...args))

/**
 * Create a run without ticking it (a later pass or a worker picks it up); returns the run id.
 *
 * @since 0.1.0
 * @category accessors
 */
export const create = <P extends Pipeline.Any>(
  pipeline: P,
  ...args: StartArgs<P>
): Effect.Effect<string, StartError, Orchestrator> => Effect.flatMap(Orchestrator, (o) => o.create(pipeline, ...args))

/**
 * Tick one run now, if it is due and no other worker holds it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const tick = (runId: string): Effect.Effect<TickOutcome, TickError | RunNotFound, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.tick(runId))

/**
 * One pass over every run that is due (the original's `execute_pipelines`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const executePending = (
  options?: PassOptions
): Effect.Effect<PassSummary, RepositoryError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.executePending(options))

/**
 * A run with its steps, decoded.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get: (
  runId: string
) => Effect.Effect<RunView, RepositoryError | RunNotFound | CorruptRecord | DecodeError, Orchestrator> = Effect.fn(
  "Orchestrator.get"
)(function*(runId: string) {
  return yield* (yield* Orchestrator).get(runId)
})

/**
 * Runs by pipeline, status and creation time, newest first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const list: (options?: ListOptions) => Effect.Effect<Page, RepositoryError | InvalidCursor, Orchestrator> = Effect.fn(
  "Orchestrator.list"
)(function*(options?: ListOptions) {
  return yield* (yield* Orchestrator).list(options)
})

/**
 * A run's history, in order.
 *
 * @since 0.1.0
 * @category accessors
 */
export const history: (
  runId: string
) => Effect.Effect<ReadonlyArray<Repository.LoggedEvent>, RepositoryError, Orchestrator> = Effect.fn(
  "Orchestrator.history"
)(function*(runId: string) {
  return yield* (yield* Orchestrator).history(runId)
})

/**
 * Cancel a run that has not ended.
 *
 * @since 0.1.0
 * @category accessors
 */
export const cancel: (runId: string, reason?: string) => Effect.Effect<void, ManageError, Orchestrator> = Effect.fn(
  "Orchestrator.cancel"
)(function*(runId: string, reason?: string) {
  return yield* (yield* Orchestrator).cancel(runId, reason)
})

/**
 * Resume a failed run from its failed step.
 *
 * @since 0.1.0
 * @category accessors
 */
export const retry: (runId: string) => Effect.Effect<void, ManageError, Orchestrator> = Effect.fn(
  "Orchestrator.retry"
)(function*(runId: string) {
  return yield* (yield* Orchestrator).retry(runId)
})

/**
 * Send a payload to a step of a run (typed by the step's `signal` schema when the step value is
 * given).
 *
 * @since 0.1.0
 * @category accessors
 */
export const signal: {
  <S extends Step.Any>(
    runId: string,
    step: S,
    payload: Step.Signal<S>
  ): Effect.Effect<void, ManageError | EncodeError | UnknownPipeline, Orchestrator>
  (
    runId: string,
    step: string,
    payload: unknown
  ): Effect.Effect<void, ManageError | EncodeError | UnknownPipeline, Orchestrator>
} = (runId: string, step: any, payload: unknown) => Effect.flatMap(Orchestrator, (o) => o.signal(runId, step, payload))

/**
 * Wait until a run has ended and return its final view.
 *
 * @since 0.1.0
 * @category accessors
 */
const awaitRun = (
  runId: string
): Effect.Effect<RunView, RepositoryError | RunNotFound | CorruptRecord | DecodeError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.await(runId))

export {
  /**
   * Wait until a run has ended and return its final view.
   *
   * @since 0.1.0
   * @category accessors
   */
  awaitRun as await
}

/**
 * Run a worker until interrupted: it claims due runs and ticks them with bounded concurrency.
 * Scoped: closing the scope (or interrupting the fiber) shuts it down gracefully.
 *
 * @example
 * ```ts
 * NodeRuntime.runMain(
 *   Effect.scoped(Orchestrator.worker({ concurrency: 8 })).pipe(Effect.provide(MainLayer))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const worker = (
  options?: WorkerOptions
): Effect.Effect<never, ConfigError.ConfigError, Orchestrator | Scope.Scope> =>
  Effect.flatMap(Orchestrator, (o) => o.worker(options))

export {
  /**
   * Errors re-exported for convenience.
   *
   * @since 0.1.0
   */
  VersionConflict
}
