/**
 * The onboarding pipeline: an account is created, then three things happen side by side (a
 * parallel group), then the account is activated with what two of them produced.
 *
 *   CreateAccount -> parallel(SendWelcome, ProvisionStorage, NotifySales) -> Activate
 *
 * - `SendWelcome` sends the welcome mail at once (idempotent on its step run id).
 * - `ProvisionStorage` asks the storage service for a bucket and polls it (`Step.poll`: a check
 *   every 300 ms, a deadline of a minute); the bucket is ready at the third check.
 * - `NotifySales` runs only for the "enterprise" plan (`when`): it tells sales, and is `skipped`
 *   for the others.
 * - `Activate` needs the welcome mail's id and the bucket (`needs` on members of the group).
 *
 * The members start in one tick and progress on their own: the welcome mail and the sales note
 * are done in the first tick while the storage is still being provisioned; `Activate` starts in the
 * tick in which the bucket is ready.
 */
import { Effect, Option, Schedule, Schema } from "effect"
import { parallel, pipeline, step, Step, when } from "prorch"

/** the pipeline's input: who signs up, on which plan */
export const Signup = Schema.Struct({
  email: Schema.String,
  plan: Schema.Literal("free", "team", "enterprise")
})

const createAccount = step("CreateAccount", {
  input: Signup,
  output: Schema.Struct({ accountId: Schema.String }),
  onContinue: (ctx) => Effect.succeed(Step.finish({ accountId: `acct-${ctx.runId.slice(-6)}` }))
})

const sendWelcome = step("SendWelcome", {
  input: Signup,
  needs: { account: createAccount },
  output: Schema.Struct({ messageId: Schema.String }),
  onContinue: (ctx) =>
    Effect.as(
      Effect.log(`mail: welcome to ${ctx.input.email} (account ${ctx.outputs.account.accountId})`),
      // the message id derives from the step run id: a repeated call sends the same message
      Step.finish({ messageId: `msg-${ctx.stepRunId.slice(-6)}` })
    )
})

/** the simulated storage service: a bucket is ready at its third status check */
const checks = new Map<string, number>()

const provisionStorage = step(
  "ProvisionStorage",
  Step.poll({
    needs: { account: createAccount },
    output: Schema.Struct({ bucket: Schema.String }),
    check: (ctx) =>
      Effect.sync(() => {
        const seen = (checks.get(ctx.stepRunId) ?? 0) + 1
        checks.set(ctx.stepRunId, seen)
        return seen >= 3 ? Option.some({ bucket: `s3://${ctx.outputs.account.accountId}` }) : Option.none()
      }).pipe(Effect.tap((ready) => Effect.log(`storage: check ${ctx.checks + 1}: ${Option.isSome(ready) ? "ready" : "not yet"}`))),
    every: Schedule.spaced("300 millis"),
    deadline: "1 minute"
  })
)

const notifySales = when(
  (ctx) => ctx.input.plan === "enterprise",
  step("NotifySales", {
    input: Signup,
    onContinue: (ctx) => Effect.as(Effect.log(`sales: new enterprise customer ${ctx.input.email}`), Step.finish())
  })
)

const activate = step("Activate", {
  needs: { welcome: sendWelcome, storage: provisionStorage, sales: notifySales },
  output: Schema.String,
  onContinue: (ctx) =>
    Effect.succeed(
      Step.finish(
        `active: mail ${ctx.outputs.welcome.messageId}, bucket ${ctx.outputs.storage.bucket}` +
          (Option.isSome(ctx.outputs.sales) ? ", sales told" : "")
      )
    )
})

/** the pipeline: a parallel group between two steps */
export const onboarding = pipeline(
  "Onboarding",
  { input: Signup },
  createAccount,
  parallel(sendWelcome, provisionStorage, notifySales),
  activate
)
