/**
 * @internal ticks: a claimed run's handlers called, their answers committed
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import {
  DecodeError,
  EncodeError,
  HandlerTimeout,
  LeaseLost,
  RepositoryError,
  type TickError
} from "../Errors.js"
import * as Interpreter from "../Interpreter.js"
import type * as Orchestrator from "../Orchestrator.js"
import * as Repository from "../Repository.js"
import type { ErrorInfo, RunRecord, SignalRecord, Snapshot, StepRecord } from "../Run.js"
import { isTerminal } from "../Run.js"
import type * as Step from "../Step.js"
import * as Codec from "./codec.js"
import { type Compiled, type CompiledStep, type Lease, type Runtime } from "./runtime.js"
import { span, tracing } from "./tracing.js"

/** an `onContinue` call made ready: its context, and the signals it hands to the step */
interface Prepared {
  readonly ctx: Step.ContinueContext<unknown, {}, unknown, unknown>
  readonly delivered: Array<SignalRecord> | undefined
}

/**
 * How long after a tick that the storage failed (its commit, say) the run is due again, in
 * milliseconds: its lease is cut to this (docs/runtime.md "Leases")
 */
const retryAfterStorageFailure = 1000

/** @internal one tick of a claimed run, and what it is given and answers (docs/semantics.md "One tick") */
export const make = (rt: Runtime) => {
  const { owner, repository, held, wake, notifyEnded, lookup } = rt

  // --- handlers ----------------------------------------------------------------

  /** call a handler: its exit, never its failure (a handler that throws is a defect) */
  const callHandler = <A>(
    compiled: CompiledStep,
    handler: "onStart" | "onContinue",
    attempt: number,
    traced: boolean,
    run: () => Effect.Effect<A, unknown, unknown>
  ): Effect.Effect<Exit.Exit<A, unknown>> => {
    let effect: Effect.Effect<A, unknown, unknown>
    try {
      effect = run()
    } catch (defect) {
      return Effect.succeed(Exit.die(defect))
    }
    const timeout = compiled.step.timeout
    if (timeout !== undefined) {
      effect = Effect.timeoutFail(effect, {
        duration: timeout,
        onTimeout: () => new HandlerTimeout({ step: compiled.step.name, handler, timeout: Duration.format(timeout) })
      })
    }
    if (traced) {
      effect = Effect.withSpan(effect, `prorch.${handler}`, {
        attributes: { "prorch.step": compiled.step.name, "prorch.attempt": attempt, "prorch.worker": owner },
        captureStackTrace: false
      })
    }
    return Effect.exit(effect) as Effect.Effect<Exit.Exit<A, unknown>>
  }

  /** when to try a failed handler call again, replaying the step's schedule up to `attempt` */
  const retryAt = (
    schedule: NonNullable<Step.Any["retry"]>,
    attempt: number,
    cause: Cause.Cause<unknown>,
    now: number
  ): Effect.Effect<number | undefined> => {
    const input = Cause.squash(cause)
    return Effect.gen(function*() {
      let state = schedule.initial
      let time = now
      let delay = 0
      for (let i = 0; i < attempt; i++) {
        const [next, , decision] = yield* schedule.step(time, input, state)
        if (ScheduleDecision.isDone(decision)) return undefined
        state = next
        const start = Math.max(time, Intervals.start(decision.intervals))
        delay = start - time
        time = start
      }
      return now + delay
    })
  }

  // --- ticks -------------------------------------------------------------------

  /**
   * How a tick whose lease is lost ends, without writing: with its run cancelled, when a `cancel`
   * of this process took the lease; else with `LeaseLost`.
   */
  const stopped = (runId: string, lease: Lease, ranHandlers: boolean): Either.Either<Orchestrator.TickOutcome, LeaseLost> =>
    lease.cancelled
      ? Either.right({ runId, status: "cancelled", ranHandlers })
      : Either.left(new LeaseLost({ runId, owner }))

  /** the lease of a claimed run; with `fiber`, the lease keeper interrupts it if the lease is taken */
  const leaseOf = (snapshot: Snapshot, fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined): Lease => ({
    revision: snapshot.run.revision,
    expiresAt: snapshot.run.lease_expires_at ?? 0,
    committing: 0,
    lost: false,
    cancelled: false,
    fiber
  })

  /**
   * One tick of a claimed run (docs/semantics.md "One tick"), in the caller's fiber,
   * under `lease` (which its commits move on). The handlers' services must be provided by the
   * caller (`context`).
   */
  const tickClaimed = (
    compiled: Compiled,
    snapshot: Snapshot,
    lease: Lease,
    previousOwner: string | null,
    waitMillis: number
  ): Effect.Effect<Orchestrator.TickOutcome, TickError> => {
    const runId = snapshot.run.uuid
    const body = Effect.gen(function*() {
      const clock = yield* Effect.clock
      const traced = yield* tracing
      let base: Snapshot = snapshot
      let d = Interpreter.draft(snapshot)
      let signals = snapshot.signals
      let consumed: Array<string> = []
      let ranHandlers = false
      const actor = (): Interpreter.Actor => ({ now: clock.unsafeCurrentTimeMillis(), worker: owner })

      if (previousOwner !== null && previousOwner !== owner) d = Interpreter.leaseLost(d, previousOwner, actor())

      const commit = (release: boolean) => {
        const run: RunRecord = {
          ...d.run,
          revision: base.run.revision + 1,
          lease_owner: release ? null : owner,
          lease_expires_at: release ? null : lease.expiresAt
        }
        // set as the commit is made, which is when it runs: every caller yields it at once
        lease.committing = run.revision
        return Effect.map(
          repository.commit({
            run,
            previous: base.run,
            steps: d.changed.map((i) => d.steps[i]),
            events: d.events,
            expectedRevision: base.run.revision,
            consumedSignals: consumed
          }),
          () => {
            lease.revision = run.revision
            base = {
              run: consumed.length === 0 ? run : { ...run, pending_signals: run.pending_signals - consumed.length },
              steps: d.steps,
              signals
            }
            d = Interpreter.draft(base)
            consumed = []
          }
        )
      }

      const input = compiled.input.decode(snapshot.run.input)
      if (Either.isLeft(input)) {
        return yield* new DecodeError({ runId, what: "pipeline input", detail: input.left })
      }

      const contextFor = (cs: CompiledStep, step: StepRecord): Step.StartContext<unknown, {}> | DecodeError => {
        const outputs: Record<string, unknown> = {}
        for (const [key, index] of cs.needs) {
          const decoded = compiled.steps[index].output.decode(d.steps[index].output)
          if (Either.isLeft(decoded)) {
            return new DecodeError({
              runId,
              what: `output of step ${JSON.stringify(d.steps[index].name)}`,
              detail: decoded.left
            })
          }
          outputs[key] = decoded.right
        }
        return {
          runId,
          stepRunId: step.uuid,
          pipeline: compiled.pipeline.name,
          step: step.name,
          attempt: step.attempt,
          input: input.right,
          outputs
        }
      }

      /** a failed call: schedule its retry, or fail the step; whether the tick should stop */
      const failed = (cs: CompiledStep, handler: "onStart" | "onContinue", cause: Cause.Cause<unknown>) => {
        const now = clock.unsafeCurrentTimeMillis()
        const record = (at: number | undefined) => {
          d = Interpreter.handlerFailed(d, cs.index, handler, Codec.errorInfo(cause), at, { now, worker: owner })
          return at !== undefined
        }
        const schedule = cs.step.retry
        return schedule === undefined
          ? Effect.succeed(record(undefined))
          : Effect.map(retryAt(schedule, d.steps[cs.index].attempt, cause, now), record)
      }

      /** the context of an `onContinue` call of a step, with the signals it is handed */
      const prepare = (cs: CompiledStep): Prepared | DecodeError => {
        const step = d.steps[cs.index]
        const state = cs.state.decode(step.state)
        if (Either.isLeft(state)) {
          return new DecodeError({ runId, what: `state of step ${JSON.stringify(step.name)}`, detail: state.left })
        }
        let delivered: Array<SignalRecord> | undefined
        let payloads: Array<unknown> = noSignals
        for (const signal of signals) {
          if (signal.step !== step.name) continue
          const payload = cs.signal.decode(signal.payload)
          if (Either.isLeft(payload)) return new DecodeError({ runId, what: `signal ${signal.id}`, detail: payload.left })
          if (delivered === undefined) {
            delivered = []
            payloads = []
          }
          delivered.push(signal)
          payloads.push(payload.right)
        }
        const start = contextFor(cs, step)
        if (start instanceof DecodeError) return start
        // every property written out: a spread of the start context would make a slower object
        const ctx: Step.ContinueContext<unknown, {}, unknown, unknown> = {
          runId: start.runId,
          stepRunId: start.stepRunId,
          pipeline: start.pipeline,
          step: start.step,
          attempt: start.attempt,
          input: start.input,
          outputs: start.outputs,
          state: state.right,
          signals: payloads,
          continuations: typeof step.metadata.continuations === "number" ? step.metadata.continuations : 0
        }
        return { ctx, delivered }
      }

      loop: while (true) {
        const decision = Interpreter.decide(compiled.pipeline, d, clock.unsafeCurrentTimeMillis())
        switch (decision._tag) {
          case "Mismatch":
            return yield* new DecodeError({ runId, what: "step list", detail: decision.detail })
          case "Done":
          case "Sleep":
            break loop
          case "Finalize":
            d = Interpreter.finalize(d, decision.status, decision.index, actor())
            break loop
        }
        const cs = compiled.steps[decision.index]
        // what the handlers are given is decoded before anything is written: a run whose records do
        // not decode writes nothing (not even the `lease_lost` of a take-over), however often it is
        // claimed (docs/runtime.md "Leases")
        let startContext: Step.StartContext<unknown, {}> | undefined
        let prepared: Prepared | undefined
        if (decision._tag === "Start") {
          const ctx = contextFor(cs, d.steps[cs.index])
          if (ctx instanceof DecodeError) return yield* ctx
          startContext = ctx
        } else {
          const ready = prepare(cs)
          if (ready instanceof DecodeError) return yield* ready
          prepared = ready
        }
        // a step's handlers are about to run: what earlier steps did is committed first
        if (Interpreter.hasChanges(d)) yield* commit(false)
        // a run cancelled (or a lease lost) since then: no handler of it starts
        if (lease.lost) return yield* stopped(runId, lease, ranHandlers)
        ranHandlers = true
        if (startContext !== undefined) {
          const ctx = startContext
          const onStart = cs.step.onStart
          const exit = onStart === undefined
            ? Exit.void
            : yield* callHandler(cs, "onStart", ctx.attempt, traced, () => onStart(ctx))
          if (Exit.isFailure(exit)) {
            if (yield* failed(cs, "onStart", exit.cause)) break loop
            continue loop
          }
          const state = cs.state.encode(exit.value)
          if (Either.isLeft(state)) {
            const error = new EncodeError({ what: `state of step ${JSON.stringify(cs.step.name)}`, detail: state.left })
            if (yield* failed(cs, "onStart", Cause.fail(error))) break loop
            continue loop
          }
          d = Interpreter.started(d, cs.index, state.right, actor())
          // onContinue, right after onStart
          if (lease.lost) return yield* stopped(runId, lease, true)
          const ready = prepare(cs)
          if (ready instanceof DecodeError) return yield* ready
          prepared = ready
        }
        const { ctx, delivered } = prepared!
        const exit = yield* callHandler(cs, "onContinue", ctx.attempt, traced, () => cs.step.onContinue(ctx))
        if (Exit.isFailure(exit)) {
          if (yield* failed(cs, "onContinue", exit.cause)) break loop
          continue loop
        }
        const answered = actor()
        const answer = toAnswer(cs, exit.value, answered.now, waitMillis)
        if (answer._tag === "Invalid") {
          if (yield* failed(cs, "onContinue", Cause.fail(answer.error))) break loop
          continue loop
        }
        if (delivered !== undefined) {
          const ids = delivered.map((s) => s.id)
          consumed = [...consumed, ...ids]
          signals = signals.filter((s) => !ids.includes(s.id))
        }
        d = Interpreter.continued(d, cs.index, answer.answer, answered)
        if (answer.answer._tag === "Wait") break loop
      }
      if (Interpreter.hasChanges(d)) {
        yield* commit(true)
        // the run waits: this process's idle workers plan their sleep by its wake-up time
        if (!isTerminal(d.run.status)) wake(d.run.wake_at)
      } else {
        yield* repository.release({ runId, owner, revision: lease.revision })
      }
      if (isTerminal(d.run.status)) notifyEnded(runId)
      return { runId, status: d.run.status, ranHandlers } satisfies Orchestrator.TickOutcome
    })
    return Effect.zipRight(
      // the lease keeper renews the lease while the tick runs
      Effect.sync(() => held.set(runId, lease)),
      body
    ).pipe(
      Effect.onInterrupt(() => repository.release({ runId, owner, revision: lease.revision }).pipe(Effect.ignore)),
      Effect.ensuring(Effect.sync(() => {
        if (held.get(runId) === lease) held.delete(runId)
      })),
      Effect.catchAllDefect((defect) =>
        Effect.fail(new RepositoryError({ operation: "tick", cause: defect }))
      ),
      // the storage failed (a commit, say): the run is due again within a second, not once the whole
      // lease has run out; the lease is shortened, not released, so that a storage that keeps failing
      // is tried about once a second, not in a loop (docs/runtime.md "Leases")
      Effect.tapError((error) =>
        error._tag !== "RepositoryError" || lease.lost
          ? Effect.void
          : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            repository.renew({
              runId,
              owner,
              revision: lease.revision,
              leaseExpiresAt: Math.min(lease.expiresAt, now + retryAfterStorageFailure)
            })).pipe(Effect.ignore)
      )
    )
  }

  const tickSnapshot = (
    claimed: Repository.Claimed,
    waitMillis: number,
    report: (result: Either.Either<Orchestrator.TickOutcome, TickError>) => Effect.Effect<void>
  ): Effect.Effect<void> => {
    const runId = claimed.snapshot.run.uuid
    const compiled = lookup(runId, claimed.snapshot.run.name)
    if (Either.isLeft(compiled)) return report(Either.left(compiled.left))
    return Effect.withFiberRuntime<void>((fiber) => {
      const lease = leaseOf(claimed.snapshot, fiber)
      return tickClaimed(compiled.right, claimed.snapshot, lease, claimed.previousOwner, waitMillis).pipe(
        Effect.onExit((exit) => {
          if (Exit.isSuccess(exit)) return report(Either.right(exit.value))
          if (Exit.isInterrupted(exit)) {
            return lease.lost ? report(stopped(runId, lease, true)) : Effect.void
          }
          const failure = Cause.failureOption(exit.cause)
          return Option.isSome(failure) ? report(Either.left(failure.value)) : Effect.void
        }),
        Effect.ignore,
        span("prorch.tick", { "prorch.run": runId, "prorch.pipeline": claimed.snapshot.run.name, "prorch.worker": owner })
      )
    })
  }

  return { tickClaimed, tickSnapshot, leaseOf, stopped }
}

