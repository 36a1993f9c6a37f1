import type { Cursor } from "../Repository.js"
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
