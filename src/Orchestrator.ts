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
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import {
  CorruptRecord,
  DecodeError,
  DefinitionError,
  EncodeError,
  HandlerTimeout,
  InvalidOperation,
  LeaseLost,
  RepositoryError,
  RunNotFound,
  type TickError,
  UnknownPipeline,
  VersionConflict
} from "./Errors.js"
import * as Interpreter from "./Interpreter.js"
import type * as Pipeline from "./Pipeline.js"
import * as Repository from "./Repository.js"
import type {
  ErrorInfo,
  HistoryEvent,
  RunRecord,
  RunSummary,
  RunView,
  SignalRecord,
  Snapshot,
  Status,
  StepRecord
} from "./Run.js"
import { isTerminal, summary } from "./Run.js"
import type * as Step from "./Step.js"
import * as Codec from "./internal/codec.js"
import { uuidv7 } from "./internal/ids.js"
import { leased } from "./internal/rules.js"
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
 * Options of a worker; see `docs/runtime.md`. Each one not given here is read from `Config`
 * (`PRORCH_WORKER_CONCURRENCY`, `PRORCH_WORKER_POLL_INTERVAL`, `PRORCH_WORKER_MIN_POLL_INTERVAL`,
 * `PRORCH_WORKER_GRACE_PERIOD`, `PRORCH_WORKER_WAIT_INTERVAL`).
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerOptions {
  /** How many runs the worker ticks at once. Default 10. */
  readonly concurrency?: number | undefined
  /** The longest pause between two polls when there is nothing to do. Default 1 second. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** The first pause after a poll that found nothing; pauses double up to `pollInterval`. Default 10 ms. */
  readonly minPollInterval?: Duration.DurationInput | undefined
  /** How long in-flight ticks may take to finish when the worker stops. Default 10 seconds. */
  readonly gracePeriod?: Duration.DurationInput | undefined
  /**
   * When a step answers a plain `Step.wait()` in a worker, it is continued this much later (the
   * worker's "next pass"). Default: `pollInterval`.
   */
  readonly waitInterval?: Duration.DurationInput | undefined
  /** Replace the idle polling schedule (its delays are capped by the next durable timer). */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
}

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
  readonly list: (options?: ListOptions) => Effect.Effect<Page, RepositoryError>
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

let native: Tracer.Tracer | undefined
/** Effect's default tracer, which keeps spans in memory and exports nothing */
const nativeTracer = (): Tracer.Tracer => (native ??= Effect.runSync(Effect.tracer))

/**
 * Spans cost tens of microseconds each, more than a tick's own work on a fast repository: the
 * orchestrator makes them only when a tracer that exports them is installed (OpenTelemetry, say),
 * not for Effect's default tracer.
 */
const tracing: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== nativeTracer())

/**
 * How long after a tick that the storage failed (its commit, say) the run is due again, in
 * milliseconds: its lease is cut to this (docs/runtime.md "Leases")
 */
const retryAfterStorageFailure = 1000

/** a span without a captured stack trace, when tracing */
const span = (name: string, attributes: Record<string, unknown>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    tracing,
    (on) => on ? Effect.withSpan(self, name, { attributes, captureStackTrace: false }) : self
  )

// -----------------------------------------------------------------------------
// compiled definitions
// -----------------------------------------------------------------------------

