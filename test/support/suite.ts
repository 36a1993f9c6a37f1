import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Data, Duration, Effect, Either, Exit, Layer, Option, Schedule, Schema, type Scope, TestClock } from "effect"
import { Orchestrator, Pipeline, pipeline, Repository, type Run, step, Step } from "prorch"
import * as Rules from "../../src/internal/rules.js"
import type { Backend } from "./backends.js"

/** what handlers did, in order */
export const recorder = () => {
  const calls: Array<string> = []
  return {
    calls,
    record: (entry: string) => Effect.sync(() => void calls.push(entry)),
    count: (entry: string) => calls.filter((call) => call === entry).length
  }
}

let inFlight = 0

/** the repository, counting its operations in flight (to know when the storage is quiet) */
const tracked = (service: Repository.Service): Repository.Service =>
  Object.fromEntries(
    Object.entries(service).map(([key, value]) => [
      key,
      typeof value !== "function" ? value : (...args: Array<unknown>) =>
        Effect.suspend(() => {
          inFlight++
          return Effect.ensuring(value(...args), Effect.sync(() => void inFlight--))
        })
    ])
  ) as unknown as Repository.Service

/**
 * Let forked fibers run until they are all blocked on the TestClock or on each other, and no
 * repository operation is in flight (storage over a network answers in real time: wait for it).
 */
export const settle = Effect.gen(function*() {
  let quiet = 0
  for (let round = 0; round < 20_000 && quiet < 3; round++) {
    for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
    yield* TestClock.adjust(0)
    if (inFlight === 0) {
      quiet++
    } else {
      quiet = 0
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
    }
  }
})

/** advance the TestClock in small steps, letting fibers (and the storage) settle in between */
export const advance = (total: Duration.DurationInput, step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const end = Duration.toMillis(Duration.decode(total))
    const by = Duration.toMillis(Duration.decode(step))
    // what was started before runs up to its first sleep at the current time
    yield* settle
    for (let t = 0; t < end; t += by) {
      yield* TestClock.adjust(by)
      yield* settle
    }
  })

/** build a repository from the backend and orchestrators over it, in one scope */
export const withRepository = <A, E>(
  layer: Layer.Layer<Repository.Repository, unknown>,
  body: (orchestrator: <const P extends ReadonlyArray<Pipeline.Any>>(
    pipelines: P,
    options?: Orchestrator.Options
  ) => Effect.Effect<Orchestrator.Service, unknown>, repository: Repository.Service) => Effect.Effect<A, E, Scope.Scope>
): Effect.Effect<A, unknown> =>
  Effect.scoped(
    Effect.gen(function*() {
      const built = yield* Layer.build(layer)
      const repository = tracked(Context.get(built, Repository.Repository))
      const context = Context.add(built, Repository.Repository, repository)
      return yield* body(
        (pipelines, options) =>
          Orchestrator.make(pipelines, options).pipe(Effect.provide(context)) as Effect.Effect<
            Orchestrator.Service,
            unknown
          >,
        repository
      )
    })
  )

class Boom extends Data.TaggedError("Boom")<{ readonly reason: string }> {}

const statuses = (view: { steps: ReadonlyArray<{ status: string }> }) => view.steps.map((s) => s.status)

