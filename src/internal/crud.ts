import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CorruptRecord, RepositoryError, VersionConflict } from "../Errors.js"
import type * as Repository from "../Repository.js"
import type { CrudStore } from "../Repository.js"
import { HistoryEvent, isTerminal, RunRecord, SignalRecord, Status, StepRecord } from "../Run.js"
import { corruptRow } from "./corrupt.js"
import { afterCursor, byDueOrder, committed, cursorOf, firstDue, isDue, leased, listed, newest, signalled } from "./rules.js"

const decodeRecord = Schema.decodeUnknownEither(RunRecord)
/** a run record; one saved before `version` became `revision` (prorch 0.1) reads as it was meant */
const decodeRun = (row: Readonly<Record<string, unknown>>) =>
  decodeRecord(row.revision === undefined && row.version !== undefined ? { ...row, revision: row.version } : row)
const decodeStep = Schema.decodeUnknownEither(StepRecord)
const decodeSignal = Schema.decodeUnknownEither(SignalRecord)
const decodeEvent = Schema.decodeUnknownEither(Schema.extend(HistoryEvent, Schema.Struct({ seq: Schema.Number })))

/** @internal */
export const make = <E, R>(store: CrudStore<E, R>, context: Context.Context<R>): Repository.Service => {
  const call = <A>(operation: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, RepositoryError> =>
    effect.pipe(
      Effect.provide(context),
      Effect.catchAllCause((cause) => Effect.fail(new RepositoryError({ operation, cause: Cause.squash(cause) })))
    )

  const steps = (runId: string) =>
    call("search pipeline_steps", store.search("pipeline_steps", ["pipeline_uuid", runId])).pipe(
      Effect.flatMap((rows) => {
        const decoded: Array<StepRecord> = []
        for (const row of rows) {
          const step = decodeStep(row)
          if (Either.isLeft(step)) return Effect.fail(corruptRow(runId, "a step record", row, step.left))
          decoded.push(step.right)
        }
        return Effect.succeed(decoded.sort((a, b) => a.position - b.position))
      })
    )

  const pendingSignals = (run: RunRecord) =>
    run.pending_signals === 0 ? Effect.succeed([]) : call(
      "search pipeline_signals",
      store.search("pipeline_signals", ["run_uuid", run.uuid])
    ).pipe(
      Effect.flatMap((rows) => {
        const decoded: Array<SignalRecord> = []
        for (const row of rows) {
          if (row.consumed_at !== null && row.consumed_at !== undefined) continue
          const signal = decodeSignal(row)
          if (Either.isLeft(signal)) return Effect.fail(corruptRow(run.uuid, "a signal record", row, signal.left))
          decoded.push(signal.right)
        }
        return Effect.succeed(decoded.sort((a, b) => a.created_at - b.created_at))
      })
    )

  const snapshotOf = (run: RunRecord) =>
    Effect.all({ run: Effect.succeed(run), steps: steps(run.uuid), signals: pendingSignals(run) })

  const getRun = (runId: string) =>
    call("get pipelines", store.get("pipelines", runId)).pipe(
      Effect.flatMap((row) => {
        if (row === undefined || row === null) return Effect.succeed(Option.none<RunRecord>())
        const run = decodeRun(row)
        return Either.isLeft(run)
          ? Effect.fail(corruptRow(runId, "the run record", row, run.left))
          : Effect.succeed(Option.some(run.right))
      })
    )

  const nextSeq = (runId: string) =>
    call("search pipeline_history", store.search("pipeline_history", ["run_uuid", runId])).pipe(
      Effect.map((rows) => rows.reduce((max, row) => Math.max(max, typeof row.seq === "number" ? row.seq : 0), 0))
    )

  const append = (events: ReadonlyArray<HistoryEvent>) => {
    if (events.length === 0) return Effect.void
    return Effect.flatMap(nextSeq(events[0].run_uuid), (last) =>
      Effect.forEach(
        events,
        (event, i) =>
          call(
            "save pipeline_history",
            store.save("pipeline_history", {
              uuid: `${event.run_uuid}:${last + i + 1}`,
              seq: last + i + 1,
              ...event
            })
          ),
        { discard: true }
      ))
  }

  const active = call("search pipelines", store.search("pipelines", ["status", "created"])).pipe(
    Effect.zipWith(
      call("search pipelines", store.search("pipelines", ["status", "pending"])),
      (created, pending) => [...created, ...pending]
    )
  )

  const writeRun = (operation: string, run: RunRecord) =>
    call(operation, store.update("pipelines", run.uuid, run as unknown as Record<string, unknown>))

  return {
    create: (snapshot, events) =>
      Effect.gen(function*() {
        const { run } = snapshot
        if (run.idempotency_key !== null) {
          const same = yield* call(
            "search pipelines",
            store.search("pipelines", ["idempotency_key", run.idempotency_key])
          )
          const existing = same.find((row) => row.name === run.name)
          if (existing !== undefined) return { _tag: "Existing", runId: String(existing.uuid) } as const
        }
        yield* call("save pipelines", store.save("pipelines", run as unknown as Record<string, unknown>))
        for (const step of snapshot.steps) {
          yield* call("save pipeline_steps", store.save("pipeline_steps", step as unknown as Record<string, unknown>))
        }
        yield* append(events)
        return { _tag: "Created" } as const
      }),

    load: (runId) =>
      getRun(runId).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed(Option.none()),
          onSome: (run) => Effect.map(snapshotOf(run), Option.some)
        }))
      ),

    commit: (commit) =>
      Effect.gen(function*() {
        const current = yield* getRun(commit.run.uuid).pipe(
          Effect.catchTag("CorruptRecord", () => Effect.succeed(Option.none<RunRecord>()))
        )
        if (Option.isNone(current) || current.value.revision !== commit.expectedRevision) {
          return yield* new VersionConflict({
            runId: commit.run.uuid,
            expected: commit.expectedRevision,
            actual: Option.isSome(current) ? current.value.revision : undefined
          })
        }
        yield* writeRun("update pipelines", committed(current.value, commit.run, commit.consumedSignals.length))
        for (const step of commit.added ?? []) {
          yield* call("save pipeline_steps", store.save("pipeline_steps", step as unknown as Record<string, unknown>))
        }
        for (const step of commit.steps) {
          yield* call(
            "update pipeline_steps",
            store.update("pipeline_steps", step.uuid, step as unknown as Record<string, unknown>)
          )
        }
        for (const id of commit.consumedSignals) {
          yield* call(
            "update pipeline_signals",
            store.update("pipeline_signals", id, { consumed_at: commit.run.updated_at })
          )
        }
        yield* append(commit.events)
      }),

    claim: (options) =>
      Effect.gen(function*() {
        const names = new Set(options.names)
        const rows = yield* active
        const due: Array<RunRecord> = []
        const corrupt: Array<CorruptRecord> = []
        for (const row of rows) {
          const run = decodeRun(row)
          if (Either.isLeft(run)) {
            if (typeof row.name === "string" && names.has(row.name)) {
              corrupt.push(new CorruptRecord({
                runId: String(row.uuid),
                detail: `the run record: ${ParseResult.TreeFormatter.formatErrorSync(run.left)}`
              }))
            }
            continue
          }
          if (names.has(run.right.name) && isDue(run.right, options.now) && afterCursor(run.right, options.after)) {
            due.push(run.right)
          }
        }
        due.sort(byDueOrder)
        const picked = due.slice(0, options.limit)
        const claimed: Array<Repository.Claimed> = []
        for (const run of picked) {
          const taken = leased(run, options.owner, options.leaseExpiresAt)
          yield* writeRun("update pipelines", taken)
          const snapshot = yield* snapshotOf(taken).pipe(Effect.either)
          if (Either.isLeft(snapshot)) {
            if (snapshot.left._tag === "CorruptRecord") corrupt.push(snapshot.left)
            else return yield* snapshot.left
          } else {
            claimed.push({ snapshot: snapshot.right, previousOwner: run.lease_owner })
          }
        }
        return { claimed, corrupt, cursor: cursorOf(picked, options.after) }
      }),

    dueElsewhere: (options) =>
      Effect.map(active, (rows) => {
        const names = new Set(options.names)
        const found: Array<RunRecord> = []
        for (const row of rows) {
          const run = decodeRun(row)
          if (Either.isRight(run) && !names.has(run.right.name) && isDue(run.right, options.now)) found.push(run.right)
        }
        return firstDue(found, options.limit)
      }),

    nextWakeAt: (options) =>
      Effect.map(active, (rows) => {
        const names = new Set(options.names)
        let next: number | undefined
        for (const row of rows) {
          const run = decodeRun(row)
          if (
            Either.isRight(run) && names.has(run.right.name) && run.right.wake_at > options.now &&
            (next === undefined || run.right.wake_at < next)
          ) next = run.right.wake_at
        }
        return Option.fromNullable(next)
      }),

    renew: (options) =>
      Effect.gen(function*() {
        const run = yield* getRun(options.runId).pipe(Effect.orElseSucceed(() => Option.none<RunRecord>()))
        if (Option.isNone(run) || run.value.lease_owner !== options.owner || run.value.revision !== options.revision) {
          return false
        }
        yield* writeRun("update pipelines", { ...run.value, lease_expires_at: options.leaseExpiresAt })
        return true
      }),

    release: (options) =>
      Effect.gen(function*() {
        const run = yield* getRun(options.runId).pipe(Effect.orElseSucceed(() => Option.none<RunRecord>()))
        if (Option.isSome(run) && run.value.lease_owner === options.owner && run.value.revision === options.revision) {
          yield* writeRun("update pipelines", { ...run.value, lease_owner: null, lease_expires_at: null })
        }
      }),

    list: (filter) =>
      Effect.gen(function*() {
        const statuses = filter.statuses ?? Status.literals
        const rows: Array<Readonly<Record<string, unknown>>> = []
        for (const status of statuses) {
          rows.push(...(yield* call("search pipelines", store.search("pipelines", ["status", status]))))
        }
        // a row that does not decode is filtered and ordered by the raw fields it has
        const found: Array<{
          readonly created_at: number
          readonly uuid: string
          readonly decoded: Either.Either<RunRecord, ParseResult.ParseError>
          readonly row: unknown
        }> = []
        for (const row of rows) {
          const decoded = decodeRun(row)
          const key = Either.isRight(decoded)
            ? decoded.right
            : {
              name: String(row.name),
              status: row.status as Status,
              created_at: Number(row.created_at) || 0,
              uuid: String(row.uuid),
              idempotency_key: typeof row.idempotency_key === "string" ? row.idempotency_key : null
            }
          if (!listed(filter, key)) continue
          found.push({ created_at: key.created_at, uuid: key.uuid, decoded, row })
        }
        const page = found.sort(newest).slice(0, filter.limit)
        const runs: Array<RunRecord> = []
        const broken: Array<CorruptRecord> = []
        for (const entry of page) {
          if (Either.isRight(entry.decoded)) runs.push(entry.decoded.right)
          else broken.push(corruptRow(entry.uuid, "the run record", entry.row, entry.decoded.left))
        }
        const last = page[page.length - 1]
        return {
          runs,
          corrupt: broken,
          rows: page.length,
          last: last === undefined ? undefined : { createdAt: last.created_at, uuid: last.uuid }
        }
      }),

    history: (runId) =>
      call("search pipeline_history", store.search("pipeline_history", ["run_uuid", runId])).pipe(
        Effect.flatMap((rows) =>
          Effect.forEach(rows, (row) =>
            Either.match(decodeEvent(row), {
              onLeft: (error) =>
                Effect.fail(
                  new RepositoryError({
                    operation: "history",
                    cause: ParseResult.TreeFormatter.formatErrorSync(error)
                  })
                ),
              onRight: Effect.succeed
            }))
        ),
        Effect.map((events) => events.slice().sort((a, b) => a.seq - b.seq))
      ),

    cancelUndecodable: (options) =>
      Effect.gen(function*() {
        const row = yield* call("get pipelines", store.get("pipelines", options.runId))
        const ended = (status: unknown) => isTerminal(status as Status)
        if (row === undefined || row === null || ended(row.status)) return false
        const error = { message: options.reason, pretty: null, cause: null }
        const stored = typeof row.revision === "number" ? row.revision : typeof row.version === "number" ? row.version : 0
        const revision = stored + 1
        yield* call(
          "update pipelines",
          store.update("pipelines", options.runId, {
            status: "cancelled",
            error,
            lease_owner: null,
            lease_expires_at: null,
            revision,
            updated_at: options.now,
            ended_at: options.now
          })
        )
        const stepRows = yield* call("search pipeline_steps", store.search("pipeline_steps", ["pipeline_uuid", options.runId]))
        const current = stepRows
          .filter((step) => !ended(step.status))
          .sort((a, b) => Number(a.position) - Number(b.position))[0]
        if (current !== undefined) {
          yield* call(
            "update pipeline_steps",
            store.update("pipeline_steps", String(current.uuid), {
              status: "cancelled",
              error,
              updated_at: options.now,
              ended_at: options.now
            })
          )
        }
        yield* append(options.events)
        return true
      }),

    signal: (signal, event, wake) =>
      Effect.gen(function*() {
        const run = yield* getRun(signal.run_uuid).pipe(Effect.orElseSucceed(() => Option.none<RunRecord>()))
        if (Option.isNone(run) || isTerminal(run.value.status)) return false
        yield* call("save pipeline_signals", store.save("pipeline_signals", { uuid: signal.id, ...signal, consumed_at: null }))
        yield* writeRun("update pipelines", signalled(run.value, signal.created_at, wake))
        yield* append([event])
        return true
      })
  }
}
