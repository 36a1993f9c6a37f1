/** Parallel groups (`parallel`), on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Schedule, Schema, TestClock } from "effect"
import { Mermaid, parallel, pipeline, step, Step, when } from "prorch"
import type { Backend } from "../backends.js"
import { Boom, recorder, runOn, settle, statuses } from "../kit.js"

const minutes = (n: number) => n * 60_000

/**
 * Onboarding: CreateAccount, then three members (Welcome finishes at once, Storage waits `storage`
 * minutes, Sales waits for a signal), then Activate reading two members' outputs
 */
const onboarding = (log: ReturnType<typeof recorder>, options: { readonly storage?: number } = {}) => {
  const account = step("CreateAccount", {
    output: Schema.String,
    onContinue: (ctx) => Effect.as(log.record("CreateAccount"), Step.finish(`acct-${ctx.runId.slice(-4)}`))
  })
  const welcome = step("SendWelcome", {
    needs: { account },
    output: Schema.String,
    onStart: () => log.record("SendWelcome.onStart"),
    onContinue: (ctx) => Effect.as(log.record("SendWelcome"), Step.finish(`mail to ${ctx.outputs.account}`))
  })
  const storage = step("ProvisionStorage", {
    output: Schema.Number,
    onStart: () => log.record("ProvisionStorage.onStart"),
    onContinue: (ctx) =>
      Effect.as(
        log.record("ProvisionStorage"),
        ctx.continuations < 1 && (options.storage ?? 0) > 0
          ? Step.wait({ after: Duration.minutes(options.storage ?? 0) })
          : Step.finish(100)
      )
  })
  const sales = step("NotifySales", {
    signal: Schema.String,
    onStart: () => log.record("NotifySales.onStart"),
    onContinue: (ctx) =>
      Effect.as(
        log.record(`NotifySales ${ctx.signals.join(",")}`),
        ctx.signals.length > 0 ? Step.finish() : Step.wait({ after: Duration.hours(1) })
      )
  })
  const activate = step("Activate", {
    needs: { welcome, storage },
    onContinue: (ctx) =>
      Effect.as(log.record(`Activate ${ctx.outputs.welcome} ${ctx.outputs.storage}`), Step.finish())
  })
  return {
    p: pipeline("Onboarding", account, parallel(welcome, storage, sales), activate),
    sales
  }
}

