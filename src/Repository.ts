/**
 * The Repository service: the only way the orchestrator touches storage.
 *
 * Its operations are whole-run and atomic: `create` writes a run with all its steps in one write;
 * `load` reads a run with its steps; `commit` writes a run's new state (run, changed steps,
 * history events) guarded by the revision that was loaded; `claim` finds the runs that are due, in
 * order, through an index, with a limit, and leases them to a worker. The rest serves the runtime
 * and management: lease renewal and release, listing, history and signals.
 *
 * Built-in layers: `Repository.layerMemory` (tests), `SqliteRepository.layer` (the embedded
 * default), `PgRepository.layer` (many workers on many machines), and `Repository.layerCrud`,
 * which builds the whole service from the four operations of the Python original.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { CorruptRecord, RepositoryError, VersionConflict } from "./Errors.js"
import type { Commit, HistoryEvent, RunRecord, SignalRecord, Snapshot, Status } from "./Run.js"
import * as Crud from "./internal/crud.js"
import * as Memory from "./internal/memory.js"

/**
 * A position in the order of due runs (`wake_at`, then `uuid`): a pass claims the runs after the
 * last one it claimed, so that a run that it ticked and that is due again is left for the next
 * pass.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cursor {
  readonly wakeAt: number
  readonly uuid: string
}

/**
 * What `claim` looks for: up to `limit` runs of the pipelines named in `names` that are due at
 * `now` (status `created` or `pending`, `wake_at <= now`, no live lease), after `after` in due
 * order. Each is leased to `owner` until `leaseExpiresAt` and its revision grows by one.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimOptions {
  readonly owner: string
  readonly now: number
  readonly leaseExpiresAt: number
  readonly limit: number
  readonly names: ReadonlyArray<string>
  readonly after: Cursor | undefined
}

/**
 * A claimed run. `previousOwner` is the worker whose lease had expired when this one took the
 * run (the orchestrator records it as a `lease_lost` event), or `null`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Claimed {
  readonly snapshot: Snapshot
  readonly previousOwner: string | null
}

/**
 * The result of a claim: the runs leased (in due order), the leased runs whose records do not
 * decode (their lease runs out by itself, which spaces out the next attempt), and the cursor to
 * claim after.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimResult {
  readonly claimed: ReadonlyArray<Claimed>
  readonly corrupt: ReadonlyArray<CorruptRecord>
  readonly cursor: Cursor | undefined
}

/**
 * The result of `create`: the run was written, or a run with the same pipeline name and
 * idempotency key already exists (nothing was written).
 *
 * @since 0.1.0
 * @category models
 */
export type CreateResult =
  | { readonly _tag: "Created" }
  | { readonly _tag: "Existing"; readonly runId: string }

/**
 * A filter for `list`: pipeline names, statuses, a creation time range (`createdFrom` inclusive,
 * `createdTo` exclusive, epoch milliseconds), a page size and the cursor of the previous page.
 * Runs come newest first.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListFilter {
  readonly names?: ReadonlyArray<string> | undefined
  readonly statuses?: ReadonlyArray<Status> | undefined
  readonly createdFrom?: number | undefined
  readonly createdTo?: number | undefined
  /** only runs whose idempotency key starts with this (the children of a run: `child` steps' keys) */
  readonly keyPrefix?: string | undefined
  readonly limit: number
  readonly before?: { readonly createdAt: number; readonly uuid: string } | undefined
}

