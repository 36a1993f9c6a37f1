/**
 * @internal waiters for `await`
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Orchestrator from "../Orchestrator.js"
import { isTerminal } from "../Run.js"
import type { Runtime } from "./runtime.js"
import type { Views } from "./views.js"
import * as Worker from "./worker.js"

/** @internal `await`: the run's view once it has ended */
export const make = (rt: Runtime, views: Views) => {
  const { awaitMillis, ended, load } = rt
  const { view } = views

  const awaitRun: Orchestrator.Service["await"] = (runId) =>
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

  return awaitRun
}
