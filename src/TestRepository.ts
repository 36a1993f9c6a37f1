/**
 * Fault injection for tests: a Repository layer that wraps another (the memory layer by default)
 * and makes its operations fail, or "crashes" a tick at a commit, where and when a test says.
 *
 * - `failAt(operation, { nth })`: the nth call of an operation from now fails with a
 *   `RepositoryError` whose cause is an `InjectedFailure`; nothing is written.
 * - `failWrites({ rate, seed })`: every write (`create`, `commit`, `claim`, `renew`, `release`,
 *   `signal`) fails with that probability, from a seeded generator (the same seed, the same
 *   failures); nothing is written.
 * - `crash({ when, commit, match })`: at the matching commit, a tick stops as a worker killed by
 *   SIGKILL would, before the commit is written or right after. The commit answers with a
 *   `RepositoryError` whose cause is a `SimulatedCrash`, so the tick ends there, and the release and
 *   renewals of that run's lease are dropped until the run is claimed again: the lease stays as a
 *   dead process leaves it, until it expires, and the next tick goes on from what was committed.
 *
 * Used by `TestOrchestrator.layer`; see docs/testing.md.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { RepositoryError } from "./Errors.js"
import * as Repository from "./Repository.js"
import type { Commit } from "./Run.js"

/**
 * The operations of the Repository service that faults can be injected into.
 *
 * @since 0.1.0
 * @category models
 */
export type Operation =
  | "create"
  | "load"
  | "commit"
  | "claim"
  | "dueElsewhere"
  | "nextWakeAt"
  | "renew"
  | "release"
  | "list"
  | "history"
  | "signal"

/**
 * The operations that write: the ones `failWrites` fails.
 *
 * @since 0.1.0
 * @category models
 */
export const writes: ReadonlyArray<Operation> = ["create", "commit", "claim", "renew", "release", "signal"]

/**
 * The cause of a `RepositoryError` injected by `failAt` or `failWrites`: nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InjectedFailure extends Data.TaggedError("InjectedFailure")<{
  readonly operation: Operation
  /** the call of the operation that failed, counted from the layer's start (1 is the first) */
  readonly call: number
}> {
  override get message(): string {
    return `injected failure of ${this.operation} (call ${this.call}); nothing was written`
  }
}

/**
 * The cause of the `RepositoryError` that a commit answers with when `crash` stops a tick there:
 * `when` says whether the commit was written (`"after"`) or not (`"before"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SimulatedCrash extends Data.TaggedError("SimulatedCrash")<{
  readonly runId: string
  readonly when: "before" | "after"
}> {
  override get message(): string {
    return this.when === "before"
      ? `simulated crash of the tick of run ${this.runId} before its commit (nothing written)`
      : `simulated crash of the tick of run ${this.runId} right after its commit (written)`
  }
}

/**
 * What `crash` arms: a crash `when` (before or after) the `commit`-th commit from now that `match`
 * accepts (every commit, by default).
 *
 * @since 0.1.0
 * @category models
 */
export interface CrashOptions {
  readonly when: "before" | "after"
  /** which matching commit, counted from now: 1 (the next one) by default */
  readonly commit?: number | undefined
  /** which commits count: all of them by default (the run, its changed steps, its new events) */
  readonly match?: ((commit: Commit) => boolean) | undefined
}

/**
 * A fault that the layer injected, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type Injected =
  | { readonly _tag: "Failure"; readonly operation: Operation; readonly call: number }
  | { readonly _tag: "Crash"; readonly runId: string; readonly when: "before" | "after" }

/**
 * The controls of the faulty repository.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The `nth` call (1 by default) of `operation` from now fails, once. */
  readonly failAt: (operation: Operation, options?: { readonly nth?: number | undefined }) => Effect.Effect<void>
  /**
   * Each call of the write operations (or of `operations`) fails with probability `rate`, drawn from
   * a generator seeded with `seed` (1 by default), until `clear`.
   */
  readonly failWrites: (options: {
    readonly rate: number
    readonly seed?: number | undefined
    readonly operations?: ReadonlyArray<Operation> | undefined
  }) => Effect.Effect<void>
  /** Arm a crash at a commit (see `CrashOptions`); it fires once. */
  readonly crash: (options: CrashOptions) => Effect.Effect<void>
  /** Disarm every fault (crashed runs stay as they were left). */
  readonly clear: Effect.Effect<void>
  /** The faults injected so far, in order. */
  readonly injected: Effect.Effect<ReadonlyArray<Injected>>
}

