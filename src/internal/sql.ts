/**
 * @internal the SQL repository's operations over a SqlClient, for both dialects; what they build
 * on is in `./sql/`: the dialects and shared statements (`dialect.ts`), rows and statement
 * parameters (`rows.ts`), connections and transactions (`connection.ts`), migrations
 * (`migrations.ts`)
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import { CorruptRecord, RepositoryError, VersionConflict } from "../Errors.js"
import type * as Repository from "../Repository.js"
import type { Commit, HistoryEvent, RunRecord, SignalRecord, Snapshot } from "../Run.js"
import { cursorOf } from "./rules.js"
import { inTransaction, type Lock, retrying } from "./sql/connection.js"
import { type Dialect, type Exec, nextWakeQuery, notifyWindow, type Tables, tuple, values } from "./sql/dialect.js"
import {
  decodeEventRow,
  decodeRun,
  decodeSignals,
  decodeSteps,
  describe,
  json,
  pushChangedStep,
  pushEvents,
  pushRun,
  pushSteps
} from "./sql/rows.js"

export * from "./sql/connection.js"
export * from "./sql/dialect.js"
export * from "./sql/migrations.js"
export * from "./sql/rows.js"

/**
 * @internal the SQL repository over a SqlClient, for a dialect and a set of tables. With
 * `connection`, a connection that the repository holds for its whole life (SQLite, when the client
 * is its own), transactions take it through a lock of their own instead of reserving it each time.
 */
