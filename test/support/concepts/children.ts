/** Child pipelines (`child`), on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schema, TestClock } from "effect"
import { child, Mermaid, pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { recorder, runOn, statuses } from "../kit.js"

const Signup = Schema.Struct({ email: Schema.String, fail: Schema.Boolean, cancel: Schema.Boolean })
const Provision = Schema.Struct({ account: Schema.String, fail: Schema.Boolean, cancel: Schema.Boolean })

const family = (
  log: ReturnType<typeof recorder>,
  options: { readonly waits?: number; readonly after?: Duration.Duration } = {}
) => {
  const provisioning = pipeline(
    "Provisioning",
    { input: Provision },
    step("Bucket", {
      input: Provision,
      onContinue: (ctx) =>
        Effect.as(
          log.record(`Bucket ${ctx.input.account}`),
          ctx.continuations < (options.waits ?? 0)
            ? Step.wait({ after: options.after ?? Duration.hours(1) })
            : ctx.input.fail
            ? Step.fail("no bucket for you")
            : ctx.input.cancel
            ? Step.cancel("not needed")
            : Step.finish()
        )
    }),
    step("Quota", {
      input: Provision,
      output: Schema.Struct({ gigabytes: Schema.Number }),
      onContinue: () => Effect.succeed(Step.finish({ gigabytes: 100 }))
    })
  )
  const provision = child("Provision", provisioning, {
    parentInput: Signup,
    input: (ctx) => ({ account: ctx.input.email, fail: ctx.input.fail, cancel: ctx.input.cancel })
  })
  const welcome = step("Welcome", {
    needs: { provision },
    onContinue: (ctx) => Effect.as(log.record(`Welcome ${ctx.outputs.provision.gigabytes} GB`), Step.finish())
  })
  return { onboarding: pipeline("Onboarding", { input: Signup }, provision, welcome), provisioning, provision }
}

/** run passes until the run has ended (or a bound) */
const untilEnded = (o: { executePending: () => Effect.Effect<unknown, unknown>; get: (id: string) => Effect.Effect<{ status: string }, unknown> }, runId: string) =>
  Effect.gen(function*() {
    for (let pass = 0; pass < 10; pass++) {
      const view = yield* o.get(runId)
      if (view.status !== "pending" && view.status !== "created") return
      yield* o.executePending()
    }
  })

