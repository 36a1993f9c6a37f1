/**
 * @internal the runtime's shared context: compiled definitions, leases, wake-ups, waiters
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { CorruptRecord, RepositoryError, RunNotFound, UnknownPipeline } from "../Errors.js"
import type * as Orchestrator from "../Orchestrator.js"
import * as Interpreter from "../Interpreter.js"
import * as Repository from "../Repository.js"
import type { Snapshot } from "../Run.js"
import type * as Children from "./children.js"

/** the lease of a tick in flight: kept by the lease keeper, moved on by the tick's commits */
export interface Lease {
  revision: number
  expiresAt: number
  /**
   * the revision that the tick's last commit writes: above `revision` while that commit is on its
   * way, when a renewal refused proves nothing (the commit may have landed and moved the revision on
   * before its reply came back). A failed commit ends the tick, so it is never reset
   */
  committing: number
  lost: boolean
  /** lost to a `cancel` of this process: the tick ends quietly, the run being cancelled */
  cancelled: boolean
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}


/** @internal a registered pipeline, as the interpreter reads it */
export type Compiled = Interpreter.Definition

/** @internal */
export type CompiledStep = Interpreter.StepDefinition

/** @internal */
export const compile = Interpreter.define

const defaultOwner = () => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`

/**
 * @internal what the parts of the runtime share: the orchestrator's identity and options, its
 * registry and repository, the leases of the ticks in flight, the waiters and the wake-ups
 */
export interface Runtime {
  readonly owner: string
  readonly leaseMillis: number
  readonly awaitMillis: number
  readonly names: ReadonlyArray<string>
  readonly registry: ReadonlyMap<string, Compiled>
  readonly repository: Repository.Service
  readonly provideServices: <A, E>(effect: Effect.Effect<A, E, any>) => Effect.Effect<A, E>
  readonly ended: Map<string, Array<Deferred.Deferred<void>>>
  readonly held: Map<string, Lease>
  readonly wakeups: Set<(at?: number) => void>
  /** tell this process's workers that a run is due: now, or at `at` (epoch milliseconds) */
  readonly wake: (at?: number) => void
  readonly notifyEnded: (runId: string) => void
  readonly lookup: (runId: string | undefined, name: string) => Either.Either<Compiled, UnknownPipeline>
  readonly load: (runId: string) => Effect.Effect<Snapshot, RepositoryError | CorruptRecord | RunNotFound>
  /**
   * child runs: what child steps' handlers use, and what a run's end does for its parent (both set
   * once the orchestrator's parts are made)
   */
  readonly children: {
    service: Children.Service | undefined
    ended: (runId: string, key: string | null) => Effect.Effect<void>
  }
}

/** @internal */
export const make = (
  registry: ReadonlyMap<string, Compiled>,
  repository: Repository.Service,
  context: Context.Context<any>,
  options: Orchestrator.Options
): Runtime => {
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


  const load = (runId: string) =>
    Effect.flatMap(
      repository.load(runId),
      Option.match({
        onNone: () => Effect.fail(new RunNotFound({ runId })),
        onSome: Effect.succeed
      })
    )

  const children: Runtime["children"] = { service: undefined, ended: () => Effect.void }
  return { owner, leaseMillis, awaitMillis, names, registry, repository, provideServices, ended, held, wakeups, wake, notifyEnded, lookup, load, children }
}