export const make = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  tables: Tables,
  connection?: {
    readonly conn: SqlConnection.Connection
    /** one transaction at a time on it (`makeLock`) */
    readonly lock: Lock
    /** whether concurrent creates and commits share transactions (group commit) */
    readonly groupCommit: boolean
  }
): Repository.Service => {
  const { history, runs, signals, steps } = tables
  const identity = dialect.placeholders("?") === "?"
  const q = (() => {
    const cache = new Map<string, string>()
    return (text: string) => {
      if (identity) return text
      let compiled = cache.get(text)
      if (compiled === undefined) {
        compiled = dialect.placeholders(text)
        if (cache.size < 1000) cache.set(text, compiled)
      }
      return compiled
    }
  })()
  /** statements built once per shape: the same string every time (cheap to look up in caches) */
  const memo = <K>(build: (key: K) => string) => {
    const cache = new Map<K, string>()
    return (key: K) => {
      let sql = cache.get(key)
      if (sql === undefined) {
        sql = build(key)
        cache.set(key, sql)
      }
      return sql
    }
  }

  const execOn = (conn: SqlConnection.Connection): Exec => (text, params = []) => conn.execute(q(text), params, undefined)
  const held = connection === undefined ? undefined : { lock: connection.lock, exec: execOn(connection.conn) }

  /**
   * Run `use` on a connection: the one the repository holds (behind its lock), or one reserved
   * from the client for the while. Its failures are mapped by `retrying`, around it.
   */
  const withConnection = <A, E>(use: (exec: Exec) => Effect.Effect<A, E>): Effect.Effect<A, E | SqlError> =>
    held !== undefined
      ? held.lock(use(held.exec))
      : Effect.scoped(Effect.flatMap(sql.reserve, (conn) => use(execOn(conn))))

  /** one transaction; SQLite writes take the write lock up front */
  const transaction = <A, E>(
    begin: string,
    body: (exec: Exec) => Effect.Effect<A, E>
  ): Effect.Effect<A, E | SqlError> =>
    Effect.uninterruptibleMask((restore) =>
      held === undefined
        ? withConnection((exec) => inTransaction(exec, begin, body, restore))
        // the held connection's lock, taken in the transaction's own uninterruptible region
        : held.lock.holding(inTransaction(held.exec, begin, body, restore))
    )

  const write = <A, E>(operation: string, body: (exec: Exec) => Effect.Effect<A, E>) =>
    retrying(dialect, operation, transaction(dialect.beginWrite, body))

  // --- group commit (a held connection): concurrent writes share one transaction ---------------
  //
  // The first write of a group lets the other fibers that are ready run first (they may have writes
  // to add), then runs every write waiting in one transaction: one fsync for all of them. A caller
  // returns when the transaction that holds its write has committed, so each write is as durable
  // when its call returns as it was alone. A write that fails with a `VersionConflict` wrote nothing
  // (the revision check is its first statement), so the others go on; any other failure rolls the
  // group back and its writes run again one by one, each with its own result.
  //
  // Letting the other fibers run costs a trip through the scheduler, which a lone writer (one run
  // at a time) would pay for nothing: a write only waits for company while the last group had some,
  // and one write in 16 looks for it.

  interface Queued {
    readonly operation: string
    readonly body: (exec: Exec) => Effect.Effect<unknown, unknown>
    readonly done: Deferred.Deferred<unknown, unknown>
  }
  const queue: Array<Queued> = []
  let forming = false
  let lastGroup = 1
  let alone = 0

  /** a failure of one write in a group, other than a conflict: the group is run again write by write */
  class Alone {
    constructor(readonly cause: Cause.Cause<unknown>) {}
  }

  const failureOf = (cause: Cause.Cause<unknown>): unknown => Option.getOrUndefined(Cause.failureOption(cause))

  /**
   * Run writes in one transaction; the exit of each, in order. A conflict is one write's own
   * result; any other failure of one runs them again one by one. A group of one is a plain write.
   */
  const runGroup = (
    group: ReadonlyArray<Queued>
  ): Effect.Effect<ReadonlyArray<Exit.Exit<unknown, unknown>>> => {
    if (group.length === 1) return Effect.map(Effect.exit(write(group[0].operation, group[0].body)), (exit) => [exit])
    let exits: Array<Exit.Exit<unknown, unknown>> = []
    const together = retrying(
      dialect,
      "commit",
      transaction(dialect.beginWrite, (exec) =>
        Effect.suspend(() => {
          exits = []
          return Effect.forEach(group, (item) =>
            Effect.flatMap(Effect.exit(item.body(exec)), (exit) => {
              if (Exit.isFailure(exit) && !(failureOf(exit.cause) instanceof VersionConflict)) {
                return Effect.fail(new Alone(exit.cause))
              }
              exits.push(exit)
              return Effect.void
            }), { discard: true })
        }))
    )
    return Effect.matchCauseEffect(together, {
      onSuccess: () => Effect.succeed(exits),
      onFailure: (cause) =>
        failureOf(cause) instanceof Alone
          ? Effect.forEach(group, (item) => Effect.exit(write(item.operation, item.body)))
          : Effect.succeed(group.map(() => Exit.failCause(cause)))
    })
  }

  /** run every write waiting as one group, in the current fiber, and hand each its result */
  const runQueued: Effect.Effect<void> = Effect.suspend(() => {
    const group = queue.splice(0, queue.length)
    lastGroup = group.length
    return Effect.flatMap(runGroup(group), (exits) =>
      Effect.zipRight(
        Effect.forEach(group, (item, i) => Deferred.done(item.done, exits[i]), { discard: true }),
        Effect.suspend(() => after(Exit.void))
      ))
  })

  /**
   * After a group (or a lone write, whose result is `exit`): the writes that arrived meanwhile
   * are the next group, run by a fiber of their own.
   */
  const after = <A, E>(exit: Exit.Exit<A, E>): Effect.Effect<A, E> => {
    if (queue.length === 0) {
      forming = false
      return exit
    }
    return Effect.zipRight(Effect.forkDaemon(runQueued), exit)
  }

  /** queue a write for the group forming; its result once that group has committed */
  const enqueue = <A, E>(operation: string, body: (exec: Exec) => Effect.Effect<A, E>) => {
    const done = Deferred.unsafeMake<unknown, unknown>(FiberId.none)
    queue.push({ operation, body, done })
    // the results handed over are mapped already (`runGroup` runs the writes through `retrying`)
    return Deferred.await(done) as Effect.Effect<A, Exclude<E, SqlError> | RepositoryError>
  }

  /** a write through the group commit, uninterruptible from the moment it is queued (as a transaction is) */
  const grouped = <A, E>(
    operation: string,
    body: (exec: Exec) => Effect.Effect<A, E>
  ): Effect.Effect<A, Exclude<E, SqlError> | RepositoryError> =>
    Effect.uninterruptible(Effect.suspend((): Effect.Effect<A, Exclude<E, SqlError> | RepositoryError> => {
      if (forming) return enqueue(operation, body)
      forming = true
      alone = (alone + 1) & 15
      if (lastGroup === 1 && alone !== 1) {
        // a lone writer: its own transaction, at once
        return Effect.matchCauseEffect(write(operation, body), {
          onFailure: (cause) => after(Exit.failCause(cause)),
          onSuccess: (value) => after(Exit.succeed(value))
        })
      }
      // this write starts a group: the fibers that are ready run first, and may join it
      const result = enqueue(operation, body)
      return Effect.zipRight(Effect.zipRight(Effect.yieldNow(), runQueued), result)
    }))
  const groupWrite = connection?.groupCommit === true ? grouped : write
  /** one statement (atomic by itself): no BEGIN and COMMIT */
  const single = <A, E>(operation: string, body: (exec: Exec) => Effect.Effect<A, E>) =>
    retrying(dialect, operation, withConnection(body))
  /** a read of one statement: no transaction needed (SQLite reads are cheap either way) */
  const readOne = <A, E>(operation: string, body: (exec: Exec) => Effect.Effect<A, E>) =>
    dialect.singleStatements ? single(operation, body) : read(operation, body)

  const read = <A, E>(operation: string, body: (exec: Exec) => Effect.Effect<A, E>) =>
    retrying(dialect, operation, transaction(dialect.beginRead, body))

  const insertRun = `INSERT INTO ${runs} (uuid, name, status, metadata, input, idempotency_key, revision, wake_at, ` +
    `lease_owner, lease_expires_at, pending_signals, error, created_at, updated_at, ended_at, events) ` +
    `VALUES ${tuple(16)} ON CONFLICT DO NOTHING RETURNING uuid`
  /** how many added step records one INSERT writes (14 parameters each, under every dialect's limit) */
  const addedPage = 500
  const insertSteps = memo((n: number) =>
    `INSERT INTO ${steps} (uuid, pipeline_uuid, position, name, status, metadata, attempt, state, output, error, ` +
    `created_at, updated_at, started_at, ended_at) VALUES ${values(n, 14)}`
  )
  const insertEvents = memo((n: number) =>
    `INSERT INTO ${history} (run_uuid, seq, at, type, step, attempt, worker, data) VALUES ${values(n, 8)}`
  )
  const updateStep = `UPDATE ${steps} SET status = ?, metadata = ?, attempt = ?, state = ?, output = ?, error = ?, ` +
    `updated_at = ?, started_at = ?, ended_at = ? WHERE pipeline_uuid = ? AND position = ?`

  /**
   * The commit's UPDATE of the run: the columns that changed since the run was loaded (an
   * unchanged indexed column would still rewrite its index pages), always its revision, counters
   * and time; the wake-up time with the signals rule when the tick releases the run.
   */
  const updateRunSql = memo((columns: number) => {
    const set = ["revision = ?", "updated_at = ?", "pending_signals = pending_signals - ?", "events = events + ?"]
    if (columns & 1) set.push("status = ?")
    if (columns & 2) set.push("metadata = ?")
    // signals that arrived since the run was loaded make it due at once
    if (columns & 4) set.push("wake_at = CASE WHEN pending_signals > ? THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END")
    if (columns & 8) set.push("lease_owner = ?", "lease_expires_at = ?")
    if (columns & 16) set.push("error = ?")
    if (columns & 32) set.push("ended_at = ?")
    return `UPDATE ${runs} SET ${set.join(", ")} WHERE uuid = ? AND revision = ? RETURNING events`
  })
  /** the commit's UPDATE of the run and its parameters (a fresh array: callers append to it) */
  const updateRun = (commit: Commit): { readonly sql: string; readonly params: Array<unknown> } => {
    const { previous, run } = commit
    const params: Array<unknown> = [run.revision, run.updated_at, commit.consumedSignals.length, commit.events.length]
    let columns = 0
    if (previous === undefined || previous.status !== run.status) {
      columns |= 1
      params.push(run.status)
    }
    if (previous === undefined || previous.metadata.current_step !== run.metadata.current_step) {
      columns |= 2
      params.push(JSON.stringify(run.metadata))
    }
    if (run.lease_owner === null || previous === undefined || previous.wake_at !== run.wake_at) {
      columns |= 4
      params.push(run.pending_signals, Math.min(run.wake_at, run.updated_at), run.wake_at)
    }
    if (
      previous === undefined || previous.lease_owner !== run.lease_owner ||
      previous.lease_expires_at !== run.lease_expires_at
    ) {
      columns |= 8
      params.push(run.lease_owner, run.lease_expires_at)
    }
    if (previous === undefined || previous.error !== run.error) {
      columns |= 16
      params.push(json(run.error))
    }
    if (previous === undefined || previous.ended_at !== run.ended_at) {
      columns |= 32
      params.push(run.ended_at)
    }
    params.push(run.uuid, commit.expectedRevision)
    return { sql: updateRunSql(columns), params }
  }
  const selectSteps = `SELECT * FROM ${steps} WHERE pipeline_uuid = ? ORDER BY position`
  const consumeSignals = memo((n: number) => `UPDATE ${signals} SET consumed_at = ? WHERE id IN ${tuple(n)}`)
  const selectSignals = `SELECT id, run_uuid, step, payload, created_at FROM ${signals} ` +
    `WHERE run_uuid = ? AND consumed_at IS NULL ORDER BY created_at, id`

  /** append events whose run's counter is now `last`: their positions are the counter's last values */
  /** how many events one INSERT writes (8 parameters each, under every dialect's limit) */
  const eventsPage = 1000
  const appendEvents = (exec: Exec, events: ReadonlyArray<HistoryEvent>, last: number) =>
    events.length === 0
      ? Effect.void
      : events.length <= eventsPage
      ? exec(insertEvents(events.length), pushEvents([], events, last - events.length + 1))
      : Effect.forEach(
        Array.from({ length: Math.ceil(events.length / eventsPage) }, (_, k) => k * eventsPage),
        (at) => {
          const page = events.slice(at, at + eventsPage)
          return exec(insertEvents(page.length), pushEvents([], page, last - events.length + 1 + at))
        },
        { discard: true }
      )

  const signalsOf = (exec: Exec, run: RunRecord) =>
    run.pending_signals <= 0
      ? Effect.succeed([] as Array<SignalRecord>)
      : Effect.flatMap(exec(selectSignals, [run.uuid]), (rows) => decodeSignals(run.uuid, rows))

  const active = `status IN ('created', 'pending')`
  const namesNotIn = (names: ReadonlyArray<string>) =>
    names.length === 0 ? "1 = 1" : `name NOT IN ${tuple(names.length)}`

  /**
   * The run was not inserted: a run of the pipeline has its idempotency key (that run's id), or
   * it is there already because an earlier attempt of this write did commit and its reply was lost.
   */
  const notInserted = (exec: Exec, run: RunRecord) =>
    Effect.flatMap(
      exec(`SELECT uuid FROM ${runs} WHERE uuid = ? OR (name = ? AND idempotency_key = ?)`, [
        run.uuid,
        run.name,
        run.idempotency_key
      ]),
      (existing): Effect.Effect<Repository.CreateResult, RepositoryError> => {
        if (existing.length === 0) {
          return Effect.fail(new RepositoryError({ operation: "create", cause: `run ${run.uuid} could not be inserted` }))
        }
        if (existing.some((row) => String(row.uuid) === run.uuid)) return Effect.succeed({ _tag: "Created" })
        return Effect.succeed({ _tag: "Existing", runId: String(existing[0].uuid) })
      }
    )

  // --- PostgreSQL: each write in one statement (data-modifying CTEs), one round trip ---------

  const stepRow = "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS TEXT), " +
    "CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), " +
    "CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))"
  const eventRow = "(CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), " +
    "CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS TEXT))"
  const changedStepRow = "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS TEXT), " +
    "CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS INTEGER))"
  const rowsOf = (row: string, n: number) => Array.from({ length: n }, () => row).join(", ")
  const notifyColumn = dialect.notify === undefined ? "" : ", pg_notify(?, ?) AS notified"
  const channelOf = () => dialect.channel ?? ""

  const createStatement = memo((shape: string) => {
    const [steps_, events_, notifying] = shape.split(":").map(Number)
    return `WITH r AS (${insertRun}), ` +
      `s AS (INSERT INTO ${steps} (uuid, pipeline_uuid, position, name, status, metadata, attempt, state, output, error, ` +
      `created_at, updated_at, started_at, ended_at) SELECT * FROM (VALUES ${rowsOf(stepRow, steps_)}) AS v ` +
      `WHERE EXISTS (SELECT 1 FROM r)), ` +
      `h AS (INSERT INTO ${history} (run_uuid, seq, at, type, step, attempt, worker, data) ` +
      `SELECT * FROM (VALUES ${rowsOf(eventRow, events_)}) AS v WHERE EXISTS (SELECT 1 FROM r)) ` +
      `SELECT (SELECT uuid FROM r) AS inserted${notifying ? notifyColumn : ""}`
  })

  const commitStatement = memo((shape: string) => {
    const [update, steps_, consumed, events_, notifying] = shape.split("|")
    const parts = [`WITH r AS (${update})`]
    if (Number(steps_) > 0) {
      parts.push(
        `s AS (UPDATE ${steps} AS t SET status = v.status, metadata = v.metadata, attempt = v.attempt, ` +
          `state = v.state, output = v.output, error = v.error, updated_at = v.updated_at, ` +
          `started_at = v.started_at, ended_at = v.ended_at FROM (VALUES ${rowsOf(changedStepRow, Number(steps_))}) ` +
          `AS v(status, metadata, attempt, state, output, error, updated_at, started_at, ended_at, pipeline_uuid, ` +
          `position) WHERE t.pipeline_uuid = v.pipeline_uuid AND t.position = v.position AND EXISTS (SELECT 1 FROM r))`
      )
    }
    if (Number(consumed) > 0) {
      parts.push(
        `g AS (UPDATE ${signals} SET consumed_at = ? WHERE id IN ${tuple(Number(consumed))} ` +
          `AND EXISTS (SELECT 1 FROM r))`
      )
    }
    if (Number(events_) > 0) {
      parts.push(
        `h AS (INSERT INTO ${history} (run_uuid, seq, at, type, step, attempt, worker, data) ` +
          `SELECT v.run_uuid, (SELECT events FROM r) - ? + v.i, v.at, v.type, v.step, v.attempt, v.worker, v.data ` +
          `FROM (VALUES ${rowsOf(eventRow, Number(events_))}) AS v(run_uuid, i, at, type, step, attempt, worker, data) ` +
          `WHERE EXISTS (SELECT 1 FROM r))`
      )
    }
    return `${parts.join(", ")} SELECT (SELECT events FROM r) AS events, ` +
      `(SELECT revision FROM ${runs} WHERE uuid = ?) AS current${notifying === "1" ? notifyColumn : ""}`
  })

  const createInOne = (snapshot: Snapshot, events: ReadonlyArray<HistoryEvent>) =>
    single("create", (exec) =>
      Effect.gen(function*() {
        const { run } = snapshot
        const notifying = dialect.notify !== undefined && run.lease_owner === null &&
          run.wake_at - run.created_at <= notifyWindow
        const params = pushEvents(pushSteps(pushRun([], run, events.length), snapshot.steps), events, 1)
        if (notifying) params.push(channelOf(), String(run.wake_at))
        const rows = yield* exec(createStatement(`${snapshot.steps.length}:${events.length}:${notifying ? 1 : 0}`), params)
        if (rows[0]?.inserted !== null && rows[0]?.inserted !== undefined) return { _tag: "Created" } as const
        return yield* notInserted(exec, run)
      }))

  const commitInOne = (commit: Commit) =>
    single("commit", (exec) =>
      Effect.gen(function*() {
        const { run } = commit
        const update = updateRun(commit)
        const notifying = dialect.notify !== undefined && run.lease_owner === null &&
          (run.status === "pending" || run.status === "created") && run.wake_at - run.updated_at <= notifyWindow
        const shape = [update.sql, commit.steps.length, commit.consumedSignals.length, commit.events.length, notifying ? 1 : 0]
          .join("|")
        const params = update.params
        for (const step of commit.steps) pushChangedStep(params, step)
        if (commit.consumedSignals.length > 0) params.push(run.updated_at, ...commit.consumedSignals)
        if (commit.events.length > 0) {
          params.push(commit.events.length)
          pushEvents(params, commit.events, 1)
        }
        params.push(run.uuid)
        if (notifying) params.push(channelOf(), String(run.wake_at))
        const rows = yield* exec(commitStatement(shape), params)
        if (rows[0]?.events === null || rows[0]?.events === undefined) {
          const current = rows[0]?.current
          return yield* new VersionConflict({
            runId: run.uuid,
            expected: commit.expectedRevision,
            actual: current === null || current === undefined ? undefined : Number(current)
          })
        }
      }))

  const notify = (exec: Exec, at: number, now: number) =>
    dialect.notify === undefined || at - now > notifyWindow ? Effect.void : dialect.notify(exec, at)

  return {
    create: (snapshot, events) =>
      dialect.singleStatements ? createInOne(snapshot, events) : groupWrite("create", (exec) =>
        Effect.gen(function*() {
          const { run } = snapshot
          const inserted = yield* exec(insertRun, pushRun([], run, events.length))
          if (inserted.length === 0) return yield* notInserted(exec, run)
          yield* exec(insertSteps(snapshot.steps.length), pushSteps([], snapshot.steps))
          yield* appendEvents(exec, events, events.length)
          if (run.lease_owner === null) yield* notify(exec, run.wake_at, run.created_at)
          return { _tag: "Created" } as const
        })),

    load: (runId) =>
      read("load", (exec) =>
        Effect.gen(function*() {
          const rows = yield* exec(`SELECT * FROM ${runs} WHERE uuid = ?`, [runId])
          if (rows.length === 0) return Option.none<Snapshot>()
          const run = yield* decodeRun(rows[0])
          const stepRows = yield* exec(selectSteps, [runId])
          return Option.some<Snapshot>({
            run,
            steps: yield* decodeSteps(runId, stepRows),
            signals: yield* signalsOf(exec, run)
          })
        })),

    commit: (commit) =>
      // a commit that adds step records (a forEach's members, maybe thousands) is a transaction of
      // several statements on every dialect: one statement could not hold their parameters
      dialect.singleStatements && (commit.added === undefined || commit.added.length === 0)
        ? commitInOne(commit)
        : groupWrite("commit", (exec) =>
        Effect.gen(function*() {
          const { run } = commit
          const update = updateRun(commit)
          const updated = yield* exec(update.sql, update.params)
          if (updated.length === 0) {
            const current = yield* exec(`SELECT revision FROM ${runs} WHERE uuid = ?`, [run.uuid])
            return yield* new VersionConflict({
              runId: run.uuid,
              expected: commit.expectedRevision,
              actual: current.length === 0 ? undefined : Number(current[0].revision)
            })
          }
          const added = commit.added ?? []
          for (let at = 0; at < added.length; at += addedPage) {
            const page = added.slice(at, at + addedPage)
            yield* exec(insertSteps(page.length), pushSteps([], page))
          }
          for (const step of commit.steps) yield* exec(updateStep, pushChangedStep([], step))
          if (commit.consumedSignals.length > 0) {
            yield* exec(
              consumeSignals(commit.consumedSignals.length),
              [run.updated_at, ...commit.consumedSignals]
            )
          }
          yield* appendEvents(exec, commit.events, Number(updated[0].events))
          if (run.lease_owner === null && (run.status === "pending" || run.status === "created")) {
            yield* notify(exec, run.wake_at, run.updated_at)
          }
        })),

    claim: (options) =>
      (dialect.singleStatements ? single : write)("claim", (exec) =>
        Effect.gen(function*() {
          const leased = yield* dialect.claim(tables, exec, options)
          const claimed: Array<Repository.Claimed> = []
          const corrupt: Array<CorruptRecord> = []
          const decoded: Array<{ run: RunRecord; previousOwner: string | null }> = []
          const byRun = new Map<string, ReadonlyArray<any>>()
          for (const { previousOwner, row, steps: stepRows } of leased) {
            const run = decodeRun(row)
            if (Either.isLeft(run)) corrupt.push(run.left)
            else decoded.push({ run: run.right, previousOwner })
            if (stepRows !== undefined) byRun.set(String(row.uuid), stepRows)
          }
          const missing = decoded.filter(({ run }) => !byRun.has(run.uuid)).map(({ run }) => run.uuid)
          if (missing.length > 0) {
            const stepRows = yield* exec(
              `SELECT * FROM ${steps} WHERE pipeline_uuid IN ${tuple(missing.length)} ORDER BY pipeline_uuid, position`,
              missing
            )
            for (const row of stepRows) {
              const list = byRun.get(row.pipeline_uuid) as Array<any> | undefined
              if (list === undefined) byRun.set(row.pipeline_uuid, [row])
              else list.push(row)
            }
          }
          for (const { previousOwner, run } of decoded) {
            const runSteps = decodeSteps(run.uuid, byRun.get(run.uuid) ?? [])
            const runSignals = yield* Effect.either(signalsOf(exec, run))
            if (Either.isLeft(runSteps)) corrupt.push(runSteps.left)
            else if (Either.isLeft(runSignals)) {
              if (runSignals.left._tag === "CorruptRecord") corrupt.push(runSignals.left)
              else return yield* runSignals.left
            } else {
              claimed.push({ snapshot: { run, steps: runSteps.right, signals: runSignals.right }, previousOwner })
            }
          }
          const order = leased.map(({ row }) => ({ wake_at: Number(row.wake_at), uuid: String(row.uuid) }))
            .sort((a, b) => a.wake_at - b.wake_at || (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
          claimed.sort((a, b) =>
            a.snapshot.run.wake_at - b.snapshot.run.wake_at ||
            (a.snapshot.run.uuid < b.snapshot.run.uuid ? -1 : 1)
          )
          return { claimed, corrupt, cursor: cursorOf(order, options.after) }
        })),

    dueElsewhere: (options) =>
      readOne("dueElsewhere", (exec) =>
        Effect.map(
          exec(
            `SELECT uuid, name FROM ${runs} WHERE ${active} AND wake_at <= ? ` +
              `AND (lease_owner IS NULL OR lease_expires_at <= ?) AND ${namesNotIn(options.names)} ` +
              `ORDER BY wake_at, uuid LIMIT ?`,
            [options.now, options.now, ...options.names, options.limit]
          ),
          (rows) => rows.map((row) => ({ uuid: String(row.uuid), name: String(row.name) }))
        )),

    nextWakeAt: (options) =>
      readOne("nextWakeAt", (exec) =>
        Effect.map(
          exec(nextWakeQuery(tables, options.names.length), [options.now, ...options.names]),
          (rows) => rows.length === 0 ? Option.none() : Option.some(Number(rows[0].wake_at))
        )),

    renew: (options) =>
      (dialect.singleStatements ? single : write)("renew", (exec) =>
        Effect.map(
          exec(
            `UPDATE ${runs} SET lease_expires_at = ? WHERE uuid = ? AND lease_owner = ? AND revision = ? RETURNING uuid`,
            [options.leaseExpiresAt, options.runId, options.owner, options.revision]
          ),
          (rows) => rows.length > 0
        )),

    release: (options) =>
      write("release", (exec) =>
        Effect.flatMap(
          exec(
            `UPDATE ${runs} SET lease_owner = NULL, lease_expires_at = NULL ` +
              `WHERE uuid = ? AND lease_owner = ? AND revision = ? RETURNING uuid`,
            [options.runId, options.owner, options.revision]
          ),
          (rows) => rows.length > 0 ? notify(exec, 0, 0) : Effect.void
        )),

    list: (filter) =>
      readOne("list", (exec) =>
        Effect.gen(function*() {
          const where: Array<string> = []
          const params: Array<unknown> = []
          if (filter.names !== undefined) {
            where.push(filter.names.length === 0 ? "1 = 0" : `name IN ${tuple(filter.names.length)}`)
            params.push(...filter.names)
          }
          if (filter.statuses !== undefined) {
            where.push(filter.statuses.length === 0 ? "1 = 0" : `status IN ${tuple(filter.statuses.length)}`)
            params.push(...filter.statuses)
          }
          if (filter.createdFrom !== undefined) {
            where.push("created_at >= ?")
            params.push(filter.createdFrom)
          }
          if (filter.createdTo !== undefined) {
            where.push("created_at < ?")
            params.push(filter.createdTo)
          }
          if (filter.keyPrefix !== undefined) {
            where.push("idempotency_key LIKE ? ESCAPE '\\'")
            params.push(`${filter.keyPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
          }
          if (filter.before !== undefined) {
            where.push("(created_at < ? OR (created_at = ? AND uuid < ?))")
            params.push(filter.before.createdAt, filter.before.createdAt, filter.before.uuid)
          }
          const rows = yield* exec(
            `SELECT * FROM ${runs} ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`} ` +
              `ORDER BY created_at DESC, uuid DESC LIMIT ?`,
            [...params, filter.limit]
          )
          const found: Array<RunRecord> = []
          const corrupt: Array<CorruptRecord> = []
          for (const row of rows) {
            const run = decodeRun(row)
            if (Either.isLeft(run)) corrupt.push(run.left)
            else found.push(run.right)
          }
          const last = rows[rows.length - 1] as { created_at?: unknown; uuid?: unknown } | undefined
          return {
            runs: found,
            corrupt,
            rows: rows.length,
            last: last === undefined ? undefined : { createdAt: Number(last.created_at), uuid: String(last.uuid) }
          } satisfies Repository.ListResult
        })),

    history: (runId) =>
      readOne("history", (exec) =>
        Effect.flatMap(
          exec(`SELECT * FROM ${history} WHERE run_uuid = ? ORDER BY seq`, [runId]),
          (rows) =>
            Effect.forEach(rows, (row) =>
              Either.match(decodeEventRow(row), {
                onLeft: (error) => Effect.fail(new RepositoryError({ operation: "history", cause: describe(error) })),
                onRight: (event): Effect.Effect<Repository.LoggedEvent> =>
                  Effect.succeed({ ...event, data: event.data === null ? null : JSON.parse(event.data) })
              }))
        )),

    cancelUndecodable: (options) =>
      write("cancel", (exec) =>
        Effect.gen(function*() {
          const error = json({ message: options.reason, pretty: null, cause: null })
          const ended = `status NOT IN ('finished', 'failed', 'cancelled')`
          const updated = yield* exec(
            `UPDATE ${runs} SET status = 'cancelled', error = ?, lease_owner = NULL, lease_expires_at = NULL, ` +
              `revision = revision + 1, events = events + ?, updated_at = ?, ended_at = ? ` +
              `WHERE uuid = ? AND ${ended} RETURNING events`,
            [error, options.events.length, options.now, options.now, options.runId]
          )
          if (updated.length === 0) return false
          yield* exec(
            `UPDATE ${steps} SET status = 'cancelled', error = ?, updated_at = ?, ended_at = ? WHERE uuid = ` +
              `(SELECT uuid FROM ${steps} WHERE pipeline_uuid = ? AND ${ended} ORDER BY position LIMIT 1)`,
            [error, options.now, options.now, options.runId]
          )
          yield* appendEvents(exec, options.events, Number(updated[0].events))
          return true
        })),

    signal: (signal, event, wake) =>
      write("signal", (exec) =>
        Effect.gen(function*() {
          // the same signal again (a retry of a write whose reply was lost): it is stored already
          const stored = yield* exec(`SELECT 1 AS found FROM ${signals} WHERE id = ?`, [signal.id])
          if (stored.length > 0) return true
          const at = wake ? signal.created_at : Number.MAX_SAFE_INTEGER
          const updated = yield* exec(
            `UPDATE ${runs} SET pending_signals = pending_signals + 1, events = events + 1, ` +
              `wake_at = CASE WHEN wake_at > ? THEN CAST(? AS BIGINT) ELSE wake_at END ` +
              `WHERE uuid = ? AND ${active} RETURNING events`,
            [at, at, signal.run_uuid]
          )
          if (updated.length === 0) return false
          yield* exec(
            `INSERT INTO ${signals} (id, run_uuid, step, payload, created_at) VALUES ${tuple(5)}`,
            [signal.id, signal.run_uuid, signal.step, signal.payload, signal.created_at]
          )
          yield* appendEvents(exec, [event], Number(updated[0].events))
          if (wake) yield* notify(exec, signal.created_at, signal.created_at)
          return true
        }))
  }
}
