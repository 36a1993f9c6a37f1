/**
 * @internal management of runs: cancel, retry, signal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { randomUUID } from "node:crypto"
import { type CorruptRecord, type EncodeError, InvalidOperation, type UnknownPipeline } from "../Errors.js"
import * as Interpreter from "../Interpreter.js"
import type * as Orchestrator from "../Orchestrator.js"
import type { HistoryEvent, RunRecord } from "../Run.js"
import type * as Step from "../Step.js"
import type { Runtime } from "./runtime.js"
import { span } from "./tracing.js"

/** @internal management: cancel, retry, signal (load, transition, guarded commit) */
export const make = (rt: Runtime) => {
  const { owner, repository, held, wake, notifyEnded, lookup, load } = rt

  // --- management --------------------------------------------------------------

  /**
   * An operator's request: the run loaded, the request fed to the interpreter, its commands carried
   * out (a guarded commit, a stored signal, a wake-up); again if the run changed meanwhile
   */
  const manage = (
    runId: string,
    operation: string,
    request: Interpreter.Event,
    registered: boolean
  ): Effect.Effect<RunRecord, Orchestrator.ManageError | EncodeError | UnknownPipeline> =>
    Effect.gen(function*() {
      const snapshot = yield* load(runId)
      const name = snapshot.run.name
      const definition = registered ? yield* lookup(runId, name) : rt.registry.get(name) ?? Interpreter.unregistered(name)
      let { commands, tick } = Interpreter.transition(
        definition,
        Interpreter.load(snapshot, owner),
        request,
        yield* Clock.currentTimeMillis
      )
      const queue = commands.slice()
      while (true) {
        const command = queue.shift()
        if (command === undefined) return yield* Effect.dieMessage("the interpreter gave no command")
        switch (command._tag) {
          case "Done":
            return tick.base
          case "Reject":
            return yield* Effect.fail(command.error as InvalidOperation | EncodeError)
          case "Wake":
            wake(command.at)
            continue
          case "Signal": {
            const accepted = yield* repository.signal(command.signal, command.event, command.due)
            if (!accepted) {
              return yield* new InvalidOperation({ runId, operation, detail: "the run has ended" })
            }
            continue
          }
          case "Commit": {
            yield* repository.commit(command.commit)
            const next = Interpreter.transition(
              definition,
              tick,
              { _tag: "Committed", commit: command.commit },
              yield* Clock.currentTimeMillis
            )
            tick = next.tick
            for (const c of next.commands) queue.push(c)
            continue
          }
          default:
            return yield* Effect.dieMessage(`an operator's request gave a ${command._tag} command`)
        }
      }
    }).pipe(
      Effect.retry({ while: (error) => error._tag === "VersionConflict", times: 20 }),
      Effect.catchTag("VersionConflict", (error) =>
        Effect.fail(new InvalidOperation({ runId, operation, detail: `the run kept changing: ${error.message}` }))),
      span(`prorch.${operation}`, { "prorch.run": runId })
    )

  /** cancel a run whose records do not decode, without reading them, where the storage can */
  const cancelUndecodable = Effect.fnUntraced(function*(runId: string, reason: string, corrupt: CorruptRecord) {
    if (repository.cancelUndecodable === undefined) return yield* corrupt
    const now = yield* Clock.currentTimeMillis
    const event: HistoryEvent = {
      run_uuid: runId,
      at: now,
      type: "cancelled",
      step: null,
      attempt: null,
      worker: owner,
      data: { reason, undecodable: corrupt.message }
    }
    const cancelled = yield* repository.cancelUndecodable({ runId, reason, now, events: [event] })
    if (!cancelled) {
      return yield* new InvalidOperation({ runId, operation: "cancel", detail: "it has ended, or does not exist" })
    }
  })

  const cancel: Orchestrator.Service["cancel"] = (runId, reason = "cancelled by an operator") =>
    (manage(runId, "cancel", { _tag: "CancelAsked", reason }, false) as Effect.Effect<
      RunRecord,
      Orchestrator.ManageError
    >).pipe(
        // an operator's way out for a run whose records no longer decode
        Effect.catchTag("CorruptRecord", (corrupt) => cancelUndecodable(runId, reason, corrupt)),
        // the children of the run's steps are cancelled with it; a child's parent is woken
        Effect.tap(() => cancelChildren(runId, reason)),
        Effect.tap(() => {
          notifyEnded(runId)
          // a tick of this run in flight here: no handler of it starts again, and the one running
          // is interrupted (a tick in the caller's fiber, `start`'s, lets its handler finish)
          const lease = held.get(runId)
          if (lease === undefined) return Effect.void
          lease.lost = true
          lease.cancelled = true
          return lease.fiber === undefined ? Effect.void : Fiber.interruptFork(lease.fiber)
        })
      )

  /** the child runs of a run's child steps, cancelled (those that ended already are left); its parent woken */
  const cancelChildren = (runId: string, reason: string): Effect.Effect<void> =>
    Effect.gen(function*() {
      const snapshot = yield* load(runId)
      const compiled = rt.registry.get(snapshot.run.name)
      if (compiled !== undefined) {
        for (const step of snapshot.steps) {
          if (step.position >= compiled.steps.length || compiled.steps[step.position].step.child === undefined) continue
          if (step.state === null) continue
          const state = JSON.parse(step.state) as { child?: unknown }
          if (typeof state.child !== "string") continue
          yield* Effect.ignore(cancel(state.child, `the parent run ${runId} was cancelled: ${reason}`))
        }
      }
      yield* rt.children.ended(runId, snapshot.run.idempotency_key)
    }).pipe(Effect.ignore)

  const retry: Orchestrator.Service["retry"] = (runId) =>
    (manage(runId, "retry", { _tag: "RetryAsked" }, false) as Effect.Effect<RunRecord, Orchestrator.ManageError>).pipe(
      Effect.asVoid
    )

  const signal = ((runId: string, step: Step.Any | string, payload: unknown) =>
    manage(
      runId,
      "signal",
      { _tag: "SignalAsked", step: typeof step === "string" ? step : step.name, payload, id: randomUUID() },
      true
    ).pipe(Effect.asVoid)) as Orchestrator.Service["signal"]

  return { cancel, retry, signal }
}