/** The behavioural suite: the original's semantics, step by step, against one backend. */
export const behaviour = (backend: Backend) =>
  describe(`behaviour on ${backend.name}`, () => {
    const run = <A, E>(
      body: Parameters<typeof withRepository<A, E>>[1]
    ) => withRepository(backend.fresh(), body)

    /** three steps: the first finishes at once, the second waits `waits` times, the third finishes */
    const backupPipeline = (log: ReturnType<typeof recorder>, waits = 1) => {
      const generation = step("BackupGeneration", {
        onStart: () => log.record("BackupGeneration.onStart"),
        onContinue: () => Effect.as(log.record("BackupGeneration.onContinue"), Step.finish())
      })
      const transfer = step("BackupTransfer", {
        state: Schema.Struct({ jobId: Schema.String }),
        output: Schema.Struct({ location: Schema.String }),
        onStart: (ctx) => Effect.as(log.record("BackupTransfer.onStart"), { jobId: `job-${ctx.stepRunId}` }),
        onContinue: (ctx) =>
          Effect.as(
            log.record("BackupTransfer.onContinue"),
            ctx.continuations < waits ? Step.wait() : Step.finish({ location: `s3://backups/${ctx.state.jobId}` })
          )
      })
      const notification = step("ProcessCompletionNotification", {
        needs: { transfer },
        onStart: () => log.record("ProcessCompletionNotification.onStart"),
        onContinue: (ctx) =>
          Effect.as(log.record(`ProcessCompletionNotification.onContinue ${ctx.outputs.transfer.location}`), Step.finish())
      })
      return pipeline("BackupAutomationPipeline", generation, transfer, notification)
    }

    it.effect("start creates the run and ticks it: steps run while they finish, a waiting step stays pending", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 2)
          const o = yield* orchestrator([backup])
          const runId = yield* o.start(backup)
          let view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(statuses(view)).toEqual(["finished", "pending", "created"])
          expect(view.currentStep).toBe("BackupTransfer")
          expect(log.calls).toEqual([
            "BackupGeneration.onStart",
            "BackupGeneration.onContinue",
            "BackupTransfer.onStart",
            "BackupTransfer.onContinue"
          ])

          // waiting steps stay pending across passes; onStart never runs again
          const first = yield* o.executePending()
          expect(first).toMatchObject({ ticked: 1, waiting: 1, finished: 0, errors: [] })
          view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["finished", "pending", "created"])
          expect(log.count("BackupTransfer.onStart")).toBe(1)
          expect(log.count("BackupTransfer.onContinue")).toBe(2)

          // the pass in which the step finishes starts the next step and finishes the run
          const second = yield* o.executePending()
          expect(second).toMatchObject({ ticked: 1, finished: 1, errors: [] })
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["finished", "finished", "finished"])
          expect(view.steps[1].output).toEqual({ location: `s3://backups/job-${view.steps[1].id}` })
          expect(view.steps[1].state).toEqual({ jobId: `job-${view.steps[1].id}` })
          expect(log.calls.slice(-3)).toEqual([
            "BackupTransfer.onContinue",
            "ProcessCompletionNotification.onStart",
            `ProcessCompletionNotification.onContinue s3://backups/job-${view.steps[1].id}`
          ])
          for (const name of ["BackupGeneration", "BackupTransfer", "ProcessCompletionNotification"]) {
            expect(log.count(`${name}.onStart`)).toBe(1)
          }

          // an ended run is never ticked again
          const calls = log.calls.length
          const third = yield* o.executePending()
          expect(third).toMatchObject({ ticked: 0, errors: [] })
          expect(log.calls.length).toBe(calls)
          const tick = yield* o.tick(runId)
          expect(tick).toMatchObject({ status: "finished", ranHandlers: false })
          expect(log.calls.length).toBe(calls)
        })
      ))

    it.effect("a run whose steps finish at once finishes in the tick of start", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 0)
          const o = yield* orchestrator([backup])
          // another run, only enqueued: its history is its own
          yield* o.create(backup)
          const runId = yield* o.start(backup)
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["finished", "finished", "finished"])
          expect(log.calls).toHaveLength(6)
          const history = yield* o.history(runId)
          expect(history.map((e) => `${e.type}:${e.step ?? "-"}`)).toEqual([
            "created:-",
            "started:BackupGeneration",
            "continued:BackupGeneration",
            "finished:BackupGeneration",
            "started:BackupTransfer",
            "continued:BackupTransfer",
            "finished:BackupTransfer",
            "started:ProcessCompletionNotification",
            "continued:ProcessCompletionNotification",
            "finished:ProcessCompletionNotification",
            "finished:-"
          ])
          expect(new Set(history.map((e) => e.worker))).toEqual(new Set([o.owner]))
          // each event's position in the run's log, from 1
          expect(history.map((e) => e.seq)).toEqual(history.map((_, i) => i + 1))
        })
      ))

    it.effect("create only enqueues: the next pass picks created runs up", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 0)
          const o = yield* orchestrator([backup])
          const ids = [yield* o.create(backup), yield* o.create(backup)]
          expect(log.calls).toEqual([])
          for (const id of ids) expect((yield* o.get(id)).status).toBe("created")
          const summary = yield* o.executePending()
          expect(summary).toMatchObject({ ticked: 2, finished: 2, errors: [] })
          for (const id of ids) expect((yield* o.get(id)).status).toBe("finished")
          expect(log.count("BackupGeneration.onStart")).toBe(2)
        })
      ))

    it.effect("Step.fail fails the step and the run; later steps never start", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const first = step("First", { onStart: () => log.record("First.onStart") })
          const second = step("Second", {
            onStart: () => log.record("Second.onStart"),
            onContinue: () => Effect.succeed(Step.fail("disk full", { freeBytes: 0 }))
          })
          const third = step("Third", { onStart: () => log.record("Third.onStart") })
          const p = pipeline("Failing", first, second, third)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(statuses(view)).toEqual(["finished", "failed", "created"])
          expect(view.error?.message).toBe("disk full")
          expect(view.steps[1].error).toMatchObject({ message: "disk full", cause: { freeBytes: 0 } })
          expect(log.count("Third.onStart")).toBe(0)
          yield* o.executePending()
          yield* o.executePending()
          expect(log.count("Third.onStart")).toBe(0)
          expect((yield* o.get(runId)).status).toBe("failed")
        })
      ))

    it.effect("Step.cancel cancels the step and the run; later steps never start", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const first = step("First", {
            onContinue: (ctx) => Effect.succeed(ctx.continuations === 0 ? Step.wait() : Step.cancel("not needed"))
          })
          const second = step("Second", { onStart: () => log.record("Second.onStart") })
          const p = pipeline("Cancelling", first, second)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect((yield* o.get(runId)).status).toBe("pending")
          const summary = yield* o.executePending()
          expect(summary).toMatchObject({ ticked: 1, cancelled: 1 })
          const view = yield* o.get(runId)
          expect(view.status).toBe("cancelled")
          expect(statuses(view)).toEqual(["cancelled", "created"])
          expect(view.steps[0].error?.message).toBe("not needed")
          yield* o.executePending()
          expect(log.count("Second.onStart")).toBe(0)
        })
      ))

    it.effect("a failing handler (typed error or defect) fails its step with the cause recorded; the pass goes on", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const typed = pipeline(
            "TypedError",
            step("Explodes", {
              onContinue: (ctx) => ctx.continuations === 0 ? Effect.succeed(Step.wait()) : new Boom({ reason: "typed" })
            })
          )
          const defect = pipeline(
            "Defect",
            step("Throws", {
              onContinue: (ctx) =>
                ctx.continuations === 0 ? Effect.succeed(Step.wait()) : Effect.sync(() => {
                  throw new Error("thrown by the handler")
                })
            })
          )
          const fine = backupPipeline(log, 1)
          const o = yield* orchestrator([typed, defect, fine])
          const a = yield* o.start(typed)
          const b = yield* o.start(defect)
          const c = yield* o.start(fine)
          const summary = yield* o.executePending({ concurrency: 3 })
          expect(summary).toMatchObject({ ticked: 3, failed: 2, finished: 1, errors: [] })
          const viewA = yield* o.get(a)
          expect(viewA.status).toBe("failed")
          expect(viewA.steps[0].error?.message).toBe("Boom")
          expect(viewA.steps[0].error?.pretty).toContain("Boom")
          expect(viewA.steps[0].error?.cause).toMatchObject({ _tag: "Fail", error: { _tag: "Boom", reason: "typed" } })
          const viewB = yield* o.get(b)
          expect(viewB.status).toBe("failed")
          expect(viewB.steps[0].error?.message).toBe("thrown by the handler")
          expect(viewB.steps[0].error?.cause).toMatchObject({ _tag: "Die" })
          expect((yield* o.get(c)).status).toBe("finished")
        })
      ))

    it.effect("typed input, state and outputs are persisted, decoded and handed to the handlers", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const Input = Schema.Struct({ path: Schema.String, at: Schema.Date })
          const seen: Array<unknown> = []
          const archive = step("Archive", {
            input: Input,
            state: Schema.Struct({ parts: Schema.Number }),
            output: Schema.Struct({ file: Schema.String, at: Schema.Date }),
            onStart: (ctx) => Effect.succeed({ parts: ctx.input.path.length }),
            onContinue: (ctx) =>
              Effect.sync(() => {
                seen.push({ input: ctx.input, state: ctx.state })
                return ctx.state.parts > 3
                  ? Step.wait({ state: { parts: ctx.state.parts - 3 } })
                  : Step.finish({ file: `${ctx.input.path}.tar`, at: ctx.input.at })
              })
          })
          const upload = step("Upload", {
            input: Input,
            needs: { archive },
            output: Schema.Struct({ url: Schema.String }),
            onContinue: (ctx) =>
              Effect.sync(() => {
                expect(ctx.outputs.archive.at).toBeInstanceOf(Date)
                return Step.finish({ url: `https://x/${ctx.outputs.archive.file}` })
              })
          })
          const p = pipeline("Typed", { input: Input }, archive, upload)
          const o = yield* orchestrator([p])
          const at = new Date("2026-01-02T03:04:05.000Z")
          const runId = yield* o.start(p, { input: { path: "/data/x", at } })
          while ((yield* o.get(runId)).status === "pending") yield* o.executePending()
          const view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(view.input).toEqual({ path: "/data/x", at })
          expect(view.steps[0].state).toEqual({ parts: 1 })
          expect(view.steps[0].output).toEqual({ file: "/data/x.tar", at })
          expect(view.steps[1].output).toEqual({ url: "https://x//data/x.tar" })
          expect(seen).toEqual([
            { input: { path: "/data/x", at }, state: { parts: 7 } },
            { input: { path: "/data/x", at }, state: { parts: 4 } },
            { input: { path: "/data/x", at }, state: { parts: 1 } }
          ])
        })
      ))

    it.effect("a value that does not encode is a handler failure, recorded on the step", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const p = pipeline(
            "BadOutput",
            step("Bad", {
              output: Schema.Struct({ n: Schema.Number.pipe(Schema.positive()) }),
              onContinue: () => Effect.succeed(Step.finish({ n: -1 }))
            })
          )
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(view.steps[0].error?.message).toContain("output of step \"Bad\"")
        })
      ))

    it.effect("the same idempotency key returns the same run", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 5)
          const o = yield* orchestrator([backup])
          const a = yield* o.start(backup, { idempotencyKey: "nightly-2026-11-27" })
          const b = yield* o.start(backup, { idempotencyKey: "nightly-2026-11-27" })
          const c = yield* o.create(backup, { idempotencyKey: "nightly-2026-11-27" })
          const d = yield* o.start(backup, { idempotencyKey: "nightly-2026-11-28" })
          expect(b).toBe(a)
          expect(c).toBe(a)
          expect(d).not.toBe(a)
          expect(log.count("BackupGeneration.onStart")).toBe(2)
          expect((yield* o.get(a)).idempotencyKey).toBe("nightly-2026-11-27")
          const page = yield* o.list({ pipeline: "BackupAutomationPipeline" })
          expect(page.runs.map((r) => r.id).sort()).toEqual([a, d].sort())
        })
      ))

    it.effect("durable timers: Step.wait({ after }) is due only when the clock has passed it", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const poll = step("Poll", {
            onContinue: (ctx) =>
              Effect.as(
                log.record("poll"),
                ctx.continuations < 2 ? Step.wait({ after: Duration.minutes(5) }) : Step.finish()
              )
          })
          const p = pipeline("Timer", poll)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          expect(log.count("poll")).toBe(1)
          expect((yield* o.get(runId)).wakeAt.getTime()).toBe(5 * 60_000)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust(Duration.minutes(4))
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust(Duration.minutes(1))
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, waiting: 1 })
          expect(log.count("poll")).toBe(2)
          yield* TestClock.adjust(Duration.minutes(5))
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1 })
          expect(log.count("poll")).toBe(3)
        })
      ))

    it.effect("durable timers: Step.wait({ until }) is due only once the clock has reached that instant", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          // two instants of the TestClock: 00:07:30, then an hour later
          const first = new Date(7 * 60_000 + 30_000)
          const second = new Date(first.getTime() + 60 * 60_000)
          const deadline = step("Deadline", {
            onContinue: (ctx) =>
              Effect.as(
                log.record("deadline"),
                ctx.continuations === 0
                  ? Step.wait({ until: first })
                  : ctx.continuations === 1
                  ? Step.wait({ until: second })
                  : Step.finish()
              )
          })
          const p = pipeline("Deadline", deadline)
          const o = yield* orchestrator([p])
          // started a minute in: the timer is the instant given, not a delay from now
          yield* TestClock.adjust(Duration.minutes(1))
          const runId = yield* o.start(p)
          expect(log.count("deadline")).toBe(1)
          let view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(view.wakeAt.getTime()).toBe(first.getTime())
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })

          // one millisecond before the instant: not due
          yield* TestClock.setTime(first.getTime() - 1)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          expect(log.count("deadline")).toBe(1)
          expect((yield* o.tick(runId)).ranHandlers).toBe(false)
          expect(log.count("deadline")).toBe(1)

          // at the instant: due, continued, and waits for the next one
          yield* TestClock.setTime(first.getTime())
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, waiting: 1, errors: [] })
          expect(log.count("deadline")).toBe(2)
          view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(view.wakeAt.getTime()).toBe(second.getTime())

          yield* TestClock.setTime(second.getTime() - 1)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          expect(log.count("deadline")).toBe(2)

          // well after the instant: due, and the step and the run finish
          yield* TestClock.setTime(second.getTime() + 5 * 60_000)
          expect(yield* o.executePending()).toMatchObject({ ticked: 1, finished: 1, errors: [] })
          expect(log.count("deadline")).toBe(3)
          view = yield* o.get(runId)
          expect(view.status).toBe("finished")
          expect(statuses(view)).toEqual(["finished"])
          const waited = (yield* o.history(runId)).filter((e) => e.type === "waited")
          expect(waited.map((e) => e.data)).toEqual([
            { until: first.toISOString() },
            { until: second.toISOString() }
          ])
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
        })
      ))

    it.effect("the history tells a plain Step.wait() (the next pass) from a timer", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const p = pipeline("Waits", step("W", {
            onContinue: (ctx) =>
              Effect.succeed(
                ctx.continuations === 0 ? Step.wait() : ctx.continuations === 1 ? Step.wait({ after: "1 minute" }) : Step.finish()
              )
          }))
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          yield* o.executePending()
          yield* TestClock.adjust("1 minute")
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("finished")
          const waited = (yield* o.history(runId)).filter((e) => e.type === "waited")
          expect(waited.map((e) => e.data)).toEqual([
            { next: "pass", until: new Date(0).toISOString() },
            { until: new Date(60_000).toISOString() }
          ])
        })
      ))

    it.effect("retries: attempts are persisted, each retry is a durable wake-up, exhausted retries fail with the last cause", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const attempts: Array<number> = []
          const flaky = step("Flaky", {
            onContinue: (ctx) =>
              Effect.suspend(() => {
                attempts.push(ctx.attempt)
                return new Boom({ reason: `attempt ${ctx.attempt}` })
              }),
            retry: Schedule.exponential(Duration.seconds(10)).pipe(Schedule.intersect(Schedule.recurs(2)))
          })
          const p = pipeline("Retrying", flaky)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          let view = yield* o.get(runId)
          expect(view.status).toBe("pending")
          expect(view.steps[0].attempt).toBe(2)
          expect(view.wakeAt.getTime()).toBe(10_000)
          expect(yield* o.executePending()).toMatchObject({ ticked: 0 })
          yield* TestClock.adjust(Duration.seconds(10))
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.steps[0].attempt).toBe(3)
          expect(view.wakeAt.getTime()).toBe(10_000 + 20_000)
          yield* TestClock.adjust(Duration.seconds(20))
          yield* o.executePending()
          view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(attempts).toEqual([1, 2, 3])
          expect(view.steps[0].error?.cause).toMatchObject({ _tag: "Fail", error: { reason: "attempt 3" } })
          const history = yield* o.history(runId)
          expect(history.filter((e) => e.type === "retried").map((e) => e.attempt)).toEqual([1, 2])
        })
      ))

    it.effect("a failure of onStart is retried and onStart runs again with the same step run id", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const ids: Array<string> = []
          const starting = step("Starting", {
            state: Schema.Struct({ ok: Schema.Boolean }),
            onStart: (ctx) =>
              Effect.suspend(() => {
                ids.push(`${ctx.attempt}:${ctx.stepRunId}`)
                return ctx.attempt < 2 ? new Boom({ reason: "not yet" }) : Effect.succeed({ ok: true })
              }),
            onContinue: (ctx) => Effect.succeed(ctx.state.ok ? Step.finish() : Step.fail("no")),
            retry: Schedule.spaced(Duration.seconds(1))
          })
          const p = pipeline("StartRetry", starting)
          const o = yield* orchestrator([p])
          const runId = yield* o.start(p)
          const view = yield* o.get(runId)
          expect(statuses(view)).toEqual(["created"])
          expect(view.status).toBe("pending")
          yield* TestClock.adjust(Duration.seconds(1))
          yield* o.executePending()
          expect((yield* o.get(runId)).status).toBe("finished")
          const stepId = view.steps[0].id
          expect(ids).toEqual([`1:${stepId}`, `2:${stepId}`])
        })
      ))

    it.effect("a handler that takes longer than its timeout fails with HandlerTimeout", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const slow = step("Slow", {
            onContinue: () => Effect.as(Effect.sleep(Duration.minutes(10)), Step.finish()),
            timeout: Duration.seconds(30)
          })
          const p = pipeline("Timeout", slow)
          const o = yield* orchestrator([p])
          const runId = yield* o.create(p)
          const pass = yield* Effect.fork(o.executePending())
          yield* settle
          yield* TestClock.adjust(Duration.seconds(30))
          const summary = yield* pass.await
          expect(Exit.isSuccess(summary)).toBe(true)
          const view = yield* o.get(runId)
          expect(view.status).toBe("failed")
          expect(view.steps[0].error?.cause).toMatchObject({ _tag: "Fail", error: { _tag: "HandlerTimeout", handler: "onContinue" } })
        })
      ))

    it.effect("a run whose pipeline is not registered is a typed error in the pass summary; the other runs go on", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 0)
          const other = pipeline("Retired", step("Gone", {}))
          const all = yield* orchestrator([backup, other])
          const retired = yield* all.create(other)
          const kept = yield* all.create(backup)
          const some = yield* orchestrator([backup])
          const summary = yield* some.executePending()
          expect(summary.finished).toBe(1)
          expect(summary.errors).toHaveLength(1)
          expect(summary.errors[0].runId).toBe(retired)
          expect(summary.errors[0].error._tag).toBe("UnknownPipeline")
          expect((yield* some.get(kept)).status).toBe("finished")
          expect((yield* some.get(retired)).status).toBe("created")
          // an orchestrator that knows the pipeline picks it up
          expect(yield* all.executePending()).toMatchObject({ finished: 1, errors: [] })
        })
      ))

    it.effect("the storage claims and lists exactly what the shared rules say (due, due order, lease, list filter)", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const p = pipeline("Rules", step("Only", { onContinue: () => Effect.succeed(Step.wait({ after: "1 hour" })) }))
          const q = pipeline("Other", step("Only", { onContinue: () => Effect.succeed(Step.finish()) }))
          const o = yield* orchestrator([p, q])
          // runs due at scattered instants, some started (pending), some ended, some leased
          let seed = 7
          const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647
          const ids: Array<string> = []
          for (let i = 0; i < 30; i++) {
            const at = new Date(Math.floor(random() * 20) * 60_000)
            const kind = random()
            if (kind < 0.2) {
              const id = yield* o.start(q) // ends at once
              ids.push(id)
            } else if (kind < 0.4) {
              ids.push(yield* o.start(p)) // pending, due in an hour
            } else {
              ids.push(yield* o.create(p, { at }))
            }
            yield* TestClock.adjust("1 second")
          }
          yield* TestClock.adjust("30 minutes") // the created runs are due; the pending ones not yet
          const now = yield* Clock.currentTimeMillis
          // another worker holds three of the due runs
          const held = yield* repository.claim({
            owner: "someone-else",
            now,
            leaseExpiresAt: now + 300_000,
            limit: 3,
            names: ["Rules"],
            after: undefined
          })
          expect(held.claimed).toHaveLength(3)
          const records: Array<Run.RunRecord> = []
          for (const id of ids) records.push(Option.getOrThrow(yield* repository.load(id)).run)

          const expectedDue = records.filter((r) => r.name === "Rules" && Rules.isDue(r, now)).sort(Rules.byDueOrder)
          // the rules leave out the held, the not yet due and the ended runs, and keep some
          expect(expectedDue.length).toBeGreaterThan(3)
          expect(records.filter((r) => r.name === "Rules" && !Rules.isDue(r, now)).length).toBeGreaterThan(3)
          const claimed = yield* repository.claim({
            owner: "checker",
            now,
            leaseExpiresAt: now + 60_000,
            limit: 100,
            names: ["Rules"],
            after: undefined
          })
          expect(claimed.claimed.map((c) => c.snapshot.run.uuid)).toEqual(expectedDue.map((r) => r.uuid))
          // the lease a claim takes
          for (const c of claimed.claimed) {
            const before = records.find((r) => r.uuid === c.snapshot.run.uuid)!
            expect(c.snapshot.run).toEqual(Rules.leased(before, "checker", now + 60_000))
            expect(c.previousOwner).toBe(before.lease_owner)
          }
          // the list filter and its order
          const filter = { names: ["Rules"], statuses: ["created" as const], createdFrom: 5_000, createdTo: 25_000, limit: 100 }
          const listed = yield* repository.list(filter)
          const after = yield* Effect.forEach(ids, (id) => Effect.map(repository.load(id), (s) => Option.getOrThrow(s).run))
          const expectedList = after.filter((r) => Rules.listed(filter, r)).sort(Rules.newest)
          expect(listed.runs.map((r) => r.uuid)).toEqual(expectedList.map((r) => r.uuid))
        })
      ))

    it.effect("a pass reports the first 100 due runs of pipelines it does not know, in due order", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const other = pipeline("Retired", step("Gone", {}))
          const known = pipeline("Known", step("Only", {}))
          const all = yield* orchestrator([other, known])
          yield* TestClock.adjust(Duration.hours(1))
          // created in the reverse of their due order: 101 due, the last of them not reported
          const ids: Array<string> = []
          for (let i = 0; i < 101; i++) ids.unshift(yield* all.create(other, { at: new Date(1_000 * (101 - i)) }))
          const some = yield* orchestrator([known])
          const summary = yield* some.executePending()
          expect(summary.errors.map((e) => e.error._tag)).toEqual(Array.from({ length: 100 }, () => "UnknownPipeline"))
          expect(summary.errors.map((e) => e.runId)).toEqual(ids.slice(0, 100))
        })
      ))

    it.effect("a stale commit is a typed VersionConflict and writes nothing", () =>
      run((orchestrator, repository) =>
        Effect.gen(function*() {
          const log = recorder()
          const backup = backupPipeline(log, 3)
          const o = yield* orchestrator([backup])
          const runId = yield* o.start(backup)
          const loaded = (yield* repository.load(runId)).pipe((o) => (o._tag === "Some" ? o.value : undefined))!
          const stale = { ...loaded.run, revision: loaded.run.revision }
          const result = yield* Effect.either(
            repository.commit({
              run: { ...stale, status: "cancelled", revision: stale.revision },
              steps: [],
              events: [],
              expectedRevision: stale.revision - 1,
              consumedSignals: []
            })
          )
          expect(Either.isLeft(result) && result.left._tag).toBe("VersionConflict")
          expect((yield* o.get(runId)).status).toBe("pending")
        })
      ))

    it.effect("a pass ticks each due run at most once (a plain wait is continued on the next pass)", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const forever = pipeline(
            "Forever",
            step("Spin", { onContinue: () => Effect.as(log.record("spin"), Step.wait()) })
          )
          const o = yield* orchestrator([forever])
          for (let i = 0; i < 5; i++) yield* o.create(forever)
          for (let pass = 1; pass <= 3; pass++) {
            const summary = yield* o.executePending({ concurrency: 2 })
            expect(summary).toMatchObject({ ticked: 5, waiting: 5 })
            expect(log.count("spin")).toBe(5 * pass)
          }
        })
      ))
  })
