/**
 * An expense approval: a pipeline whose step waits for a human decision, sent as a signal.
 *
 *   SubmitExpense -> AwaitApproval -> Reimburse
 *
 * - SubmitExpense records the expense of the run's typed input `{ employee, amount }` and outputs
 *   its id.
 * - AwaitApproval declares a `signal` schema (the decision: `{ approved, by, note? }`), which
 *   `Orchestrator.signal(runId, approval, decision)` checks at compile time and encodes durably.
 *   `onStart` fixes the deadline (7 days, or `APPROVAL_DEADLINE`) in the step's state. `onContinue`
 *   reads `ctx.signals`: no decision yet → `Step.wait({ until: deadline })`, a durable timer (a
 *   signal wakes the run sooner); no decision at the deadline → `Step.cancel(...)`; approved →
 *   `Step.finish(...)` with who approved; rejected → `Step.fail(...)`, which fails the run.
 * - Reimburse reads the approval (`needs: { submit, approval }`) and pays, keyed by its step run id.
 *
 * Why the deadline is kept in the state and not re-armed with `Step.wait({ after: "7 days" })` on
 * each call: `onContinue` is not told why it runs (its timer, a signal, or any other wake-up of the
 * run), so a relative `after` would restart the 7 days at every wake-up without a decision.
 */
import { Clock, Config, Console, Duration, Effect, Schema } from "effect"
import { pipeline, Step, step } from "prorch"

/** The input of a run: who spent how much. */
export const ExpenseInput = Schema.Struct({
  employee: Schema.NonEmptyTrimmedString,
  amount: Schema.Number.pipe(Schema.positive())
})
export type ExpenseInput = typeof ExpenseInput.Type

/** The signal of AwaitApproval: a human decision. */
export const Decision = Schema.Struct({
  approved: Schema.Boolean,
  by: Schema.NonEmptyTrimmedString,
  note: Schema.optional(Schema.String)
})
export type Decision = typeof Decision.Type

/** How long AwaitApproval waits for a decision: `APPROVAL_DEADLINE` (e.g. "3 seconds"), default 7 days. */
export const ApprovalDeadline = Config.duration("APPROVAL_DEADLINE").pipe(Config.withDefault(Duration.days(7)))

const say = (stepName: string, message: string) => Console.log(`  [${stepName}] ${message}`)

const euros = (amount: number) => `EUR ${amount.toFixed(2)}`

export const submit = step("SubmitExpense", {
  input: ExpenseInput,
  output: Schema.Struct({ expenseId: Schema.String }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      // the step run id is stable across retries and crashes: the same run records the same expense
      const expenseId = `EXP-${ctx.stepRunId.slice(0, 8)}`
      yield* say(ctx.step, `${ctx.input.employee} submitted ${euros(ctx.input.amount)} as ${expenseId}.`)
      return Step.finish({ expenseId })
    })
})

export const approval = step("AwaitApproval", {
  input: ExpenseInput,
  needs: { submit },
  signal: Decision,
  state: Schema.Struct({ deadline: Schema.Date, within: Schema.String }),
  output: Schema.Struct({ approvedBy: Schema.String, note: Schema.optional(Schema.String) }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      const within = yield* ApprovalDeadline
      const deadline = new Date((yield* Clock.currentTimeMillis) + Duration.toMillis(within))
      yield* say(
        ctx.step,
        `${ctx.outputs.submit.expenseId} awaits a decision until ${deadline.toISOString()} (${Duration.format(within)}).`
      )
      return { deadline, within: Duration.format(within) }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const [decision, ...later] = ctx.signals
      if (decision === undefined) {
        if ((yield* Clock.currentTimeMillis) < ctx.state.deadline.getTime()) {
          yield* say(ctx.step, `No decision yet; sleeping until the deadline or a signal.`)
          return Step.wait({ until: ctx.state.deadline })
        }
        yield* say(ctx.step, `No decision by the deadline.`)
        return Step.cancel(`no decision within ${ctx.state.within}`)
      }
      if (later.length > 0) yield* say(ctx.step, `${later.length} later decision(s) ignored: the first one counts.`)
      const note = decision.note === undefined ? "" : ` ("${decision.note}")`
      if (!decision.approved) {
        yield* say(ctx.step, `Rejected by ${decision.by}${note}.`)
        return Step.fail(`rejected by ${decision.by}${note}`, decision)
      }
      yield* say(ctx.step, `Approved by ${decision.by}${note}.`)
      return Step.finish({ approvedBy: decision.by, note: decision.note })
    })
})

export const reimburse = step("Reimburse", {
  input: ExpenseInput,
  needs: { submit, approval },
  state: Schema.Struct({ paymentId: Schema.String }),
  output: Schema.Struct({ paymentId: Schema.String, amount: Schema.Number, approvedBy: Schema.String }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      // the payment's idempotency key: a repeated onStart (after a crash) asks for the same payment
      const paymentId = `PAY-${ctx.stepRunId.slice(0, 8)}`
      yield* say(
        ctx.step,
        `Paying ${euros(ctx.input.amount)} to ${ctx.input.employee} for ${ctx.outputs.submit.expenseId} ` +
          `(approved by ${ctx.outputs.approval.approvedBy}), payment ${paymentId}.`
      )
      return { paymentId }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      yield* say(ctx.step, `Payment ${ctx.state.paymentId} sent.`)
      return Step.finish({
        paymentId: ctx.state.paymentId,
        amount: ctx.input.amount,
        approvedBy: ctx.outputs.approval.approvedBy
      })
    })
})

export const expenseApproval = pipeline("ExpenseApproval", { input: ExpenseInput }, submit, approval, reimburse)