/** @internal */
export type Ticks = ReturnType<typeof make>

type Answered =
  | { readonly _tag: "Answer"; readonly answer: Interpreter.Answer }
  | { readonly _tag: "Invalid"; readonly error: EncodeError }

const noSignals: Array<unknown> = []

const toAnswer = (cs: CompiledStep, outcome: Step.Outcome, now: number, waitMillis: number): Answered => {
  // for error messages only
  const name = () => JSON.stringify(cs.step.name)
  switch (outcome?._tag) {
    case "Finish": {
      const output = cs.output.encode(outcome.output)
      return Either.isLeft(output)
        ? { _tag: "Invalid", error: new EncodeError({ what: `output of step ${name()}`, detail: output.left }) }
        : { _tag: "Answer", answer: { _tag: "Finish", output: output.right } }
    }
    case "Wait": {
      let state: string | null | undefined
      if (outcome.hasState) {
        const encoded = cs.state.encode(outcome.state)
        if (Either.isLeft(encoded)) {
          return { _tag: "Invalid", error: new EncodeError({ what: `state of step ${name()}`, detail: encoded.left }) }
        }
        state = encoded.right
      }
      const wakeAt = outcome.until !== undefined
        ? outcome.until.getTime()
        : outcome.after !== undefined
        ? now + Duration.toMillis(outcome.after)
        : now + waitMillis
      const plain = outcome.until === undefined && outcome.after === undefined
      return { _tag: "Answer", answer: { _tag: "Wait", state, wakeAt, plain } }
    }
    case "Fail":
      return {
        _tag: "Answer",
        answer: {
          _tag: "Fail",
          error: {
            message: outcome.reason,
            pretty: null,
            cause: outcome.details === undefined ? null : Codec.toJson(outcome.details)
          } satisfies ErrorInfo
        }
      }
    case "Cancel":
      return { _tag: "Answer", answer: { _tag: "Cancel", reason: outcome.reason } }
    default:
      return {
        _tag: "Invalid",
        error: new EncodeError({
          what: `answer of step ${name()}`,
          detail: "onContinue must answer Step.finish(), Step.wait(), Step.fail() or Step.cancel()"
        })
      }
  }
}
