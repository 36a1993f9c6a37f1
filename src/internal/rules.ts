/**
 * The rules that every repository shares, in one place (docs/repositories.md "The service"): which
 * runs are due and in what order, the lease a claim takes, a signal that makes a run due, the
 * filter and order of `list`. The memory and four-operation layers call them; the SQL dialects
 * write them as SQL, and the shared suites check the two agree on every backend.
 */
import type { Cursor, ListFilter } from "../Repository.js"
import type { RunRecord } from "../Run.js"

/** @internal a run that a worker may claim at `now` */
export const isDue = (run: RunRecord, now: number): boolean =>
  (run.status === "created" || run.status === "pending") &&
  run.wake_at <= now &&
  (run.lease_owner === null || run.lease_expires_at === null || run.lease_expires_at <= now)

/** @internal due order: `wake_at`, then `uuid` */
export const byDueOrder = (a: RunRecord, b: RunRecord): number =>
  a.wake_at - b.wake_at || (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0)

/** @internal the first `limit` of some runs in due order, as `dueElsewhere` reports them (sorts `runs`) */
export const firstDue = (
  runs: Array<RunRecord>,
  limit: number
): Array<{ readonly uuid: string; readonly name: string }> =>
  runs.sort(byDueOrder).slice(0, limit).map((run) => ({ uuid: run.uuid, name: run.name }))

/** @internal whether a run comes after a cursor in due order */
export const afterCursor = (run: RunRecord, cursor: Cursor | undefined): boolean =>
  cursor === undefined || run.wake_at > cursor.wakeAt || (run.wake_at === cursor.wakeAt && run.uuid > cursor.uuid)

/** @internal the cursor after the last of some runs in due order */
export const cursorOf = (
  runs: ReadonlyArray<Pick<RunRecord, "wake_at" | "uuid">>,
  previous: Cursor | undefined
): Cursor | undefined => {
  const last = runs[runs.length - 1]
  return last === undefined ? previous : { wakeAt: last.wake_at, uuid: last.uuid }
}

/** @internal listing order: newest first (`created_at` descending, then `uuid` descending) */
export const newest = (
  a: Pick<RunRecord, "created_at" | "uuid">,
  b: Pick<RunRecord, "created_at" | "uuid">
): number => b.created_at - a.created_at || (a.uuid < b.uuid ? 1 : a.uuid > b.uuid ? -1 : 0)

/** @internal the run as a claim leaves it: leased to `owner` until `expiresAt`, its revision one more */
export const leased = (run: RunRecord, owner: string, expiresAt: number): RunRecord => ({
  ...run,
  lease_owner: owner,
  lease_expires_at: expiresAt,
  revision: run.revision + 1
})

/**
 * @internal the run as a commit stores it: if signals arrived since it was loaded (the stored count
 * is above the committed one), it is due at once; the signals it consumed are no longer pending
 */
export const committed = (stored: RunRecord, run: RunRecord, consumed: number): RunRecord => {
  const arrived = stored.pending_signals > run.pending_signals
  return !arrived && consumed === 0 ? run : {
    ...run,
    pending_signals: stored.pending_signals - consumed,
    wake_at: arrived ? Math.min(run.wake_at, run.updated_at) : run.wake_at
  }
}

/** @internal the run as a new signal leaves it: one more pending, due at once when `wake` */
export const signalled = (run: RunRecord, at: number, wake: boolean): RunRecord => ({
  ...run,
  pending_signals: run.pending_signals + 1,
  wake_at: wake ? Math.min(run.wake_at, at) : run.wake_at
})

/** @internal whether a run is in a page of `list` (all but the page's limit) */
export const listed = (
  filter: ListFilter,
  run: Pick<RunRecord, "name" | "status" | "created_at" | "uuid" | "idempotency_key">
): boolean =>
  (filter.names === undefined || filter.names.includes(run.name)) &&
  (filter.statuses === undefined || filter.statuses.includes(run.status)) &&
  (filter.createdFrom === undefined || run.created_at >= filter.createdFrom) &&
  (filter.createdTo === undefined || run.created_at < filter.createdTo) &&
  (filter.keyPrefix === undefined || (run.idempotency_key !== null && run.idempotency_key.startsWith(filter.keyPrefix))) &&
  (filter.before === undefined || newest(run, { created_at: filter.before.createdAt, uuid: filter.before.uuid }) > 0)
