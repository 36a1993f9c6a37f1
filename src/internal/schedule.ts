/**
 * @internal replaying a `Schedule` without sleeping: the delay it gives at its n-th recurrence, so
 * that a durable wait (a retry, a poll) depends on a persisted count, not on a schedule's state in
 * memory (docs/semantics.md "Retries" and "Polling")
 */
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"

/**
 * @internal The delay in milliseconds before the `recurrence`-th recurrence of `schedule` (1 for the
 * first), stepping it from `start` with `input` at every step; `undefined` when the schedule is done
 * before then.
 */
export const delayAt = (
  schedule: Schedule.Schedule<unknown, unknown>,
  recurrence: number,
  input: unknown,
  start: number
): Effect.Effect<number | undefined> =>
  Effect.gen(function*() {
    let state = schedule.initial
    let time = start
    let delay = 0
    for (let i = 0; i < recurrence; i++) {
      const [next, , decision] = yield* schedule.step(time, input, state)
      if (ScheduleDecision.isDone(decision)) return undefined
      state = next
      const at = Math.max(time, Intervals.start(decision.intervals))
      delay = at - time
      time = at
    }
    return delay
  })