/**
 * A page of `list`: the runs that decode, the stored runs of the page that do not (reported beside
 * them, as a claim reports them), and the position of the page's last row, decoded or not, after
 * which the next page starts. `rows` counts both kinds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListResult {
  readonly runs: ReadonlyArray<RunRecord>
  readonly corrupt: ReadonlyArray<CorruptRecord>
  readonly rows: number
  readonly last: { readonly createdAt: number; readonly uuid: string } | undefined
}

/**
 * A history event with its position in the run's log.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoggedEvent extends HistoryEvent {
  readonly seq: number
}

/**
 * The operations of the Repository service. Every operation fails with a typed
 * `RepositoryError` when the storage fails, never with a defect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Write a new run with all its step records and its first history events, in one write. With
   * an idempotency key already used by a run of the same pipeline, write nothing and return
   * that run's id.
   */
  readonly create: (snapshot: Snapshot, events: ReadonlyArray<HistoryEvent>) => Effect.Effect<
    CreateResult,
    RepositoryError
  >
  /** Read a run with its steps (in order) and its signals not yet handed to a step. */
  readonly load: (runId: string) => Effect.Effect<Option.Option<Snapshot>, RepositoryError | CorruptRecord>
  /**
   * Write a run's new state atomically, if its revision is still `commit.expectedRevision`
   * (else `VersionConflict`, and nothing is written). Marks the consumed signals; if signals
   * arrived since the run was loaded, the run is due at once.
   */
  readonly commit: (commit: Commit) => Effect.Effect<void, RepositoryError | VersionConflict>
  /** Atomically lease up to `limit` due runs to a worker, in due order, through an index. */
  readonly claim: (options: ClaimOptions) => Effect.Effect<ClaimResult, RepositoryError>
  /** Due runs of pipelines not in `names` (to report them), the first `limit` in due order. */
  readonly dueElsewhere: (options: {
    readonly now: number
    readonly names: ReadonlyArray<string>
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<{ readonly uuid: string; readonly name: string }>, RepositoryError>
  /** The earliest `wake_at` after `now` among active runs of the named pipelines. */
  readonly nextWakeAt: (options: {
    readonly now: number
    readonly names: ReadonlyArray<string>
  }) => Effect.Effect<Option.Option<number>, RepositoryError>
  /** Extend a lease that `owner` still holds at `revision`; `false` if it holds it no more. */
  readonly renew: (options: {
    readonly runId: string
    readonly owner: string
    readonly revision: number
    readonly leaseExpiresAt: number
  }) => Effect.Effect<boolean, RepositoryError>
  /** Give up a lease that `owner` holds at `revision` (no-op otherwise). */
  readonly release: (options: {
    readonly runId: string
    readonly owner: string
    readonly revision: number
  }) => Effect.Effect<void, RepositoryError>
  /**
   * Runs matching a filter, newest first, without their steps. A stored run that does not decode is
   * reported in `corrupt`, beside the others, never failing the page.
   */
  readonly list: (filter: ListFilter) => Effect.Effect<ListResult, RepositoryError>
  /** A run's history, in order. */
  readonly history: (runId: string) => Effect.Effect<ReadonlyArray<LoggedEvent>, RepositoryError>
  /**
   * Store a signal for a step of a run that has not ended, count it on the run, append the
   * `signalled` event and, with `wake` (the signal is for the run's current step), make the run
   * due at once, atomically. `false` if the run has ended or does not exist (nothing is written).
   */
  readonly signal: (
    signal: SignalRecord,
    event: HistoryEvent,
    wake: boolean
  ) => Effect.Effect<boolean, RepositoryError>
  /**
   * Optional: cancel a run whose stored records do not decode, without decoding them (an operator's
   * way out, `Orchestrator.cancel`): unless it has ended, the run becomes `cancelled` with `reason`
   * as its error, its lease is dropped, its revision grows by one, its first step that has not ended
   * becomes `cancelled` too, and `events` are appended. `false` when the run does not exist or has
   * ended (nothing is written). A store without it cannot cancel such runs.
   */
  readonly cancelUndecodable?: ((options: {
    readonly runId: string
    readonly reason: string
    readonly now: number
    readonly events: ReadonlyArray<HistoryEvent>
  }) => Effect.Effect<boolean, RepositoryError>) | undefined
  /**
   * Optional: times (epoch milliseconds) at which runs become due, pushed by the storage (the
   * PostgreSQL layer listens to NOTIFY). Idle workers wake for them; polling is the fallback.
   * The stream may end or fail when the connection breaks; workers subscribe again.
   */
  readonly wakeups?: Stream.Stream<number, RepositoryError> | undefined
}

/**
 * The Repository service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Repository extends Context.Tag("prorch/Repository")<Repository, Service>() {}

/**
 * Build the service from its operations (for a custom store that implements the whole contract
 * itself; most custom stores are better served by `layerCrud`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (service: Service): Service => service

/**
 * An in-memory repository with the same semantics as the SQL ones: atomic operations, revision
 * checks, leases. It keeps the ids of the runs that have not ended in a set; the due query scans
 * that set and sorts the due runs on every claim, so its cost grows with the runs that have not
 * ended. For tests, and for pipelines that need no durability. Each layer build is a fresh, empty
 * store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Repository> = Layer.sync(Repository, Memory.make)

/**
 * The collections that `layerCrud` reads and writes: the original's two (`pipelines`,
 * `pipeline_steps`), plus the history and the signals of the runtime.
 *
 * @since 0.1.0
 * @category models
 */
export type Collection = "pipelines" | "pipeline_steps" | "pipeline_history" | "pipeline_signals"

/**
 * The four-operation contract of the Python original's `IRepository`, over collections of
 * JSON-compatible records that have a `uuid` field:
 *
 * - `get(collection, uuid)`: the record with that uuid, or `undefined`/`null`;
 * - `save(collection, data)`: insert a record;
 * - `update(collection, uuid, data)`: replace the fields of the record with that uuid;
 * - `search(collection, [field, value])`: the records whose `field` equals `value`.
 *
 * Any error type is accepted; it becomes a `RepositoryError`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CrudStore<E = unknown, R = never> {
  readonly get: (
    collection: Collection,
    uuid: string
  ) => Effect.Effect<Readonly<Record<string, unknown>> | null | undefined, E, R>
  readonly save: (collection: Collection, data: Readonly<Record<string, unknown>>) => Effect.Effect<unknown, E, R>
  readonly update: (
    collection: Collection,
    uuid: string,
    data: Readonly<Record<string, unknown>>
  ) => Effect.Effect<unknown, E, R>
  readonly search: (
    collection: Collection,
    filter: readonly [field: string, value: unknown]
  ) => Effect.Effect<ReadonlyArray<Readonly<Record<string, unknown>>>, E, R>
}

/**
 * The whole Repository service built from the original's four operations (`get`, `save`,
 * `update`, `search`).
 *
 * What it cannot guarantee, because four such operations cannot express it:
 * - atomicity across records: a commit is several writes (the run, then its steps, then the
 *   history); a crash between them leaves a partly written change, and the revision check is a
 *   read followed by a write, not one conditional write;
 * - several workers (or processes) at once: two workers can claim the same run. Run one
 *   orchestrator per store, or use the SQLite or PostgreSQL layers;
 * - an indexed due query: finding due runs is `search` by status, filtered in memory, so its
 *   cost grows with the runs that have not ended.
 *
 * @example
 * ```ts
 * const store = new Map<string, Map<string, Record<string, unknown>>>()
 * const table = (name: string) => store.get(name) ?? store.set(name, new Map()).get(name)!
 * const RepositoryLive = Repository.layerCrud({
 *   get: (collection, uuid) => Effect.sync(() => table(collection).get(uuid)),
 *   save: (collection, data) => Effect.sync(() => table(collection).set(String(data.uuid), data)),
 *   update: (collection, uuid, data) => Effect.sync(() => table(collection).set(uuid, { ...table(collection).get(uuid), ...data })),
 *   search: (collection, [field, value]) => Effect.sync(() => [...table(collection).values()].filter((r) => r[field] === value))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCrud = <E, R>(store: CrudStore<E, R>): Layer.Layer<Repository, never, R> =>
  Layer.effect(
    Repository,
    Effect.map(Effect.context<R>(), (context) => Crud.make(store, context))
  )