/** the lease of a tick in flight: kept by the lease keeper, moved on by the tick's commits */
interface Lease {
  version: number
  expiresAt: number
  /**
   * the version that the tick's last commit writes: above `version` while that commit is on its
   * way, when a renewal refused proves nothing (the commit may have landed and moved the version on
   * before its reply came back). A failed commit ends the tick, so it is never reset
   */
  committing: number
  lost: boolean
  /** lost to a `cancel` of this process: the tick ends quietly, the run being cancelled */
  cancelled: boolean
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

/** an `onContinue` call made ready: its context, and the signals it hands to the step */
interface Prepared {
  readonly ctx: Step.ContinueContext<unknown, {}, unknown, unknown>
  readonly delivered: Array<SignalRecord> | undefined
}

interface CompiledStep {
  readonly step: Step.Any
  readonly index: number
  readonly state: Codec.Codec
  readonly output: Codec.Codec
  readonly signal: Codec.Codec
  readonly needs: ReadonlyArray<readonly [key: string, index: number]>
}

interface Compiled {
  readonly pipeline: Pipeline.Any
  readonly input: Codec.Codec
  readonly steps: ReadonlyArray<CompiledStep>
}

const compile = (pipeline: Pipeline.Any): Compiled => ({
  pipeline,
  input: Codec.make(pipeline.input),
  steps: pipeline.steps.map((step, index) => ({
    step,
    index,
    state: Codec.make(step.state),
    output: Codec.make(step.output),
    signal: Codec.make(step.signal),
    needs: Object.entries(step.needs).map(([key, need]) => [key, pipeline.indexOf(need.name)] as const)
  }))
})

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

const defaultOwner = () => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`

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
    const registry = new Map<string, Compiled>()
    for (const pipeline of pipelines) {
      if (registry.has(pipeline.name)) {
        return yield* new DefinitionError({
          problem: "DuplicatePipelineName",
          pipeline: pipeline.name,
          step: undefined,
          detail: "two registered pipelines have this name"
        })
      }
      registry.set(pipeline.name, compile(pipeline))
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
  registry: ReadonlyMap<string, Compiled>,
  repository: Repository.Service,
  context: Context.Context<any>,
  options: Options
): { readonly service: Service; readonly keeper: Effect.Effect<never> } => {
  const owner = options.owner ?? defaultOwner()
  const leaseMillis = Duration.toMillis(Duration.decode(options.leaseDuration ?? "30 seconds"))
  const awaitMillis = Duration.toMillis(Duration.decode(options.awaitInterval ?? "1 second"))
  const names = [...registry.keys()]
  // the handlers' services, captured by the layer; nothing to provide when they need none. Not the
  // layer's own Scope (handlers may not require one, `Step.NoScope`), nor its memo map: providing
  // a context costs each tick a merge and a comparison of contexts (a fifth to a quarter of a W1 run
  // in memory)
  const services = Context.omit(Repository.Repository, Scope.Scope)(context)
  const needsServices = [...services.unsafeMap.keys()].some((key) => key !== "effect/Layer/CurrentMemoMap")
  const provideServices = <A, E>(effect: Effect.Effect<A, E, any>): Effect.Effect<A, E> =>
    (needsServices ? Effect.provide(effect, services) : effect) as Effect.Effect<A, E>
  const ended = new Map<string, Array<Deferred.Deferred<void>>>()
  const held = new Map<string, Lease>()
  const wakeups = new Set<(at?: number) => void>()

  /** tell this process's workers that a run is due: now, or at `at` (epoch milliseconds) */
  const wake = (at?: number) => {
    for (const f of wakeups) f(at)
  }

  const notifyEnded = (runId: string) => {
    const waiting = ended.get(runId)
    if (waiting !== undefined) {
      ended.delete(runId)
      for (const deferred of waiting) Deferred.unsafeDone(deferred, Exit.void)
    }
  }

  const lookup = (runId: string | undefined, name: string): Either.Either<Compiled, UnknownPipeline> => {
    const compiled = registry.get(name)
    return compiled === undefined ? Either.left(new UnknownPipeline({ runId, pipeline: name })) : Either.right(compiled)
  }

  // --- handlers ----------------------------------------------------------------

  /** call a handler: its exit, never its failure (a handler that throws is a defect) */
  const callHandler = <A>(
    compiled: CompiledStep,
    handler: "onStart" | "onContinue",
    attempt: number,
    traced: boolean,
    run: () => Effect.Effect<A, unknown, unknown>
  ): Effect.Effect<Exit.Exit<A, unknown>> => {
    let effect: Effect.Effect<A, unknown, unknown>
    try {
      effect = run()
    } catch (defect) {
      return Effect.succeed(Exit.die(defect))
    }
    const timeout = compiled.step.timeout
    if (timeout !== undefined) {
      effect = Effect.timeoutFail(effect, {
        duration: timeout,
        onTimeout: () => new HandlerTimeout({ step: compiled.step.name, handler, timeout: Duration.format(timeout) })
      })
    }
    if (traced) {
      effect = Effect.withSpan(effect, `prorch.${handler}`, {
        attributes: { "prorch.step": compiled.step.name, "prorch.attempt": attempt, "prorch.worker": owner },
        captureStackTrace: false
      })
    }
    return Effect.exit(effect) as Effect.Effect<Exit.Exit<A, unknown>>
  }

  /** when to try a failed handler call again, replaying the step's schedule up to `attempt` */
  const retryAt = (
    schedule: NonNullable<Step.Any["retry"]>,
    attempt: number,
    cause: Cause.Cause<unknown>,
    now: number
  ): Effect.Effect<number | undefined> => {
    const input = Cause.squash(cause)
    return Effect.gen(function*() {
      let state = schedule.initial
      let time = now
      let delay = 0
      for (let i = 0; i < attempt; i++) {
        const [next, , decision] = yield* schedule.step(time, input, state)
        if (ScheduleDecision.isDone(decision)) return undefined
        state = next
        const start = Math.max(time, Intervals.start(decision.intervals))
        delay = start - time
        time = start
      }
      return now + delay
    })
  }

  // --- ticks -------------------------------------------------------------------

  /**
   * How a tick whose lease is lost ends, without writing: with its run cancelled, when a `cancel`
   * of this process took the lease; else with `LeaseLost`.
   */
  const stopped = (runId: string, lease: Lease, ranHandlers: boolean): Either.Either<TickOutcome, LeaseLost> =>
    lease.cancelled
      ? Either.right({ runId, status: "cancelled", ranHandlers })
      : Either.left(new LeaseLost({ runId, owner }))

  /** the lease of a claimed run; with `fiber`, the lease keeper interrupts it if the lease is taken */
  const leaseOf = (snapshot: Snapshot, fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined): Lease => ({
    version: snapshot.run.version,
    expiresAt: snapshot.run.lease_expires_at ?? 0,
    committing: 0,
    lost: false,
    cancelled: false,
    fiber
  })

  /**
   * One tick of a claimed run (docs/semantics.md "One tick"), in the caller's fiber,
   * under `lease` (which its commits move on). The handlers' services must be provided by the
   * caller (`context`).
   */
  const tickClaimed = (
    compiled: Compiled,
    snapshot: Snapshot,
    lease: Lease,
    previousOwner: string | null,
    waitMillis: number
  ): Effect.Effect<TickOutcome, TickError> => {
    const runId = snapshot.run.uuid
    const body = Effect.gen(function*() {
      const clock = yield* Effect.clock
      const traced = yield* tracing
      let base: Snapshot = snapshot
      let d = Interpreter.draft(snapshot)
      let signals = snapshot.signals
      let consumed: Array<string> = []
      let ranHandlers = false
      const actor = (): Interpreter.Actor => ({ now: clock.unsafeCurrentTimeMillis(), worker: owner })

      if (previousOwner !== null && previousOwner !== owner) d = Interpreter.leaseLost(d, previousOwner, actor())

      const commit = (release: boolean) => {
        const run: RunRecord = {
          ...d.run,
          version: base.run.version + 1,
          lease_owner: release ? null : owner,
          lease_expires_at: release ? null : lease.expiresAt
        }
        // set as the commit is made, which is when it runs: every caller yields it at once
        lease.committing = run.version
        return Effect.map(
          repository.commit({
            run,
            previous: base.run,
            steps: d.changed.map((i) => d.steps[i]),
            events: d.events,
            expectedVersion: base.run.version,
            consumedSignals: consumed
          }),
          () => {
            lease.version = run.version
            base = {
              run: consumed.length === 0 ? run : { ...run, pending_signals: run.pending_signals - consumed.length },
              steps: d.steps,
              signals
            }
            d = Interpreter.draft(base)
            consumed = []
          }
        )
      }

      const input = compiled.input.decode(snapshot.run.input)
      if (Either.isLeft(input)) {
        return yield* new DecodeError({ runId, what: "pipeline input", detail: input.left })
      }

      const contextFor = (cs: CompiledStep, step: StepRecord): Step.StartContext<unknown, {}> | DecodeError => {
        const outputs: Record<string, unknown> = {}
        for (const [key, index] of cs.needs) {
          const decoded = compiled.steps[index].output.decode(d.steps[index].output)
          if (Either.isLeft(decoded)) {
            return new DecodeError({
              runId,
              what: `output of step ${JSON.stringify(d.steps[index].name)}`,
              detail: decoded.left
            })
          }
          outputs[key] = decoded.right
        }
        return {
          runId,
          stepRunId: step.uuid,
          pipeline: compiled.pipeline.name,
          step: step.name,
          attempt: step.attempt,
          input: input.right,
          outputs
        }
      }

      /** a failed call: schedule its retry, or fail the step; whether the tick should stop */
      const failed = (cs: CompiledStep, handler: "onStart" | "onContinue", cause: Cause.Cause<unknown>) => {
        const now = clock.unsafeCurrentTimeMillis()
        const record = (at: number | undefined) => {
          d = Interpreter.handlerFailed(d, cs.index, handler, Codec.errorInfo(cause), at, { now, worker: owner })
          return at !== undefined
        }
        const schedule = cs.step.retry
        return schedule === undefined
          ? Effect.succeed(record(undefined))
          : Effect.map(retryAt(schedule, d.steps[cs.index].attempt, cause, now), record)
      }

      /** the context of an `onContinue` call of a step, with the signals it is handed */
      const prepare = (cs: CompiledStep): Prepared | DecodeError => {
        const step = d.steps[cs.index]
        const state = cs.state.decode(step.state)
        if (Either.isLeft(state)) {
          return new DecodeError({ runId, what: `state of step ${JSON.stringify(step.name)}`, detail: state.left })
        }
        let delivered: Array<SignalRecord> | undefined
        let payloads: Array<unknown> = noSignals
        for (const signal of signals) {
          if (signal.step !== step.name) continue
          const payload = cs.signal.decode(signal.payload)
          if (Either.isLeft(payload)) return new DecodeError({ runId, what: `signal ${signal.id}`, detail: payload.left })
          if (delivered === undefined) {
            delivered = []
            payloads = []
          }
          delivered.push(signal)
          payloads.push(payload.right)
        }
        const start = contextFor(cs, step)
        if (start instanceof DecodeError) return start
        // every property written out: a spread of the start context would make a slower object
        const ctx: Step.ContinueContext<unknown, {}, unknown, unknown> = {
          runId: start.runId,
          stepRunId: start.stepRunId,
          pipeline: start.pipeline,
          step: start.step,
          attempt: start.attempt,
          input: start.input,
          outputs: start.outputs,
          state: state.right,
          signals: payloads,
          continuations: typeof step.metadata.continuations === "number" ? step.metadata.continuations : 0
        }
        return { ctx, delivered }
      }

      loop: while (true) {
        const decision = Interpreter.decide(compiled.pipeline, d, clock.unsafeCurrentTimeMillis())
        switch (decision._tag) {
          case "Mismatch":
            return yield* new DecodeError({ runId, what: "step list", detail: decision.detail })
          case "Done":
          case "Sleep":
            break loop
          case "Finalize":
            d = Interpreter.finalize(d, decision.status, decision.index, actor())
            break loop
        }
        const cs = compiled.steps[decision.index]
        // what the handlers are given is decoded before anything is written: a run whose records do
        // not decode writes nothing (not even the `lease_lost` of a take-over), however often it is
        // claimed (docs/runtime.md "Leases")
        let startContext: Step.StartContext<unknown, {}> | undefined
        let prepared: Prepared | undefined
        if (decision._tag === "Start") {
          const ctx = contextFor(cs, d.steps[cs.index])
          if (ctx instanceof DecodeError) return yield* ctx
          startContext = ctx
        } else {
          const ready = prepare(cs)
          if (ready instanceof DecodeError) return yield* ready
          prepared = ready
        }
        // a step's handlers are about to run: what earlier steps did is committed first
        if (Interpreter.hasChanges(d)) yield* commit(false)
        // a run cancelled (or a lease lost) since then: no handler of it starts
        if (lease.lost) return yield* stopped(runId, lease, ranHandlers)
        ranHandlers = true
        if (startContext !== undefined) {
          const ctx = startContext
          const onStart = cs.step.onStart
          const exit = onStart === undefined
            ? Exit.void
            : yield* callHandler(cs, "onStart", ctx.attempt, traced, () => onStart(ctx))
          if (Exit.isFailure(exit)) {
            if (yield* failed(cs, "onStart", exit.cause)) break loop
            continue loop
          }
          const state = cs.state.encode(exit.value)
          if (Either.isLeft(state)) {
            const error = new EncodeError({ what: `state of step ${JSON.stringify(cs.step.name)}`, detail: state.left })
            if (yield* failed(cs, "onStart", Cause.fail(error))) break loop
            continue loop
          }
          d = Interpreter.started(d, cs.index, state.right, actor())
          // onContinue, right after onStart
          if (lease.lost) return yield* stopped(runId, lease, true)
          const ready = prepare(cs)
          if (ready instanceof DecodeError) return yield* ready
          prepared = ready
        }
        const { ctx, delivered } = prepared!
        const exit = yield* callHandler(cs, "onContinue", ctx.attempt, traced, () => cs.step.onContinue(ctx))
        if (Exit.isFailure(exit)) {
          if (yield* failed(cs, "onContinue", exit.cause)) break loop
          continue loop
        }
        const answered = actor()
        const answer = toAnswer(cs, exit.value, answered.now, waitMillis)
        if (answer._tag === "Invalid") {
          if (yield* failed(cs, "onContinue", Cause.fail(answer.error))) break loop
          continue loop
        }
        if (delivered !== undefined) {
          const ids = delivered.map((s) => s.id)
          consumed = [...consumed, ...ids]
          signals = signals.filter((s) => !ids.includes(s.id))
        }
        d = Interpreter.continued(d, cs.index, answer.answer, answered)
        if (answer.answer._tag === "Wait") break loop
      }
      if (Interpreter.hasChanges(d)) {
        yield* commit(true)
        // the run waits: this process's idle workers plan their sleep by its wake-up time
        if (!isTerminal(d.run.status)) wake(d.run.wake_at)
      } else {
        yield* repository.release({ runId, owner, version: lease.version })
      }
      if (isTerminal(d.run.status)) notifyEnded(runId)
      return { runId, status: d.run.status, ranHandlers } satisfies TickOutcome
    })
    return Effect.zipRight(
      // the lease keeper renews the lease while the tick runs
      Effect.sync(() => held.set(runId, lease)),
      body
    ).pipe(
      Effect.onInterrupt(() => repository.release({ runId, owner, version: lease.version }).pipe(Effect.ignore)),
      Effect.ensuring(Effect.sync(() => {
        if (held.get(runId) === lease) held.delete(runId)
      })),
      Effect.catchAllDefect((defect) =>
        Effect.fail(new RepositoryError({ operation: "tick", cause: defect }))
      ),
      // the storage failed (a commit, say): the run is due again within a second, not once the whole
      // lease has run out; the lease is shortened, not released, so that a storage that keeps failing
      // is tried about once a second, not in a loop (docs/runtime.md "Leases")
      Effect.tapError((error) =>
        error._tag !== "RepositoryError" || lease.lost
          ? Effect.void
          : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            repository.renew({
              runId,
              owner,
              version: lease.version,
              leaseExpiresAt: Math.min(lease.expiresAt, now + retryAfterStorageFailure)
            })).pipe(Effect.ignore)
      )
    )
  }

  // --- leases ------------------------------------------------------------------

  /** renew the leases of the ticks in flight, a third of the lease duration before they expire */
  const keeper: Effect.Effect<never> = Effect.gen(function*() {
    const interval = Math.max(1, Math.floor(leaseMillis / 3))
    while (true) {
      yield* Effect.sleep(interval)
      const now = yield* Clock.currentTimeMillis
      for (const [runId, lease] of held) {
        if (lease.lost || lease.expiresAt - now > leaseMillis - interval) continue
        const version = lease.version
        const expiresAt = now + leaseMillis
        const kept = yield* repository.renew({ runId, owner, version, leaseExpiresAt: expiresAt }).pipe(
          Effect.tapError((error) => Effect.logWarning(`prorch: renewing the lease of run ${runId} failed`, error)),
          Effect.orElseSucceed(() => true)
        )
        // the tick committed meanwhile (a new version proves the lease), or ended; or a commit of it
        // is on its way, which may have moved the version on: the next round renews at the new one
        if (held.get(runId) !== lease || lease.version !== version) continue
        if (!kept && lease.committing > lease.version) continue
        if (kept) {
          lease.expiresAt = expiresAt
        } else {
          lease.lost = true
          yield* Effect.logWarning(`prorch: the lease of run ${runId} was taken by another worker; stopping its tick`)
          if (lease.fiber !== undefined) yield* Fiber.interruptFork(lease.fiber)
        }
      }
    }
  }).pipe(Effect.annotateLogs({ worker: owner }))

  /**
   * Tick a claimed run in the current fiber, which the lease keeper may interrupt. `report` gets
   * the tick's outcome or error, in the tick's fiber, before it ends: `LeaseLost` when the keeper
   * interrupted it for a lost lease; nothing when it was interrupted for another reason (the
   * worker stopping).
   */
  const tickSnapshot = (
    claimed: Repository.Claimed,
    waitMillis: number,
    report: (result: Either.Either<TickOutcome, TickError>) => Effect.Effect<void>
  ): Effect.Effect<void> => {
    const runId = claimed.snapshot.run.uuid
    const compiled = lookup(runId, claimed.snapshot.run.name)
    if (Either.isLeft(compiled)) return report(Either.left(compiled.left))
    return Effect.withFiberRuntime<void>((fiber) => {
      const lease = leaseOf(claimed.snapshot, fiber)
      return tickClaimed(compiled.right, claimed.snapshot, lease, claimed.previousOwner, waitMillis).pipe(
        Effect.onExit((exit) => {
          if (Exit.isSuccess(exit)) return report(Either.right(exit.value))
          if (Exit.isInterrupted(exit)) {
            return lease.lost ? report(stopped(runId, lease, true)) : Effect.void
          }
          const failure = Cause.failureOption(exit.cause)
          return Option.isSome(failure) ? report(Either.left(failure.value)) : Effect.void
        }),
        Effect.ignore,
        span("prorch.tick", { "prorch.run": runId, "prorch.pipeline": claimed.snapshot.run.name, "prorch.worker": owner })
      )
    })
  }

  // --- creating runs -----------------------------------------------------------

  const createRun = (
    pipeline: Pipeline.Any,
    args: ReadonlyArray<Partial<StartOptions<unknown>> | undefined>,
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
        version: 1,
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

  const start: Service["start"] = (pipeline, ...args) =>
    Effect.gen(function*() {
      const created = yield* createRun(pipeline, args as any, true)
      if (created.snapshot !== undefined) {
        // in the caller's fiber: a lost lease is caught by the version check of the next commit
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

  const create: Service["create"] = (pipeline, ...args) =>
    createRun(pipeline, args as any, false).pipe(
      Effect.map((created) => created.runId),
      Effect.tap(() => Effect.sync(wake)),
      span("prorch.create", { "prorch.pipeline": pipeline.name })
    )

  // --- loading -----------------------------------------------------------------

  const load = (runId: string) =>
    Effect.flatMap(
      repository.load(runId),
      Option.match({
        onNone: () => Effect.fail(new RunNotFound({ runId })),
        onSome: Effect.succeed
      })
    )

  /** take the lease of one run by a guarded write, as a claim would */
  const claimOne = (runId: string) =>
    Effect.gen(function*() {
      const snapshot = yield* load(runId)
      const now = yield* Clock.currentTimeMillis
      const { run } = snapshot
      if (run.lease_owner !== null && run.lease_owner !== owner && (run.lease_expires_at ?? 0) > now) {
        return Option.none()
      }
      const taken = leased(run, owner, now + leaseMillis)
      yield* repository.commit({
        run: taken,
        steps: [],
        events: [],
        expectedVersion: run.version,
        consumedSignals: []
      })
      return Option.some<Repository.Claimed>({
        snapshot: { ...snapshot, run: taken },
        previousOwner: run.lease_owner === owner ? null : run.lease_owner
      })
    })

  const tick: Service["tick"] = (runId) =>
    Effect.gen(function*() {
      const claimed = yield* claimOne(runId)
      if (Option.isNone(claimed)) {
        const snapshot = yield* load(runId)
        return { runId, status: snapshot.run.status, ranHandlers: false }
      }
      let result: Either.Either<TickOutcome, TickError> | undefined
      const fiber = yield* Effect.fork(
        tickSnapshot(claimed.value, 0, (r) =>
          Effect.sync(() => {
            result = r
          })).pipe(provideServices)
      )
      yield* Fiber.await(fiber)
      // no result: the tick was interrupted without losing its lease (this fiber is being interrupted)
      if (result === undefined) return yield* Effect.interrupt
      return yield* result
    })

  // --- passes ------------------------------------------------------------------

  /**
   * Claim the runs due at the pass's start, in due order, as slots free up, and tick each in the
   * background; a run ticked in this pass is not ticked again in it. Returns how many runs it
   * claimed, once nothing due is left to claim (ticks may still be running).
   */
  const pass = (
    runner: Worker.PassRunner,
    limit: number,
    onResult: (runId: string, result: Either.Either<TickOutcome, TickError>) => Effect.Effect<void>
  ): Effect.Effect<number, RepositoryError> =>
    Effect.gen(function*() {
      const passStart = yield* Clock.currentTimeMillis
      const seen = new Set<string>()
      let cursor: Repository.Cursor | undefined
      let claimedTotal = 0
      while (claimedTotal < limit) {
        const taken = yield* runner.slots.take(Math.min(runner.slots.size, limit - claimedTotal))
        // from the claim until every claimed run has its tick forked, the pass is not interrupted:
        // a worker stopping meanwhile would leave runs leased that no tick of it releases
        const found = yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const batch = yield* repository.claim({
              owner,
              now: passStart,
              leaseExpiresAt: now + leaseMillis,
              limit: taken,
              names,
              after: cursor
            }).pipe(Effect.onError(() => runner.slots.release(taken)))
            cursor = batch.cursor
            for (const error of batch.corrupt) yield* onResult(error.runId, Either.left(error))
            yield* runner.slots.release(taken - batch.claimed.length)
            for (const claimed of batch.claimed) {
              const { run } = claimed.snapshot
              const effect = seen.has(run.uuid)
                ? Effect.ignore(repository.release({ runId: run.uuid, owner, version: run.version }))
                : tickSnapshot(claimed, runner.waitMillis, (result) => onResult(run.uuid, result))
              seen.add(run.uuid)
              // the tick itself can be interrupted (by the lease keeper, by the worker's shutdown)
              yield* runner.fork(Effect.ensuring(restore(effect), runner.slots.release(1)))
            }
            return batch.claimed.length + batch.corrupt.length
          })
        )
        if (found === 0) break
        claimedTotal += found
      }
      return claimedTotal
    }).pipe(
      // the handlers' services, once for all the ticks of the pass (they run in forked fibers)
      provideServices
    )

  const reportUnknown = (now: number) =>
    Effect.map(
      repository.dueElsewhere({ now, names, limit: 100 }),
      (runs) => runs.map((run) => ({ runId: run.uuid, error: new UnknownPipeline({ runId: run.uuid, pipeline: run.name }) }))
    )

  const executePending: Service["executePending"] = (passOptions = {}) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const errors: Array<{ runId: string; error: TickError }> = yield* reportUnknown(now)
      const counts = { ticked: 0, finished: 0, failed: 0, cancelled: 0, waiting: 0 }
      const slots = yield* Worker.makeSlots(Math.max(1, passOptions.concurrency ?? 1))
      yield* Effect.scoped(Effect.gen(function*() {
        const fibers = yield* FiberSet.make<void, never>()
        yield* pass(
          { slots, fork: (effect) => Effect.asVoid(FiberSet.run(fibers, effect)), waitMillis: 0 },
          passOptions.limit ?? Number.POSITIVE_INFINITY,
          (runId, result) =>
            Effect.sync(() => {
              if (Either.isLeft(result)) {
                errors.push({ runId, error: result.left })
                return
              }
              counts.ticked++
              const status = result.right.status
              if (status === "finished") counts.finished++
              else if (status === "failed") counts.failed++
              else if (status === "cancelled") counts.cancelled++
              else counts.waiting++
            })
        )
        yield* FiberSet.awaitEmpty(fibers)
      }))
      for (const { runId, error } of errors) {
        yield* Effect.logWarning(`prorch: run ${runId} could not be ticked: ${error.message}`)
      }
      return { ...counts, errors }
    }).pipe(
      Effect.annotateLogs({ worker: owner }),
      span("prorch.executePending", { "prorch.worker": owner })
    )

  // --- views -------------------------------------------------------------------

  const decodeOr = (
    runId: string,
    what: string,
    codec: Codec.Codec | undefined,
    text: string | null
  ): Either.Either<unknown, DecodeError> => {
    if (codec === undefined) {
      try {
        return Either.right(text === null ? null : JSON.parse(text))
      } catch (error) {
        return Either.left(new DecodeError({ runId, what, detail: String(error) }))
      }
    }
    return Either.mapLeft(codec.decode(text), (detail) => new DecodeError({ runId, what, detail }))
  }

  const view = (snapshot: Snapshot): Either.Either<RunView, DecodeError> =>
    Either.gen(function*() {
      const { run } = snapshot
      const compiled = registry.get(run.name)
      const input = yield* decodeOr(run.uuid, "pipeline input", compiled?.input, run.input)
      const steps = []
      for (const step of snapshot.steps) {
        const cs = compiled?.steps[step.position]
        const name = JSON.stringify(step.name)
        steps.push({
          id: step.uuid,
          name: step.name,
          status: step.status,
          attempt: step.attempt,
          state: yield* decodeOr(run.uuid, `state of step ${name}`, cs?.state, step.state),
          output: yield* decodeOr(run.uuid, `output of step ${name}`, cs?.output, step.output),
          error: step.error,
          metadata: step.metadata,
          startedAt: step.started_at === null ? null : new Date(step.started_at),
          endedAt: step.ended_at === null ? null : new Date(step.ended_at)
        })
      }
      return {
        id: run.uuid,
        pipeline: run.name,
        status: run.status,
        currentStep: run.metadata.current_step,
        input,
        steps,
        error: run.error,
        idempotencyKey: run.idempotency_key,
        version: run.version,
        wakeAt: new Date(run.wake_at),
        createdAt: new Date(run.created_at),
        updatedAt: new Date(run.updated_at),
        endedAt: run.ended_at === null ? null : new Date(run.ended_at)
      }
    })

  const get: Service["get"] = (runId) => Effect.flatMap(load(runId), view)

  const list: Service["list"] = (listOptions = {}) =>
    Effect.gen(function*() {
      const limit = Math.max(1, listOptions.limit ?? 100)
      const before = listOptions.cursor === undefined ? undefined : decodeCursor(listOptions.cursor)
      const page = yield* repository.list({
        names: listOptions.pipeline === undefined ? undefined : asArray(listOptions.pipeline),
        statuses: listOptions.status === undefined ? undefined : asArray(listOptions.status),
        createdFrom: listOptions.createdFrom?.getTime(),
        createdTo: listOptions.createdTo?.getTime(),
        limit,
        before
      })
      return {
        runs: page.runs.map(summary),
        corrupt: page.corrupt,
        cursor: page.rows === limit && page.last !== undefined ? encodeCursor(page.last) : undefined
      }
    })

  // --- management --------------------------------------------------------------

  /** load, change with a pure transition, commit; again if the run changed meanwhile */
  const manage = (
    runId: string,
    operation: string,
    change: (snapshot: Snapshot, now: number) => Either.Either<Interpreter.Draft, InvalidOperation>
  ): Effect.Effect<RunRecord, ManageError> =>
    Effect.gen(function*() {
      const snapshot = yield* load(runId)
      const now = yield* Clock.currentTimeMillis
      const d = yield* change(snapshot, now)
      const run: RunRecord = { ...d.run, version: snapshot.run.version + 1 }
      yield* repository.commit({
        run,
        steps: d.changed.map((i) => d.steps[i]),
        events: d.events,
        expectedVersion: snapshot.run.version,
        consumedSignals: []
      })
      return run
    }).pipe(
      Effect.retry({ while: (error) => error._tag === "VersionConflict", times: 20 }),
      Effect.catchTag("VersionConflict", (error) =>
        Effect.fail(new InvalidOperation({ runId, operation, detail: `the run kept changing: ${error.message}` }))),
      span(`prorch.${operation}`, { "prorch.run": runId })
    )

  /** cancel a run whose records do not decode, without reading them, where the storage can */
  const cancelUndecodable = (runId: string, reason: string, corrupt: CorruptRecord) =>
    Effect.gen(function*() {
      if (repository.cancelUndecodable === undefined) return yield* corrupt
      const now = yield* Clock.currentTimeMillis
      const event: HistoryEvent = {
        run_uuid: runId,
        at: now,
        type: "cancelled",
        step: null,
        attempt: null,
        worker: owner,
        data: { reason, undecodable: corrupt.message }
      }
      const cancelled = yield* repository.cancelUndecodable({ runId, reason, now, events: [event] })
      if (!cancelled) {
        return yield* new InvalidOperation({ runId, operation: "cancel", detail: "it has ended, or does not exist" })
      }
    })

  const cancel: Service["cancel"] = (runId, reason = "cancelled by an operator") =>
    manage(runId, "cancel", (snapshot, now) =>
      isTerminal(snapshot.run.status)
        ? Either.left(new InvalidOperation({ runId, operation: "cancel", detail: `it has ended (${snapshot.run.status})` }))
        : Either.right(Interpreter.cancelRun(Interpreter.draft(snapshot), reason, { now, worker: owner }))).pipe(
        // an operator's way out for a run whose records no longer decode
        Effect.catchTag("CorruptRecord", (corrupt) => cancelUndecodable(runId, reason, corrupt)),
        Effect.tap(() => {
          notifyEnded(runId)
          // a tick of this run in flight here: no handler of it starts again, and the one running
          // is interrupted (a tick in the caller's fiber, `start`'s, lets its handler finish)
          const lease = held.get(runId)
          if (lease === undefined) return Effect.void
          lease.lost = true
          lease.cancelled = true
          return lease.fiber === undefined ? Effect.void : Fiber.interruptFork(lease.fiber)
        })
      )

  const retry: Service["retry"] = (runId) =>
    manage(runId, "retry", (snapshot, now) =>
      snapshot.run.status !== "failed"
        ? Either.left(
          new InvalidOperation({ runId, operation: "retry", detail: `only a failed run can be retried, it is ${snapshot.run.status}` })
        )
        : Either.right(
          Interpreter.retryRun(Interpreter.draft(snapshot), { now, worker: owner })
        )).pipe(Effect.tap(() => Effect.sync(wake)), Effect.asVoid)

  const signal = ((runId: string, step: Step.Any | string, payload: unknown) =>
    Effect.gen(function*() {
      const stepName = typeof step === "string" ? step : step.name
      const snapshot = yield* load(runId)
      const compiled = yield* lookup(runId, snapshot.run.name)
      const index = compiled.pipeline.indexOf(stepName)
      if (index < 0) {
        return yield* new InvalidOperation({
          runId,
          operation: "signal",
          detail: `pipeline ${JSON.stringify(snapshot.run.name)} has no step ${JSON.stringify(stepName)}`
        })
      }
      const cs = compiled.steps[index]
      if (cs.step.signal === undefined) {
        return yield* new InvalidOperation({
          runId,
          operation: "signal",
          detail: `step ${JSON.stringify(stepName)} declares no signal schema`
        })
      }
      const record = snapshot.steps[index]
      if (record === undefined || isTerminal(record.status)) {
        return yield* new InvalidOperation({
          runId,
          operation: "signal",
          detail: `step ${JSON.stringify(stepName)} has ended (${record?.status})`
        })
      }
      const encoded = cs.signal.encode(payload)
      if (Either.isLeft(encoded)) {
        return yield* new EncodeError({ what: `signal of step ${JSON.stringify(stepName)}`, detail: encoded.left })
      }
      const now = yield* Clock.currentTimeMillis
      const id = randomUUID()
      const payloadJson = encoded.right ?? "null"
      // a signal for a later step waits for it, without waking the step that is under way
      const current = snapshot.steps.findIndex((step) => !isTerminal(step.status))
      const accepted = yield* repository.signal(
        { id, run_uuid: runId, step: stepName, payload: payloadJson, created_at: now },
        {
          run_uuid: runId,
          at: now,
          type: "signalled",
          step: stepName,
          attempt: record.attempt,
          worker: owner,
          data: { signal: id, payload: JSON.parse(payloadJson) }
        },
        current === index
      )
      if (!accepted) {
        return yield* new InvalidOperation({ runId, operation: "signal", detail: "the run has ended" })
      }
      wake()
    }).pipe(span("prorch.signal", { "prorch.run": runId }))) as Service["signal"]

  const awaitRun: Service["await"] = (runId) =>
    Effect.gen(function*() {
      const delays = Worker.backoff(
        Schedule.exponential(Duration.millis(10), 2).pipe(Schedule.union(Schedule.spaced(Duration.millis(awaitMillis)))),
        Duration.millis(awaitMillis)
      )
      // resolved when this process ends the run; polling covers the other processes
      const deferred = yield* Deferred.make<void>()
      const list = ended.get(runId) ?? []
      list.push(deferred)
      ended.set(runId, list)
      const forget = Effect.sync(() => {
        const rest = (ended.get(runId) ?? []).filter((d) => d !== deferred)
        if (rest.length === 0) ended.delete(runId)
        else ended.set(runId, rest)
      })
      return yield* Effect.ensuring(
        Effect.gen(function*() {
          while (true) {
            const snapshot = yield* load(runId)
            if (isTerminal(snapshot.run.status)) return yield* view(snapshot)
            yield* Effect.raceFirst(Deferred.await(deferred), Effect.flatMap(delays.next, Effect.sleep))
          }
        }),
        forget
      )
    })

  const worker: Service["worker"] = (workerOptions) =>
    Worker.run({
      owner,
      names,
      options: workerOptions ?? {},
      repository,
      registerWakeup: (f) =>
        Effect.acquireRelease(Effect.sync(() => wakeups.add(f)), () => Effect.sync(() => wakeups.delete(f))),
      pass: (runner) =>
        // in the tick's fiber: through the application's logger
        pass(runner, Number.POSITIVE_INFINITY, (runId, result) =>
          Either.isLeft(result)
            ? Effect.logWarning(`prorch: run ${runId} could not be ticked: ${result.left.message}`).pipe(
              Effect.annotateLogs({ runId, worker: owner })
            )
            : Effect.void)
    })

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
  return { service, keeper }
}

const asArray = <A>(value: A | ReadonlyArray<A>): ReadonlyArray<A> =>
  Array.isArray(value) ? value : [value as A]

const encodeCursor = (last: { readonly createdAt: number; readonly uuid: string }): string =>
  Buffer.from(JSON.stringify([last.createdAt, last.uuid])).toString("base64url")

const decodeCursor = (cursor: string): { createdAt: number; uuid: string } | undefined => {
  try {
    const [createdAt, uuid] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    return typeof createdAt === "number" && typeof uuid === "string" ? { createdAt, uuid } : undefined
  } catch {
    return undefined
  }
}

type Answered =
  | { readonly _tag: "Answer"; readonly answer: Interpreter.Answer }
  | { readonly _tag: "Invalid"; readonly error: EncodeError }

const noSignals: Array<unknown> = []

const toAnswer = (cs: CompiledStep, outcome: Step.Outcome, now: number, waitMillis: number): Answered => {
  // for error messages only
  const name = () => JSON.stringify(cs.step.name)
  switch (outcome?._tag) {
    case "Finish": {
      const output = cs.output.encode(outcome.output)
      return Either.isLeft(output)
        ? { _tag: "Invalid", error: new EncodeError({ what: `output of step ${name()}`, detail: output.left }) }
        : { _tag: "Answer", answer: { _tag: "Finish", output: output.right } }
    }
    case "Wait": {
      let state: string | null | undefined
      if (outcome.hasState) {
        const encoded = cs.state.encode(outcome.state)
        if (Either.isLeft(encoded)) {
          return { _tag: "Invalid", error: new EncodeError({ what: `state of step ${name()}`, detail: encoded.left }) }
        }
        state = encoded.right
      }
      const wakeAt = outcome.until !== undefined
        ? outcome.until.getTime()
        : outcome.after !== undefined
        ? now + Duration.toMillis(outcome.after)
        : now + waitMillis
      const plain = outcome.until === undefined && outcome.after === undefined
      return { _tag: "Answer", answer: { _tag: "Wait", state, wakeAt, plain } }
    }
    case "Fail":
      return {
        _tag: "Answer",
        answer: {
          _tag: "Fail",
          error: {
            message: outcome.reason,
            pretty: null,
            cause: outcome.details === undefined ? null : Codec.toJson(outcome.details)
          } satisfies ErrorInfo
        }
      }
    case "Cancel":
      return { _tag: "Answer", answer: { _tag: "Cancel", reason: outcome.reason } }
    default:
      return {
        _tag: "Invalid",
        error: new EncodeError({
          what: `answer of step ${name()}`,
          detail: "onContinue must answer Step.finish(), Step.wait(), Step.fail() or Step.cancel()"
        })
      }
  }
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
export const get = (
  runId: string
): Effect.Effect<RunView, RepositoryError | RunNotFound | CorruptRecord | DecodeError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.get(runId))

/**
 * Runs by pipeline, status and creation time, newest first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const list = (options?: ListOptions): Effect.Effect<Page, RepositoryError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.list(options))

/**
 * A run's history, in order.
 *
 * @since 0.1.0
 * @category accessors
 */
export const history = (
  runId: string
): Effect.Effect<ReadonlyArray<Repository.LoggedEvent>, RepositoryError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.history(runId))

/**
 * Cancel a run that has not ended.
 *
 * @since 0.1.0
 * @category accessors
 */
export const cancel = (runId: string, reason?: string): Effect.Effect<void, ManageError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.cancel(runId, reason))

/**
 * Resume a failed run from its failed step.
 *
 * @since 0.1.0
 * @category accessors
 */
export const retry = (runId: string): Effect.Effect<void, ManageError, Orchestrator> =>
  Effect.flatMap(Orchestrator, (o) => o.retry(runId))

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