/**
 * The tag of the faulty repository's controls.
 *
 * @since 0.1.0
 * @category tags
 */
export class Faults extends Context.Tag("prorch/TestRepository/Faults")<Faults, Service>() {}

/** mulberry32: a small seeded generator of numbers in [0, 1) */
const generator = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Wrap a repository: its operations, with the faults that the returned controls arm.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (base: Repository.Service): { readonly repository: Repository.Service; readonly faults: Service } => {
  const calls = new Map<Operation, number>()
  const failAt = new Map<Operation, Array<number>>()
  let rate: { readonly random: () => number; readonly rate: number; readonly operations: ReadonlySet<Operation> } | undefined
  const crashes: Array<{ readonly options: CrashOptions; remaining: number }> = []
  /** runs whose tick "died": their lease is left as a dead process leaves it */
  const crashed = new Set<string>()
  const injected: Array<Injected> = []

  /** count the call; the injected failure it gets, if any */
  const failure = (operation: Operation): RepositoryError | undefined => {
    const call = (calls.get(operation) ?? 0) + 1
    calls.set(operation, call)
    const at = failAt.get(operation)
    const index = at === undefined ? -1 : at.indexOf(call)
    const fails = index >= 0 || (rate !== undefined && rate.operations.has(operation) && rate.random() < rate.rate)
    if (index >= 0) at!.splice(index, 1)
    if (!fails) return undefined
    injected.push({ _tag: "Failure", operation, call })
    return new RepositoryError({ operation, cause: new InjectedFailure({ operation, call }) })
  }

  const guard = <A, E>(operation: Operation, effect: () => Effect.Effect<A, E>): Effect.Effect<A, E | RepositoryError> =>
    Effect.suspend((): Effect.Effect<A, E | RepositoryError> => {
      const error = failure(operation)
      return error === undefined ? effect() : Effect.fail(error)
    })

  /** the armed crash that this commit fires, if any */
  const crashFor = (commit: Commit): "before" | "after" | undefined => {
    for (let i = 0; i < crashes.length; i++) {
      const armed = crashes[i]
      if (armed.options.match !== undefined && !armed.options.match(commit)) continue
      armed.remaining--
      if (armed.remaining > 0) continue
      crashes.splice(i, 1)
      return armed.options.when
    }
    return undefined
  }

  const crash = (runId: string, when: "before" | "after") => {
    crashed.add(runId)
    injected.push({ _tag: "Crash", runId, when })
    return Effect.fail(new RepositoryError({ operation: "commit", cause: new SimulatedCrash({ runId, when }) }))
  }

  const repository: Repository.Service = {
    create: (snapshot, events) => guard("create", () => base.create(snapshot, events)),
    load: (runId) => guard("load", () => base.load(runId)),
    commit: (commit) =>
      guard("commit", () => {
        const runId = commit.run.uuid
        const when = crashFor(commit)
        if (when === "before") return crash(runId, when)
        // a commit of the run (a claim of it by `tick`, say) means someone took it over
        crashed.delete(runId)
        const written = base.commit(commit)
        return when === "after" ? Effect.zipRight(written, crash(runId, when)) : written
      }),
    claim: (options) =>
      guard("claim", () =>
        Effect.tap(base.claim(options), (result) =>
          Effect.sync(() => {
            for (const claimed of result.claimed) crashed.delete(claimed.snapshot.run.uuid)
          })
        )),
    dueElsewhere: (options) => guard("dueElsewhere", () => base.dueElsewhere(options)),
    nextWakeAt: (options) => guard("nextWakeAt", () => base.nextWakeAt(options)),
    // a dead process renews nothing and releases nothing
    renew: (options) => guard("renew", () => crashed.has(options.runId) ? Effect.succeed(false) : base.renew(options)),
    release: (options) => guard("release", () => crashed.has(options.runId) ? Effect.void : base.release(options)),
    list: (filter) => guard("list", () => base.list(filter)),
    history: (runId) => guard("history", () => base.history(runId)),
    signal: (signal, event, wake) => guard("signal", () => base.signal(signal, event, wake)),
    wakeups: base.wakeups
  }

  const faults: Service = {
    failAt: (operation, options) =>
      Effect.sync(() => {
        const at = failAt.get(operation) ?? []
        at.push((calls.get(operation) ?? 0) + Math.max(1, options?.nth ?? 1))
        failAt.set(operation, at)
      }),
    failWrites: (options) =>
      Effect.sync(() => {
        rate = {
          random: generator(options.seed ?? 1),
          rate: options.rate,
          operations: new Set(options.operations ?? writes)
        }
      }),
    crash: (options) => Effect.sync(() => void crashes.push({ options, remaining: Math.max(1, options.commit ?? 1) })),
    clear: Effect.sync(() => {
      failAt.clear()
      rate = undefined
      crashes.length = 0
    }),
    injected: Effect.sync(() => injected.slice())
  }
  return { repository, faults }
}