/** child pipelines */
export const children = (backend: Backend) =>
  describe(`child pipelines on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("a child step starts a run of the child pipeline, ticked at once, and finishes with its last step's output", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { onboarding, provisioning } = family(log)
          const o = yield* orchestrator([onboarding, provisioning])
          const parentId = yield* o.start(onboarding, { input: { email: "ada@example.com", fail: false, cancel: false } })
          // the child's steps finish at once: its first tick, in the parent's onStart, ends it
          const parent = yield* o.get(parentId)
          expect(parent.status).toBe("finished")
          expect(parent.steps[0].output).toEqual({ gigabytes: 100 })
          expect(log.calls).toEqual(["Bucket ada@example.com", "Welcome 100 GB"])
          expect(parent.children).toHaveLength(1)
          const childId = parent.children![0].runId
          expect(parent.children![0].step).toBe("Provision")
          // the child is a run of its own, listed under its parent, that knows its parent
          const page = yield* o.list({ parent: parentId })
          expect(page.runs.map((r) => r.id)).toEqual([childId])
          expect((yield* o.list({ parent: childId })).runs).toEqual([])
          const childView = yield* o.get(childId)
          expect(childView.pipeline).toBe("Provisioning")
          expect(childView.status).toBe("finished")
          expect(childView.parent).toEqual({ runId: parentId, step: "Provision" })
          expect(childView.input).toEqual({ account: "ada@example.com", fail: false, cancel: false })
          expect(Mermaid.pipeline(onboarding)).toContain(`s0[["Provision<br/>child: Provisioning"]]`)
        })
      ))

    it.effect("a child that waits: the parent waits, and the child's end wakes it at once (before its recheck)", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { onboarding, provisioning } = family(log, { waits: 1, after: Duration.seconds(20) })
          const o = yield* orchestrator([onboarding, provisioning])
          const parentId = yield* o.start(onboarding, { input: { email: "w", fail: false, cancel: false } })
          let parent = yield* o.get(parentId)
          expect(statuses(parent)).toEqual(["pending", "created"])
          // the parent looks again at its recheck (1 minute) at the latest
          expect(parent.wakeAt.getTime()).toBe(60_000)
          const childId = parent.children![0].runId
          expect((yield* o.get(childId)).wakeAt.getTime()).toBe(20_000)
          yield* TestClock.adjust("20 seconds")
          // the child's tick ends it, and signals its parent: due now, not at its recheck
          yield* o.executePending()
          expect((yield* o.get(childId)).status).toBe("finished")
          parent = yield* o.get(parentId)
          if (parent.status === "pending") {
            expect(parent.wakeAt.getTime()).toBeLessThanOrEqual(20_000)
            yield* o.executePending()
            parent = yield* o.get(parentId)
          }
          expect(parent.status).toBe("finished")
          const history = yield* o.history(parentId)
          expect(history.some((e) => e.type === "signalled" && e.step === "Provision")).toBe(true)
        })
      ))

    it.effect("a child ended by a process that does not register its parent: the parent finds it at its recheck", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { onboarding, provisioning } = family(log, { waits: 1, after: Duration.seconds(20) })
          const o = yield* orchestrator([onboarding, provisioning])
          // a worker of the child pipeline only: it cannot signal the parent
          const other = yield* orchestrator([provisioning])
          const parentId = yield* o.start(onboarding, { input: { email: "x", fail: false, cancel: false } })
          const childId = (yield* o.get(parentId)).children![0].runId
          yield* TestClock.adjust("20 seconds")
          yield* other.executePending()
          expect((yield* o.get(childId)).status).toBe("finished")
          let parent = yield* o.get(parentId)
          expect(parent.status).toBe("pending")
          expect(parent.wakeAt.getTime()).toBe(60_000)
          yield* TestClock.adjust("40 seconds")
          yield* o.executePending()
          parent = yield* o.get(parentId)
          expect(parent.status).toBe("finished")
          expect(parent.steps[0].output).toEqual({ gigabytes: 100 })
        })
      ))

    it.effect("the child fails: the step and the parent fail with its error; the child is cancelled: so is the parent", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { onboarding, provisioning } = family(log)
          const o = yield* orchestrator([onboarding, provisioning])
          const failing = yield* o.start(onboarding, { input: { email: "f", fail: true, cancel: false } })
          yield* untilEnded(o, failing)
          const failed = yield* o.get(failing)
          expect(failed.status).toBe("failed")
          expect(failed.error?.message).toContain("no bucket for you")
          const cancelling = yield* o.start(onboarding, { input: { email: "c", fail: false, cancel: true } })
          yield* untilEnded(o, cancelling)
          const cancelled = yield* o.get(cancelling)
          expect(cancelled.status).toBe("cancelled")
          expect(cancelled.steps[0].error?.message).toContain("not needed")
          expect(log.calls.some((c) => c.startsWith("Welcome"))).toBe(false)
        })
      ))

    it.effect("cancelling the parent cancels its child", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { onboarding, provisioning } = family(log, { waits: 5 })
          const o = yield* orchestrator([onboarding, provisioning])
          const parentId = yield* o.start(onboarding, { input: { email: "w", fail: false, cancel: false } })
          yield* o.executePending()
          const childId = (yield* o.get(parentId)).children![0].runId
          expect((yield* o.get(childId)).status).toBe("pending")
          yield* o.cancel(parentId, "customer left")
          expect((yield* o.get(parentId)).status).toBe("cancelled")
          const childView = yield* o.get(childId)
          expect(childView.status).toBe("cancelled")
          expect(childView.error?.message).toContain("customer left")
        })
      ))
  })
