/**
 * PostgreSQL with real time and real processes: NOTIFY wake-ups. (Workers that lose their
 * connections, to terminated backends or a restarted server, are in test/slow/pg.disturbed.test.ts.)
 */
import { Context, Effect, Fiber, Layer, Redacted, Schema } from "effect"
import pg from "pg"
import { describe, expect, inject, it } from "vitest"
import { Orchestrator, pipeline, step, Step } from "prorch"
import { PgRepository } from "prorch/Pg"
import { pgSchema } from "./support/backends.js"

const url = inject("pgUrl")

if (url === null) {
  describe("PostgreSQL in real time", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  describe("PostgreSQL in real time", () => {
    it("an idle worker is woken by NOTIFY: for a new run at once, for a timer set by another process on time", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const p = pipeline(
        "Notified",
        step("Only", { onContinue: () => Effect.succeed(Step.finish()) })
      )
      // two orchestrators with pools of their own, as two processes would have
      const repository = () => PgRepository.layer({ url: Redacted.make(url), schema })
      const creator = Orchestrator.layer([p], { owner: "creator" }).pipe(Layer.provide(repository()))
      const workerSide = Orchestrator.layer([p], { owner: "worker" }).pipe(Layer.provide(repository()))

      const program = Effect.gen(function*() {
        const worker = Context.get(yield* Layer.build(workerSide), Orchestrator.Orchestrator)
        const creatorContext = yield* Layer.build(creator)
        // polls once a minute at most: only a notification can wake it sooner
        yield* Effect.forkScoped(worker.worker({ pollInterval: "1 minute", minPollInterval: "1 minute" }))
        yield* Effect.sleep("1 second")
        const started = Date.now()
        const now = yield* Orchestrator.create(p).pipe(Effect.provide(creatorContext))
        const done = yield* worker.await(now).pipe(Effect.timeout("10 seconds"))
        const immediate = Date.now() - started
        const at = new Date(Date.now() + 1500)
        const later = yield* Orchestrator.create(p, { at }).pipe(Effect.provide(creatorContext))
        const timed = yield* worker.await(later).pipe(Effect.timeout("10 seconds"))
        const lateness = Date.now() - at.getTime()
        return { done, immediate, timed, lateness }
      })
      const result = await Effect.runPromise(Effect.scoped(program))
      expect(result.done.status).toBe("finished")
      expect(result.immediate).toBeLessThan(5_000)
      expect(result.timed.status).toBe("finished")
      expect(result.timed.endedAt!.getTime()).toBeGreaterThanOrEqual(result.timed.createdAt.getTime() + 1500)
      expect(result.lateness).toBeLessThan(5_000)
    }, 60_000)

    /**
     * The other wake-ups, each sent by one orchestrator (with a pool of its own, as another process
     * would have) to an idle worker of another that polls every 30 seconds only: picked up in well
     * under 30 seconds, only a notification can explain it (without one, the pick-up would come at
     * the worker's next poll, some 27 seconds or more after the event).
     */
    const idle = { pollInterval: "30 seconds", minPollInterval: "30 seconds" } as const
    /** well under the 30 seconds of `idle`, with room for a loaded machine */
    const prompt = 10_000
    /** the idle worker's orchestrator and the other one, each with a pool of its own, in the scope */
    const sides = (schema: string, p: Parameters<typeof Orchestrator.layer>[0], other: Orchestrator.Options = {}) => {
      const side = (options: Orchestrator.Options) =>
        Effect.map(
          Layer.build(
            Orchestrator.layer(p, options).pipe(Layer.provide(PgRepository.layer({ url: Redacted.make(url), schema })))
          ),
          Context.get(Orchestrator.Orchestrator)
        )
      return Effect.all({ worker: side({ owner: "worker" }), other: side({ owner: "other", ...other }) })
    }
    /** the worker that ran the last `continued` of a run */
    const continuedBy = (o: Orchestrator.Service, runId: string) =>
      Effect.map(o.history(runId), (events) => events.filter((event) => event.type === "continued").at(-1)?.worker)

    it("an idle worker is woken by NOTIFY when another process signals the run's current step", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const received: Array<string> = []
      let waits = 0
      const approval = step("Approval", {
        signal: Schema.String,
        onContinue: (ctx) =>
          Effect.sync(() => {
            if (ctx.signals.length === 0) {
              waits++
              // a timer far beyond the poll: only the signal can make the run due sooner
              return Step.wait({ after: "10 minutes" })
            }
            received.push(...ctx.signals)
            return Step.finish()
          })
      })
      const p = pipeline("Signalled", approval)
      const program = Effect.gen(function*() {
        const { other, worker } = yield* sides(schema, [p])
        const runId = yield* other.create(p)
        yield* Effect.forkScoped(worker.worker(idle))
        // the worker takes the run, its step waits; then the worker has nothing to do, and sleeps
        // (its commit is in: the run is due in 10 minutes)
        while ((yield* other.get(runId)).wakeAt.getTime() < Date.now() + 60_000) yield* Effect.sleep("50 millis")
        yield* Effect.sleep("1 second")
        const sent = Date.now()
        yield* other.signal(runId, approval, "approved")
        const done = yield* worker.await(runId).pipe(Effect.timeout("45 seconds"))
        return { done, latency: done.endedAt!.getTime() - sent, by: yield* continuedBy(other, runId) }
      })
      const result = await Effect.runPromise(Effect.scoped(program))
      console.log(`[pg notify] signal: the waiting step was continued ${result.latency} ms after the signal`)
      expect(result.done.status).toBe("finished")
      expect(received).toEqual(["approved"])
      expect(waits).toBe(1)
      expect(result.by).toBe("worker")
      expect(result.latency).toBeLessThan(prompt)
    }, 90_000)

    it("an idle worker is woken by NOTIFY, on time, for a timer set by a step in another process", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const calls: Array<number> = []
      const p = pipeline(
        "Paused",
        step("Pause", {
          onContinue: () =>
            Effect.sync(() => {
              calls.push(Date.now())
              return calls.length === 1 ? Step.wait({ after: "1.5 seconds" }) : Step.finish()
            })
        })
      )
      const program = Effect.gen(function*() {
        const { other, worker } = yield* sides(schema, [p])
        yield* Effect.forkScoped(worker.worker(idle))
        // the worker finds nothing due and no timer: it sleeps for 30 seconds
        yield* Effect.sleep("1 second")
        // the other process runs the first tick itself: its step answers wait 1.5 seconds, and the
        // commit that releases the run is the only thing that can tell the sleeping worker
        const runId = yield* other.start(p)
        const done = yield* worker.await(runId).pipe(Effect.timeout("45 seconds"))
        return { done, by: yield* continuedBy(other, runId) }
      })
      const result = await Effect.runPromise(Effect.scoped(program))
      expect(calls).toHaveLength(2)
      const lateness = calls[1] - (calls[0] + 1500)
      console.log(`[pg notify] timer: continued ${lateness} ms after it was due`)
      expect(result.done.status).toBe("finished")
      expect(result.by).toBe("worker")
      // not early (the timer holds), and not at the next poll
      expect(lateness).toBeGreaterThanOrEqual(0)
      expect(lateness).toBeLessThan(prompt)
    }, 90_000)

    it("runs released by a worker stopping in another process are picked up at once by an idle worker", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const calls: Array<number> = []
      const p = pipeline(
        "Released",
        step("Stuck", {
          onContinue: () =>
            Effect.suspend(() => {
              calls.push(Date.now())
              // the first call outlasts the grace period of the worker that stops
              return calls.length === 1 ? Effect.never : Effect.succeed(Step.finish())
            })
        })
      )
      const program = Effect.gen(function*() {
        // the stopping worker's lease would hold the run for a minute: only its release frees it sooner
        const { other, worker } = yield* sides(schema, [p], { leaseDuration: "1 minute" })
        const runId = yield* other.create(p)
        const stopping = yield* Effect.fork(Effect.scoped(other.worker({ ...idle, gracePeriod: "1 second" })))
        while (calls.length === 0) yield* Effect.sleep("50 millis")
        // the idle worker finds the run leased, and sleeps for 30 seconds
        yield* Effect.forkScoped(worker.worker(idle))
        yield* Effect.sleep("1 second")
        // the other worker stops: after its grace period it interrupts the tick and releases the run
        yield* Fiber.interrupt(stopping)
        const stopped = Date.now()
        const done = yield* worker.await(runId).pipe(Effect.timeout("45 seconds"))
        return { done, stopped, by: yield* continuedBy(other, runId) }
      })
      const result = await Effect.runPromise(Effect.scoped(program))
      expect(calls).toHaveLength(2)
      const latency = calls[1] - result.stopped
      console.log(`[pg notify] release: picked up ${latency} ms after the other worker stopped`)
      expect(result.done.status).toBe("finished")
      expect(result.by).toBe("worker")
      expect(latency).toBeLessThan(prompt)
    }, 90_000)

    it("workers starting at once on a new schema migrate it once (under the advisory lock)", async () => {
      const schema = pgSchema(inject("pgRunId"))
      const p = pipeline("Together", step("Only", {}))
      const one = Effect.scoped(
        Effect.flatMap(Orchestrator.Orchestrator, (o) => o.start(p)).pipe(
          Effect.provide(
            Orchestrator.layer([p]).pipe(Layer.provide(PgRepository.layer({ url: Redacted.make(url), schema })))
          )
        )
      )
      const ids = await Effect.runPromise(Effect.all(Array.from({ length: 6 }, () => one), { concurrency: "unbounded" }))
      expect(new Set(ids).size).toBe(6)
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const migrations = await client.query(`SELECT id FROM "${schema}".migrations ORDER BY id`)
        const runs = await client.query(`SELECT count(*)::int AS n FROM "${schema}".pipelines WHERE status = 'finished'`)
        // each migration applied and recorded once, by one of the six
        expect(migrations.rows.map((row) => row.id)).toEqual([1, 2])
        expect(runs.rows[0].n).toBe(6)
      } finally {
        await client.end()
      }
    }, 60_000)
  })
}