/**
 * The faulty repository over another repository layer (`Repository.layerMemory` by default), with
 * its controls. Nothing is injected until a control says so.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E = never, R = never>(
  base?: Layer.Layer<Repository.Repository, E, R>
): Layer.Layer<Repository.Repository | Faults, E, R> =>
  Layer.effectContext(
    Effect.map(Repository.Repository, (service) => {
      const { faults, repository } = make(service)
      return Context.make(Repository.Repository, repository).pipe(Context.add(Faults, faults))
    })
  ).pipe(Layer.provide((base ?? Repository.layerMemory) as Layer.Layer<Repository.Repository, E, R>))

/**
 * The `nth` call (1 by default) of `operation` from now fails with a `RepositoryError` (cause:
 * `InjectedFailure`), once; nothing is written.
 *
 * @since 0.1.0
 * @category accessors
 */
export const failAt = (operation: Operation, options?: { readonly nth?: number | undefined }): Effect.Effect<void, never, Faults> =>
  Effect.flatMap(Faults, (faults) => faults.failAt(operation, options))

/**
 * Each write fails with probability `rate`, from a generator seeded with `seed`, until `clear`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const failWrites = (options: Parameters<Service["failWrites"]>[0]): Effect.Effect<void, never, Faults> =>
  Effect.flatMap(Faults, (faults) => faults.failWrites(options))

/**
 * Arm a crash before or after a commit: the tick stops there as a killed worker's would.
 *
 * @example
 * ```ts
 * // the tick dies right after the commit that finishes step "Charge"
 * yield* TestRepository.crash({
 *   when: "after",
 *   match: (commit) => commit.steps.some((s) => s.name === "Charge" && s.status === "finished")
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const crash = (options: CrashOptions): Effect.Effect<void, never, Faults> =>
  Effect.flatMap(Faults, (faults) => faults.crash(options))

/**
 * Disarm every fault.
 *
 * @since 0.1.0
 * @category accessors
 */
export const clear: Effect.Effect<void, never, Faults> = Effect.flatMap(Faults, (faults) => faults.clear)

/**
 * The faults injected so far, in order.
 *
 * @since 0.1.0
 * @category accessors
 */
export const injected: Effect.Effect<ReadonlyArray<Injected>, never, Faults> = Effect.flatMap(
  Faults,
  (faults) => faults.injected
)
