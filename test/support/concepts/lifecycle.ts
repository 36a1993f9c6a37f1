/** A run from start to its end: steps, outcomes, typed values, idempotency, passes, on one backend (test/matrix.test.ts runs it on every backend). */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { pipeline, step, Step } from "prorch"
import type { Backend } from "../backends.js"
import { backupPipeline, Boom, recorder, runOn, statuses, threeSteps } from "../kit.js"

/** a run from start to its end: steps, outcomes, typed values, idempotency, passes */
export const lifecycle = (backend: Backend) =>
  describe(`lifecycle on ${backend.name}`, () => {
    const run = runOn(backend)

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

    it.effect("start with one idempotency key from many fibers at once creates one run", () =>
      run((orchestrator) =>
        Effect.gen(function*() {
          const log = recorder()
          const p = threeSteps(log, 100)
          const o = yield* orchestrator([p])
          const ids = yield* Effect.all(
            Array.from({ length: 20 }, () => o.start(p, { idempotencyKey: "once" })),
            { concurrency: "unbounded" }
          )
          expect(new Set(ids).size).toBe(1)
          expect(log.count("A")).toBe(1)
          expect((yield* o.list()).runs).toHaveLength(1)
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

  })
