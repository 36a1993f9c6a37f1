import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { VersionConflict } from "../Errors.js"
import type * as Repository from "../Repository.js"
import type { HistoryEvent, RunRecord, SignalRecord, StepRecord } from "../Run.js"
import { isTerminal } from "../Run.js"
import { afterCursor, byDueOrder, committed, cursorOf, firstDue, isDue, leased, listed, newest, signalled } from "./rules.js"

/** @internal */
export const make = (): Repository.Service => {
  const runs = new Map<string, RunRecord>()
  const steps = new Map<string, ReadonlyArray<StepRecord>>()
  const active = new Set<string>()
  const keys = new Map<string, string>()
  // each run's events as the interpreter made them (immutable, so kept as they are); an event's
  // position in its run's log is its `seq`
  const history = new Map<string, Array<HistoryEvent>>()
  const signals = new Map<string, Array<SignalRecord>>()

  const keyOf = (name: string, key: string) => `${name}\u0000${key}`

  const append = (events: ReadonlyArray<HistoryEvent>) => {
    for (const event of events) {
      const log = history.get(event.run_uuid)
      if (log === undefined) history.set(event.run_uuid, [event])
      else log.push(event)
    }
  }

  const put = (run: RunRecord) => {
    runs.set(run.uuid, run)
    if (isTerminal(run.status)) active.delete(run.uuid)
    else active.add(run.uuid)
  }

  const snapshotOf = (run: RunRecord) => ({
    run,
    steps: steps.get(run.uuid) ?? [],
    signals: run.pending_signals > 0 ? (signals.get(run.uuid) ?? []).slice() : []
  })

  return {
    create: (snapshot, events) =>
      Effect.sync(() => {
        const { run } = snapshot
        if (run.idempotency_key !== null) {
          const existing = keys.get(keyOf(run.name, run.idempotency_key))
          if (existing !== undefined) return { _tag: "Existing", runId: existing } as const
          keys.set(keyOf(run.name, run.idempotency_key), run.uuid)
        }
        put(run)
        steps.set(run.uuid, snapshot.steps)
        append(events)
        return { _tag: "Created" } as const
      }),

    load: (runId) =>
      Effect.sync(() => {
        const run = runs.get(runId)
        return run === undefined ? Option.none() : Option.some(snapshotOf(run))
      }),

    commit: (commit) =>
      Effect.suspend(() => {
        const current = runs.get(commit.run.uuid)
        if (current === undefined || current.revision !== commit.expectedRevision) {
          return Effect.fail(
            new VersionConflict({ runId: commit.run.uuid, expected: commit.expectedRevision, actual: current?.revision })
          )
        }
        // most often the record as the orchestrator made it (records are immutable)
        put(committed(current, commit.run, commit.consumedSignals.length))
        const added = commit.added ?? []
        if (commit.steps.length > 0 || added.length > 0) {
          const next = (steps.get(commit.run.uuid) ?? []).slice()
          for (const step of added) next[step.position] = step
          for (const step of commit.steps) next[step.position] = step
          steps.set(commit.run.uuid, next)
        }
        if (commit.consumedSignals.length > 0) {
          const consumed = new Set(commit.consumedSignals)
          signals.set(commit.run.uuid, (signals.get(commit.run.uuid) ?? []).filter((s) => !consumed.has(s.id)))
        }
        append(commit.events)
        return Effect.void
      }),

    claim: (options) =>
      Effect.sync(() => {
        const names = new Set(options.names)
        const due: Array<RunRecord> = []
        for (const uuid of active) {
          const run = runs.get(uuid)!
          if (names.has(run.name) && isDue(run, options.now) && afterCursor(run, options.after)) due.push(run)
        }
        due.sort(byDueOrder)
        const picked = due.slice(0, options.limit)
        const claimed = picked.map((run) => {
          const taken = leased(run, options.owner, options.leaseExpiresAt)
          put(taken)
          return { snapshot: snapshotOf(taken), previousOwner: run.lease_owner }
        })
        return { claimed, corrupt: [], cursor: cursorOf(picked, options.after) }
      }),

    dueElsewhere: (options) =>
      Effect.sync(() => {
        const names = new Set(options.names)
        const found: Array<RunRecord> = []
        for (const uuid of active) {
          const run = runs.get(uuid)!
          if (!names.has(run.name) && isDue(run, options.now)) found.push(run)
        }
        return firstDue(found, options.limit)
      }),

    nextWakeAt: (options) =>
      Effect.sync(() => {
        const names = new Set(options.names)
        let next: number | undefined
        for (const uuid of active) {
          const run = runs.get(uuid)!
          if (names.has(run.name) && run.wake_at > options.now && (next === undefined || run.wake_at < next)) {
            next = run.wake_at
          }
        }
        return Option.fromNullable(next)
      }),

    renew: (options) =>
      Effect.sync(() => {
        const run = runs.get(options.runId)
        if (run === undefined || run.lease_owner !== options.owner || run.revision !== options.revision) return false
        put({ ...run, lease_expires_at: options.leaseExpiresAt })
        return true
      }),

    release: (options) =>
      Effect.sync(() => {
        const run = runs.get(options.runId)
        if (run !== undefined && run.lease_owner === options.owner && run.revision === options.revision) {
          put({ ...run, lease_owner: null, lease_expires_at: null })
        }
      }),

    list: (filter) =>
      Effect.sync(() => {
        const found: Array<RunRecord> = []
        for (const run of runs.values()) if (listed(filter, run)) found.push(run)
        const page = found.sort(newest).slice(0, filter.limit)
        const last = page[page.length - 1]
        return {
          runs: page,
          corrupt: [],
          rows: page.length,
          last: last === undefined ? undefined : { createdAt: last.created_at, uuid: last.uuid }
        }
      }),

    history: (runId) =>
      Effect.sync(() => {
        const log = history.get(runId)
        return log === undefined ? [] : log.map((event, i) => ({ ...event, seq: i + 1 }))
      }),

    signal: (signal, event, wake) =>
      Effect.sync(() => {
        const run = runs.get(signal.run_uuid)
        if (run === undefined || isTerminal(run.status)) return false
        const list = signals.get(run.uuid) ?? []
        list.push(signal)
        signals.set(run.uuid, list)
        put(signalled(run, signal.created_at, wake))
        append([event])
        return true
      })
  }
}
