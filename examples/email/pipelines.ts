/**
 * The email pipeline of the Python original, with a typed input:
 *
 *   GenerateAudience -> GenerateCache -> SendEmail
 *
 * A run is started with `{ campaign }`; every step reads it as `ctx.input.campaign`.
 * - GenerateAudience selects the recipients of the campaign (its output).
 * - GenerateCache renders the campaign's message once and caches it (its output: the cache key).
 * - SendEmail sends the cached message to the audience in batches, one batch per continuation,
 *   keeping how many were sent in its typed state (`Step.wait({ state })`), and finishes with the
 *   count. Each message is keyed by the step run id and the recipient, so that a batch sent again
 *   after a crash is deduplicated by the (simulated) mail service.
 */
import { Console, Effect, Schema } from "effect"
import { pipeline, Step, step } from "prorch"

/** The input of a run of the email pipeline. */
export const EmailInput = Schema.Struct({ campaign: Schema.NonEmptyTrimmedString })
export type EmailInput = typeof EmailInput.Type

/** How many messages SendEmail sends per continuation. */
export const BATCH_SIZE = 2

const say = (stepName: string, message: string) => Console.log(`  [${stepName}] ${message}`)

export const audience = step("GenerateAudience", {
  input: EmailInput,
  state: Schema.Struct({ segment: Schema.String }),
  output: Schema.Struct({ recipients: Schema.Array(Schema.String) }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      const segment = `subscribers-of-${ctx.input.campaign}`
      yield* say(ctx.step, `AfterStarting: querying segment ${segment}.`)
      return { segment }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const recipients = ["ana", "bo", "chen", "dara", "eli"].map((name) => `${name}@example.com`)
      yield* say(ctx.step, `AfterContinue: ${recipients.length} recipients in ${ctx.state.segment}.`)
      return Step.finish({ recipients })
    })
})

export const cache = step("GenerateCache", {
  input: EmailInput,
  state: Schema.Struct({ cacheKey: Schema.String }),
  output: Schema.Struct({ cacheKey: Schema.String, subject: Schema.String }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      const cacheKey = `email:${ctx.input.campaign}:${ctx.stepRunId}`
      yield* say(ctx.step, `AfterStarting: rendering the ${ctx.input.campaign} message into ${cacheKey}.`)
      return { cacheKey }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      yield* say(ctx.step, `AfterContinue: message cached.`)
      return Step.finish({ cacheKey: ctx.state.cacheKey, subject: `News from ${ctx.input.campaign}` })
    })
})

export const send = step("SendEmail", {
  input: EmailInput,
  needs: { audience, cache },
  state: Schema.Struct({ sent: Schema.Number }),
  output: Schema.Struct({ sent: Schema.Number, campaign: Schema.String }),
  onStart: (ctx) =>
    Effect.gen(function*() {
      yield* say(
        ctx.step,
        `AfterStarting: sending "${ctx.outputs.cache.subject}" to ${ctx.outputs.audience.recipients.length} recipients.`
      )
      return { sent: 0 }
    }),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const { recipients } = ctx.outputs.audience
      const batch = recipients.slice(ctx.state.sent, ctx.state.sent + BATCH_SIZE)
      const sent = ctx.state.sent + batch.length
      yield* say(
        ctx.step,
        `AfterContinue: sent ${batch.join(", ")} (message ids ${ctx.stepRunId.slice(0, 8)}/<recipient>), ${sent}/${recipients.length}.`
      )
      if (sent < recipients.length) return Step.wait({ state: { sent } })
      return Step.finish({ sent, campaign: ctx.input.campaign })
    })
})

export const email = pipeline("EmailPipeline", { input: EmailInput }, audience, cache, send)
