/** The example of docs/testing.md, as it is printed there: if it breaks, the docs are wrong. */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, TestClock } from "effect"
import { Orchestrator, pipeline, Repository, step, Step } from "prorch"

class Mailer extends Context.Tag("Mailer")<Mailer, { send: (to: string) => Effect.Effect<void> }>() {}

const notify = step("Notify", {
  onContinue: (ctx) =>
    ctx.continuations < 1
      ? Effect.succeed(Step.wait({ after: "10 minutes" }))
      : Effect.as(Effect.flatMap(Mailer, (m) => m.send("ops@example.com")), Step.finish())
})
const p = pipeline("Notify", notify)

describe("Notify", () => {
  it.effect("mails after ten minutes", () => {
    const sent: Array<string> = []
    const MailerTest = Layer.succeed(Mailer, { send: (to) => Effect.sync(() => void sent.push(to)) })
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(p)
      expect((yield* Orchestrator.get(runId)).status).toBe("pending")

      yield* TestClock.adjust("9 minutes")
      yield* Orchestrator.executePending()
      expect(sent).toEqual([]) // the timer is not due yet

      yield* TestClock.adjust("1 minute")
      yield* Orchestrator.executePending()
      expect(sent).toEqual(["ops@example.com"])
      expect((yield* Orchestrator.get(runId)).status).toBe("finished")
    }).pipe(
      Effect.provide(Orchestrator.layer([p])),
      Effect.provide(Layer.merge(Repository.layerMemory, MailerTest))
    )
  })
})
