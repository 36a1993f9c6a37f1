/**
 * @internal `Step.poll`: a sensor step built of an ordinary step's handlers (docs/semantics.md
 * "Polling")
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Step from "../Step.js"
import { DefinitionError } from "../Errors.js"
import * as Schedules from "./schedule.js"

/** @internal the persisted state of a polling step */
export const State: Schema.Schema<Step.PollState> = Schema.Struct({
  startedAt: Schema.Number,
  checks: Schema.Number
})

const invalid = (detail: string) =>
  new DefinitionError({ problem: "InvalidOption", pipeline: undefined, step: undefined, detail: `Step.poll: ${detail}` })

/** a deadline in milliseconds; NaN for what is not a duration (Duration.decode makes negatives zero) */
const deadlineMillis = (input: Duration.DurationInput): number => {
  if (typeof input === "number" && input < 0) return Number.NaN
  try {
    return Duration.toMillis(Duration.decode(input))
  } catch {
    return Number.NaN
  }
}

/** @internal the options of a step whose `onContinue` polls `check` */
export const make = (options: Step.PollOptions<any, any, any, any, any, any>): Step.Options<
  Step.PollState,
  any,
  any,
  any,
  any,
  never,
  never,
  any,
  any
> => {
  if (typeof options?.check !== "function") throw invalid("check is not a function")
  if (options.every === undefined || options.every === null) throw invalid("every (a Schedule) is required")
  const onDeadline = options.onDeadline ?? "fail"
  if (onDeadline !== "fail" && onDeadline !== "cancel") {
    throw invalid(`onDeadline is ${JSON.stringify(onDeadline)}, not "fail" or "cancel"`)
  }
  const deadline = options.deadline === undefined ? undefined : deadlineMillis(options.deadline)
  if (deadline !== undefined && !(deadline >= 0 && Number.isFinite(deadline))) {
    throw invalid(`deadline ${JSON.stringify(options.deadline)} is not a finite duration`)
  }
  const every = options.every
  const give = (reason: string, details: unknown): Step.Outcome<Step.PollState, any> =>
    onDeadline === "fail"
      ? { _tag: "Fail", reason, details }
      : { _tag: "Cancel", reason }
  return {
    output: options.output,
    input: options.input,
    needs: options.needs,
    signal: options.signal,
    retry: options.retry,
    timeout: options.timeout,
    state: State,
    onStart: () => Effect.map(Clock.currentTimeMillis, (startedAt) => ({ startedAt, checks: 0 })),
    onContinue: (ctx) =>
      Effect.gen(function*() {
        const { checks, startedAt } = ctx.state
        const answer = yield* options.check({ ...ctx, checks, startedAt: new Date(startedAt) })
        if (answer === true) return { _tag: "Finish", output: undefined }
        if (Option.isOption(answer) && Option.isSome(answer)) return { _tag: "Finish", output: answer.value }
        if (answer !== false && !Option.isOption(answer)) {
          return yield* Effect.dieMessage(
            `Step.poll: check answered ${typeof answer}, not an Option (or a boolean for a step without output)`
          )
        }
        const now = yield* Clock.currentTimeMillis
        const done = checks + 1
        const state = { startedAt, checks: done }
        const end = deadline === undefined ? undefined : startedAt + deadline
        if (end !== undefined && now >= end) {
          return give(`no result within ${Duration.format(Duration.millis(deadline!))} (${done} checks)`, {
            deadline: deadline!,
            checks: done
          })
        }
        const delay = yield* Schedules.delayAt(every, done, done, startedAt)
        if (delay === undefined) {
          return give(`no result when the polling schedule ended (${done} checks)`, { checks: done })
        }
        const until = end === undefined ? now + delay : Math.min(now + delay, end)
        return { _tag: "Wait", hasState: true, state, after: undefined, until: new Date(until) }
      })
  }
}