/** parallel groups */
export const parallelGroups = (backend: Backend) =>
  describe(`parallel groups on ${backend.name}`, () => {
    const run = runOn(backend)

    it.effect("members start in one tick, each onStart then onContinue; the next element starts when the last member finishes", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { p, sales } = onboarding(log)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          let view = yield* o.get(runId)
          // Welcome and Storage finished in the first tick; Sales waits for its signal
          expect(statuses(view)).toEqual(["finished", "finished", "finished", "pending", "created"])
          expect(view.status).toBe("pending")
          expect(view.wakeAt.getTime()).toBe(minutes(60))
          for (const name of ["SendWelcome", "ProvisionStorage", "NotifySales"]) {
            expect(log.calls.indexOf(`${name}.onStart`)).toBeGreaterThan(log.calls.indexOf("CreateAccount"))
          }
          expect(log.count("NotifySales ")).toBe(1)
          expect(log.calls.some((c) => c.startsWith("Activate"))).toBe(false)
          // the signal wakes the run at once; only the member it is for is continued
          yield* o.signal(runId, sales, "hello")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1 })
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["finished", "finished", "finished", "finished", "finished"])
          expect(log.count("SendWelcome")).toBe(1)
          expect(log.count("ProvisionStorage")).toBe(1)
          expect(log.count("NotifySales hello")).toBe(1)
          // a later element reads the members' outputs
          expect(log.calls.filter((c) => c.startsWith("Activate"))).toEqual([`Activate mail to acct-${runId.slice(-4)} 100`])
          const history = yield* o.history(runId)
          const started = history.filter((e) => e.type === "started").map((e) => e.step)
          expect(started).toEqual(["CreateAccount", "SendWelcome", "ProvisionStorage", "NotifySales", "Activate"])
        })
      ))

    it.effect("members' handlers run concurrently within the tick", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const handshake = yield* Deferred.make<void>()
          // A waits for B inside its handler: called one after the other, A would never return
          const a = step("A", { onContinue: () => Effect.as(Deferred.await(handshake), Step.finish()) })
          const b = step("B", { onContinue: () => Effect.as(Deferred.succeed(handshake, undefined), Step.finish()) })
          const p = pipeline("Handshake", parallel(a, b))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))

    it.effect("members wait on their own timers: each is continued when its own time comes, the run when the first is due", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const wait = (name: string, after: number) =>
            step(name, {
              onContinue: (ctx) =>
                Effect.as(
                  log.record(name),
                  ctx.continuations === 0 ? Step.wait({ after: Duration.minutes(after) }) : Step.finish()
                )
            })
          const p = pipeline("Timers", parallel(wait("One", 1), wait("Five", 5)), step("After", {
            onContinue: () => Effect.as(log.record("After"), Step.finish())
          }))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(minutes(1))
          yield* TestClock.adjust("1 minute")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1 })
          let view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["finished", "pending", "created"])
          // Five was not continued before its time; the run sleeps until then
          expect(log.calls).toEqual(["One", "Five", "One"])
          expect(view.wakeAt.getTime()).toBe(minutes(5))
          yield* TestClock.adjust("3 minutes")
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust("1 minute")
          expect(yield* o.executePending()).toMatchObject({ ticked: 1 })
          view = yield* o.get(runId)
          // the next element started in the tick in which the last member finished
          expect(view.status).toBe("finished")
          expect(log.calls).toEqual(["One", "Five", "One", "Five", "After"])
        })
      ))

    it.effect("a member's retries are its own: it is retried at its schedule's time while the others wait", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          let failures = 0
          const flaky = step("Flaky", {
            onContinue: () =>
              Effect.suspend(() =>
                failures++ < 2 ? Effect.fail(new Boom({ reason: "not yet" })) : Effect.as(log.record("Flaky"), Step.finish())
              )
          }).pipe(Step.withRetry(Schedule.spaced("10 seconds")))
          const slow = step("Slow", {
            onContinue: (ctx) =>
              Effect.as(log.record("Slow"), ctx.continuations === 0 ? Step.wait({ after: Duration.minutes(1) }) : Step.finish())
          })
          const p = pipeline("Retries", parallel(flaky, slow))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          let view = yield* o.get(runId)
          expect(view.steps[0]).toMatchObject({ status: "pending", attempt: 2 })
          expect(view.wakeAt.getTime()).toBe(10_000)
          yield* TestClock.adjust("10 seconds")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.steps[0]).toMatchObject({ status: "pending", attempt: 3 })
          yield* TestClock.adjust("10 seconds")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["finished", "pending"])
          // Slow was called once only, before its own time
          expect(log.calls).toEqual(["Slow", "Flaky"])
          expect(view.wakeAt.getTime()).toBe(minutes(1))
          yield* TestClock.adjust("40 seconds")
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("finished")
        })
      ))

    it.effect("a member that fails ends the group: the handler of another in flight is interrupted, the others are cancelled, the run fails", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const blocked = yield* Deferred.make<void>()
          const hanging = step("Hanging", {
            onContinue: () =>
              Effect.zipRight(Deferred.succeed(blocked, undefined), Effect.never).pipe(
                Effect.onInterrupt(() => log.record("Hanging interrupted"))
              )
          })
          const failing = step("Failing", {
            onContinue: () => Effect.zipRight(Deferred.await(blocked), Effect.fail(new Boom({ reason: "disk full" })))
          })
          const waiting = step("Waiting", { onContinue: () => Effect.succeed(Step.wait({ after: Duration.hours(1) })) })
          const after = step("After", { onStart: () => log.record("After.onStart") })
          const p = pipeline("Failure", parallel(hanging, failing, waiting), after)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(statuses(view)).toEqual(["cancelled", "failed", "cancelled", "created"])
          expect(view.steps[0].error?.message).toBe(`member "Failing" of the group failed`)
          // the run takes the failed member's error
          expect(view.error).toEqual(view.steps[1].error)
          expect(JSON.stringify(view.steps[1].error?.cause)).toContain("disk full")
          expect(log.calls).toEqual(["Hanging interrupted"])
          yield* TestClock.adjust("2 hours")
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
        })
      ))

    it.effect("a member that cancels ends the group and cancels the run", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const a = step("A", { onContinue: () => Effect.succeed(Step.wait({ after: Duration.hours(1) })) })
          const b = step("B", { onContinue: () => Effect.succeed(Step.cancel("not needed")) })
          const p = pipeline("Cancelling", parallel(a, b))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(statuses(view)).toEqual(["cancelled", "cancelled"])
          expect(view.steps[0].error?.message).toBe(`member "B" of the group was cancelled`)
        })
      ))

    it.effect("an operator's cancel cancels every member that has not ended", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { p } = onboarding(log, { storage: 5 })
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect(statuses(yield* o.get(runId))).toEqual(["finished", "finished", "pending", "pending", "created"])
          yield* o.cancel(runId, "customer left")
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(statuses(view)).toEqual(["finished", "finished", "cancelled", "cancelled", "created"])
        })
      ))

    it.effect("a retry of a run whose member failed resumes that member and the members its failure cancelled", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          let fail = true
          const failing = step("Failing", {
            onContinue: (ctx) =>
              ctx.continuations === 0
                ? Effect.succeed(Step.wait({ after: Duration.minutes(1) }))
                : Effect.suspend(() => (fail ? Effect.fail(new Boom({ reason: "down" })) : Effect.as(log.record("Failing"), Step.finish())))
          })
          const waiting = step("Waiting", {
            onContinue: (ctx) =>
              Effect.as(log.record("Waiting"), ctx.continuations === 0 ? Step.wait({ after: Duration.minutes(5) }) : Step.finish())
          })
          const done = step("Done", { onContinue: () => Effect.as(log.record("Done"), Step.finish()) })
          const p = pipeline("Resume", step("First", {}), parallel(failing, waiting, done))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect(statuses(yield* o.get(runId))).toEqual(["finished", "pending", "pending", "finished"])
          yield* TestClock.adjust("1 minute")
          yield* o.executePending()
          expect(statuses(yield* o.get(runId))).toEqual(["finished", "failed", "cancelled", "finished"])
          fail = false
          yield* o.retry(runId)
          yield* o.executePending()
          let view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["finished", "finished", "pending", "finished"])
          // the resumed member keeps its own wake-up time
          expect(view.wakeAt.getTime()).toBe(minutes(5))
          yield* TestClock.adjust("4 minutes")
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(log.calls).toEqual(["Waiting", "Done", "Failing", "Waiting"])
          // the finished member is not run again
          expect(log.count("Done")).toBe(1)
        })
      ))

    it.effect("a conditional member is skipped while the others run; a member with a decode problem writes nothing", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const a = when(() => false, step("Maybe", { onStart: () => log.record("Maybe.onStart") }))
          const b = step("Sure", { onContinue: () => Effect.as(log.record("Sure"), Step.finish()) })
          const p = pipeline("Conditional", parallel(a, b), step("Last", {
            needs: { a },
            onContinue: (ctx) => Effect.as(log.record(`Last ${ctx.outputs.a._tag}`), Step.finish())
          }))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["skipped", "finished", "finished"])
          expect(log.calls).toEqual(["Sure", "Last None"])
        })
      ))

    it.effect("when(predicate, group): every member is skipped when it is false, all run when it holds; readers get Options", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const Plan = Schema.Struct({ enterprise: Schema.Boolean })
          const sales = step("Sales", {
            input: Plan,
            output: Schema.String,
            onStart: () => log.record("Sales.onStart"),
            onContinue: () => Effect.as(log.record("Sales"), Step.finish("told"))
          })
          const manager = step("Manager", { onContinue: () => Effect.as(log.record("Manager"), Step.finish()) })
          const extras = when((ctx) => ctx.input.enterprise, parallel(sales, manager))
          const [conditionalSales] = extras.members
          const last = step("Last", {
            needs: { sales: conditionalSales },
            onContinue: (ctx) => Effect.as(log.record(`Last ${ctx.outputs.sales._tag}`), Step.finish())
          })
          const p = pipeline("Plans", { input: Plan }, step("First", {}), extras, last)
          const o = yield* orchestrator([p])
          const skipped = yield* o.get(yield* o.start(p, { input: { enterprise: false } }))
          expect(skipped.status).toBe("finished")
          expect(statuses(skipped)).toEqual(["finished", "skipped", "skipped", "finished"])
          expect(log.calls).toEqual(["Last None"])
          const ran = yield* o.get(yield* o.start(p, { input: { enterprise: true } }))
          expect(statuses(ran)).toEqual(["finished", "finished", "finished", "finished"])
          expect(log.calls.slice(1).sort()).toEqual(["Last Some", "Manager", "Sales", "Sales.onStart"].sort())
          expect(log.calls[log.calls.length - 1]).toBe("Last Some")
        })
      ))

    it.effect("a worker ticks a group run to its end; the pictures draw the group as a subgraph", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const { p, sales } = onboarding(log, { storage: 2 })
          const o = yield* orchestrator([p])
          const runId = yield* o.create(p)
          yield* Effect.forkScoped(o.worker({ concurrency: 2, pollInterval: "1 second" }))
          yield* settle
          yield* TestClock.adjust("1 second")
          yield* settle
          yield* o.signal(runId, sales, "ok")
          yield* settle
          yield* TestClock.adjust("2 minutes")
          yield* settle
          yield* TestClock.adjust("1 second")
          yield* settle
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(log.count("ProvisionStorage")).toBe(2)
          const picture = Mermaid.pipeline(p)
          expect(picture).toContain("subgraph")
          expect(Mermaid.run(view, { pipeline: p })).toContain("subgraph")
        })
      ))
  })
