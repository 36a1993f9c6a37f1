/**
 * @internal leases: the keeper that renews them, and a claim of one run
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Repository from "../Repository.js"
import { leased } from "./rules.js"
import type { Runtime } from "./runtime.js"

/** @internal the lease keeper, and a claim of one run */
export const make = (rt: Runtime) => {
  const { owner, leaseMillis, repository, held, load } = rt

  // --- leases ------------------------------------------------------------------

  /** renew the leases of the ticks in flight, a third of the lease duration before they expire */
  const keeper: Effect.Effect<never> = Effect.gen(function*() {
    const interval = Math.max(1, Math.floor(leaseMillis / 3))
    while (true) {
      yield* Effect.sleep(interval)
      const now = yield* Clock.currentTimeMillis
      for (const [runId, lease] of held) {
        if (lease.lost || lease.expiresAt - now > leaseMillis - interval) continue
        const revision = lease.revision
        const expiresAt = now + leaseMillis
        const kept = yield* repository.renew({ runId, owner, revision, leaseExpiresAt: expiresAt }).pipe(
          Effect.tapError((error) => Effect.logWarning(`prorch: renewing the lease of run ${runId} failed`, error)),
          Effect.orElseSucceed(() => true)
        )
        // the tick committed meanwhile (a new revision proves the lease), or ended; or a commit of it
        // is on its way, which may have moved the revision on: the next round renews at the new one
        if (held.get(runId) !== lease || lease.revision !== revision) continue
        if (!kept && lease.committing > lease.revision) continue
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

  /** take the lease of one run by a guarded write, as a claim would */
  const claimOne = Effect.fnUntraced(function*(runId: string) {
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
      expectedRevision: run.revision,
      consumedSignals: []
    })
    return Option.some<Repository.Claimed>({
      snapshot: { ...snapshot, run: taken },
      previousOwner: run.lease_owner === owner ? null : run.lease_owner
    })
  })

  return { keeper, claimOne }
}

/** @internal */
export type Leases = ReturnType<typeof make>
