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
import * as Queue from "effect/Queue"
import { HandlerTimeout, RepositoryError, type TickError, type VersionConflict } from "../Errors.js"
import * as Interpreter from "../Interpreter.js"
import type * as Orchestrator from "../Orchestrator.js"
import * as Repository from "../Repository.js"
import type { Commit, Snapshot } from "../Run.js"
import { isTerminal } from "../Run.js"
import type * as Step from "../Step.js"
import { type Compiled, type CompiledStep, type Lease, type Runtime } from "./runtime.js"
import { ChildRuns } from "./children.js"
import * as Schedules from "./schedule.js"
import { span, tracing } from "./tracing.js"

/**
 * How long after a tick that the storage failed (its commit, say) the run is due again, in
 * milliseconds: its lease is cut to this (docs/runtime.md "Leases")
 */
const retryAfterStorageFailure = 1000

/** @internal one tick of a claimed run, and what it is given and answers (docs/semantics.md "One tick") */
export const make = (rt: Runtime) => {
  const { owner, repository, held, wake, notifyEnded, lookup } = rt

  // --- handlers ----------------------------------------------------------------

  /** call a handler: its answer or its failure as an event (a handler that throws is a defect) */
  const call = (
    sd: CompiledStep,
    command: Extract<Interpreter.Command, { _tag: "Call" }>,
    traced: boolean
  ): Effect.Effect<Interpreter.Event> => {
    const { handler, step } = command
    let effect: Effect.Effect<unknown, unknown, unknown>
    try {
      effect = command.handler === "onStart" ? sd.step.onStart!(command.context) : sd.step.onContinue(command.context)
    } catch (defect) {
      return Effect.succeed({ _tag: "Failed", step, handler, cause: Cause.die(defect) })
    }
    // a child step's handlers start and read its child through the runtime
    if (sd.step.child !== undefined && rt.children.service !== undefined) {
      effect = Effect.provideService(effect, ChildRuns, rt.children.service)
    }
    const timeout = sd.step.timeout
    if (timeout !== undefined) {
      effect = Effect.timeoutFail(effect, {
        duration: timeout,
        onTimeout: () => new HandlerTimeout({ step: sd.step.name, handler, timeout: Duration.format(timeout) })
      })
    }
    if (traced) {
      effect = Effect.withSpan(effect, `prorch.${handler}`, {
        attributes: { "prorch.step": sd.step.name, "prorch.attempt": command.context.attempt, "prorch.worker": owner },
        captureStackTrace: false
      })
    }
    return Effect.matchCause(effect as Effect.Effect<unknown, unknown>, {
      onFailure: (cause): Interpreter.Event => ({ _tag: "Failed", step, handler, cause }),
      onSuccess: (value): Interpreter.Event => ({ _tag: "Returned", step, handler, value })
    })
  }

  /** write a commit with the lease columns that the interpreter asked for; the commit as written */
  const commit = (
    drafted: Commit,
    mode: "hold" | "release" | "keep",
    lease: Lease
  ): Effect.Effect<Commit, RepositoryError | VersionConflict> => {
    const written: Commit = mode === "keep" ? drafted : {
      ...drafted,
      run: {
        ...drafted.run,
        lease_owner: mode === "release" ? null : owner,
        lease_expires_at: mode === "release" ? null : lease.expiresAt
      }
    }
    // set as the commit is made, which is when it runs: every caller yields it at once
    lease.committing = written.run.revision
    return Effect.map(repository.commit(written), () => {
      lease.revision = written.run.revision
      return written
    })
  }

  /** when to try a failed handler call again, replaying the step's schedule up to `attempt` */
  const retryAt = (
    schedule: NonNullable<Step.Any["retry"]>,
    attempt: number,
    cause: Cause.Cause<unknown>,
    now: number
  ): Effect.Effect<number | undefined> =>
    Effect.map(Schedules.delayAt(schedule, attempt, Cause.squash(cause), now), (delay) =>
      delay === undefined ? undefined : now + delay)

  // --- ticks -------------------------------------------------------------------

  /**
   * How a tick whose handler call was interrupted for a lost lease ends, without writing (as the
   * interpreter says): with its run cancelled, when a `cancel` of this process took the lease; else
   * with `LeaseLost`.
   */
  const stopped = (
    definition: Compiled,
    snapshot: Snapshot,
    lease: Lease,
    now: number
  ): Either.Either<Orchestrator.TickOutcome, TickError> => {
    const { commands } = Interpreter.transition(
      definition,
      Interpreter.load(snapshot, owner),
      { _tag: "LeaseLost", cancelled: lease.cancelled, inFlight: true },
      now
    )
    const last = commands[commands.length - 1]
    return last._tag === "Done"
      ? Either.right({ runId: snapshot.run.uuid, status: last.status, ranHandlers: last.ranHandlers })
      : Either.left((last as Extract<Interpreter.Command, { _tag: "Reject" }>).error as TickError)
  }

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
   * One tick of a claimed run (docs/semantics.md "One tick"), in the caller's fiber, under `lease`
   * (which its commits move on): the commands of `Interpreter.transition` carried out in order, and
   * what each observed fed back to it. The handlers' services must be provided by the caller
   * (`context`).
   */
  const tickClaimed = (
    definition: Compiled,
    snapshot: Snapshot,
    lease: Lease,
    previousOwner: string | null,
    waitMillis: number
  ): Effect.Effect<Orchestrator.TickOutcome, TickError> => {
    const runId = snapshot.run.uuid
    const body = Effect.gen(function*() {
      const clock = yield* Effect.clock
      const traced = yield* tracing
      const first = Interpreter.transition(
        definition,
        Interpreter.load(snapshot, owner),
        { _tag: "Claimed", previousOwner, waitMillis },
        clock.unsafeCurrentTimeMillis()
      )
      let tick = first.tick
      // the commands to carry out, in order, from `next` on
      let queue = first.commands
      let next = 0
      // the handler calls running concurrently (members of a parallel group), by step, and where
      // their answers arrive; made with the first concurrent call (a sequence of steps has none)
      const running = new Map<number, Fiber.RuntimeFiber<void>>()
      let answers: Queue.Queue<Interpreter.Event> | undefined
      while (true) {
        const command = queue[next++] as Interpreter.Command | undefined
        let event: Interpreter.Event
        if (command === undefined) {
          if (running.size === 0) return yield* Effect.dieMessage("the interpreter gave no command")
          // nothing more to do until a call in flight answers
          event = yield* Queue.take(answers!)
          if (event._tag === "Returned" || event._tag === "Failed") running.delete(event.step)
          const t = Interpreter.transition(definition, tick, event, clock.unsafeCurrentTimeMillis())
          tick = t.tick
          queue = t.commands
          next = 0
          continue
        }
        switch (command._tag) {
          case "Done":
            if (isTerminal(command.status)) {
              notifyEnded(runId)
              // a child run that ended: its parent is woken
              if (snapshot.run.idempotency_key !== null) yield* rt.children.ended(runId, snapshot.run.idempotency_key)
            }
            return { runId, status: command.status, ranHandlers: command.ranHandlers } satisfies Orchestrator.TickOutcome
          case "Reject":
            return yield* Effect.fail(command.error as TickError)
          case "Release":
            yield* repository.release({ runId, owner, revision: lease.revision })
            continue
          case "Interrupt":
            for (const step of command.steps) {
              const fiber = running.get(step)
              running.delete(step)
              if (fiber !== undefined) yield* Fiber.interrupt(fiber)
            }
            continue
          case "Wake":
            wake(command.at)
            continue
          case "Signal":
            return yield* Effect.dieMessage("a tick does not store signals")
          case "Commit":
            event = { _tag: "Committed", commit: yield* commit(command.commit, command.lease, lease) }
            break
          case "Call":
            // a run cancelled (or a lease lost) since the last commit: no handler of it starts
            if (lease.lost) {
              event = { _tag: "LeaseLost", cancelled: lease.cancelled, inFlight: false }
              break
            }
            // the only call to make: in this fiber. Several (a group's members): each in a fiber of
            // its own, its answer fed back when it comes
            if (next === queue.length && running.size === 0) {
              event = yield* call(Interpreter.stepOf(definition, tick.draft.steps, command.step), command, traced)
              break
            }
            if (answers === undefined) answers = yield* Queue.unbounded<Interpreter.Event>()
            running.set(
              command.step,
              yield* Effect.fork(Effect.flatMap(call(Interpreter.stepOf(definition, tick.draft.steps, command.step), command, traced), (e) =>
                Queue.offer(answers!, e)).pipe(Effect.asVoid))
            )
            continue
          case "PlanRetry": {
            const schedule = Interpreter.stepOf(definition, tick.draft.steps, command.step).step.retry!
            const at = yield* retryAt(schedule, command.attempt, command.cause, command.now)
            event = { _tag: "RetryPlanned", step: command.step, handler: command.handler, at, cause: command.cause }
            break
          }
        }
        const t = Interpreter.transition(definition, tick, event, clock.unsafeCurrentTimeMillis())
        tick = t.tick
        if (t.commands.length === 0) continue
        queue = next === queue.length ? t.commands : [...queue.slice(next), ...t.commands]
        next = 0
      }
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
            return lease.lost
              ? Effect.flatMap(Clock.currentTimeMillis, (now) => report(stopped(compiled.right, claimed.snapshot, lease, now)))
              : Effect.void
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
