/**
 * The examples of docs/testing.md, as they are printed there: each ```ts block of the page must be
 * in this file word for word (the check at the end), and runs here. If one breaks, the docs are wrong.
 */
import * as fs from "node:fs"
import * as path from "node:path"

// --- example ---
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { Orchestrator, pipeline, step, Step } from "prorch"
import { TestOrchestrator, TestRepository } from "prorch/Test"

class Payments extends Context.Tag("Payments")<Payments, { charge: (key: string) => Effect.Effect<void> }>() {}

const charge = step("Charge", {
  state: Schema.Struct({ paymentId: Schema.String }),
  onStart: (ctx) =>
    Effect.as(Effect.flatMap(Payments, (p) => p.charge(ctx.stepRunId)), { paymentId: `pay-${ctx.stepRunId}` }),
  onContinue: (ctx) =>
    ctx.continuations < 1
      ? Effect.succeed(Step.wait({ after: "10 minutes" })) // poll the provider again later
      : Effect.succeed(Step.finish())
})
const receipt = step("Receipt", { onContinue: () => Effect.succeed(Step.finish()) })
const billing = pipeline("Billing", charge, receipt)

/** a payment provider that records what it was asked */
const recording = () => {
  const charged: Array<string> = []
  return { charged, layer: Layer.succeed(Payments, { charge: (key) => Effect.sync(() => void charged.push(key)) }) }
}

describe("Billing", () => {
  it.effect("charges once and ends", () => {
    const payments = recording()
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(billing)
      const run = yield* TestOrchestrator.runUntilSettled(runId) // passes; the clock moved to each wake-up
      expect(run.status).toBe("finished")
      expect(payments.charged).toEqual([run.steps[0].id]) // once, with the step run id as the key
    }).pipe(Effect.provide(TestOrchestrator.layer([billing])), Effect.provide(payments.layer))
  })
})
// --- example ---
describe("Billing, when the worker dies", () => {
  it.effect("right after Charge's onStart is committed: it is not charged again", () => {
    const payments = recording()
    return Effect.gen(function*() {
      yield* TestRepository.crash({
        when: "after",
        match: (commit) => commit.steps.some((s) => s.name === "Charge" && s.status === "pending")
      })
      const runId = yield* Orchestrator.start(billing) // its first tick dies after that commit
      const run = yield* TestOrchestrator.runUntilSettled(runId) // waits out the dead tick's lease
      expect(run.status).toBe("finished")
      expect(payments.charged).toHaveLength(1)
    }).pipe(Effect.provide(TestOrchestrator.layer([billing])), Effect.provide(payments.layer))
  })

  it.effect("before that commit: onStart runs again, with the same idempotency key", () => {
    const payments = recording()
    return Effect.gen(function*() {
      yield* TestRepository.crash({ when: "before" }) // the next commit, whatever it holds
      const runId = yield* Orchestrator.start(billing)
      const run = yield* TestOrchestrator.runUntilSettled(runId)
      expect(run.status).toBe("finished")
      expect(payments.charged).toEqual([run.steps[0].id, run.steps[0].id]) // the provider must dedupe
    }).pipe(Effect.provide(TestOrchestrator.layer([billing])), Effect.provide(payments.layer))
  })
})
// --- example ---
describe("Billing, on storage that fails", () => {
  it.effect("every run still ends", () => {
    const payments = recording()
    return Effect.gen(function*() {
      yield* TestRepository.failWrites({ rate: 0.2, seed: 42 }) // the same seed, the same failures
      const ids = [yield* Orchestrator.create(billing), yield* Orchestrator.create(billing)]
      for (const id of ids) expect((yield* TestOrchestrator.runUntilSettled(id)).status).toBe("finished")
      expect((yield* TestRepository.injected).length).toBeGreaterThan(0)
    }).pipe(Effect.provide(TestOrchestrator.layer([billing])), Effect.provide(payments.layer))
  })
})
// --- end ---

describe("docs/testing.md", () => {
  it("prints the examples of this file, word for word", () => {
    const page = fs.readFileSync(path.join(__dirname, "../docs/testing.md"), "utf8")
    const self = fs.readFileSync(__filename, "utf8")
    const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1].trim())
    const examples = self.slice(0, self.indexOf("// --- end ---")).split("// --- example ---\n").slice(1)
    expect(blocks).toEqual(examples.map((e) => e.trim()))
  })
})
