/**
 * @internal management of runs: cancel, retry, signal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { randomUUID } from "node:crypto"
import { CorruptRecord, EncodeError, InvalidOperation } from "../Errors.js"
import * as Interpreter from "../Interpreter.js"
import type * as Orchestrator from "../Orchestrator.js"
import type { HistoryEvent, RunRecord, Snapshot } from "../Run.js"
import { isTerminal } from "../Run.js"
import type * as Step from "../Step.js"
import type { Runtime } from "./runtime.js"
import { span } from "./tracing.js"

/** @internal management: cancel, retry, signal (load, transition, guarded commit) */
export const make = (rt: Runtime) => {
  const { owner, repository, held, wake, notifyEnded, lookup, load } = rt

  // --- management --------------------------------------------------------------

  /** load, change with a pure transition, commit; again if the run changed meanwhile */
  const manage = (
    runId: string,
    operation: string,
    change: (snapshot: Snapshot, now: number) => Either.Either<Interpreter.Draft, InvalidOperation>
  ): Effect.Effect<RunRecord, Orchestrator.ManageError> =>
    Effect.gen(function*() {
      const snapshot = yield* load(runId)
      const now = yield* Clock.currentTimeMillis
      const d = yield* change(snapshot, now)
      const run: RunRecord = { ...d.run, revision: snapshot.run.revision + 1 }
      yield* repository.commit({
        run,
        steps: d.changed.map((i) => d.steps[i]),
        events: d.events,
        expectedRevision: snapshot.run.revision,
        consumedSignals: []
      })
      return run
    }).pipe(
      Effect.retry({ while: (error) => error._tag === "VersionConflict", times: 20 }),
      Effect.catchTag("VersionConflict", (error) =>
        Effect.fail(new InvalidOperation({ runId, operation, detail: `the run kept changing: ${error.message}` }))),
      span(`prorch.${operation}`, { "prorch.run": runId })
    )

  /** cancel a run whose records do not decode, without reading them, where the storage can */
  const cancelUndecodable = (runId: string, reason: string, corrupt: CorruptRecord) =>
    Effect.gen(function*() {
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
    manage(runId, "cancel", (snapshot, now) =>
      isTerminal(snapshot.run.status)
        ? Either.left(new InvalidOperation({ runId, operation: "cancel", detail: `it has ended (${snapshot.run.status})` }))
        : Either.right(Interpreter.cancelRun(Interpreter.draft(snapshot), reason, { now, worker: owner }))).pipe(
        // an operator's way out for a run whose records no longer decode
        Effect.catchTag("CorruptRecord", (corrupt) => cancelUndecodable(runId, reason, corrupt)),
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

  const retry: Orchestrator.Service["retry"] = (runId) =>
    manage(runId, "retry", (snapshot, now) =>
      snapshot.run.status !== "failed"
        ? Either.left(
          new InvalidOperation({ runId, operation: "retry", detail: `only a failed run can be retried, it is ${snapshot.run.status}` })
        )
        : Either.right(
          Interpreter.retryRun(Interpreter.draft(snapshot), { now, worker: owner })
        )).pipe(Effect.tap(() => Effect.sync(wake)), Effect.asVoid)

  const signal = ((runId: string, step: Step.Any | string, payload: unknown) =>
    Effect.gen(function*() {
      const stepName = typeof step === "string" ? step : step.name
      const snapshot = yield* load(runId)
      const compiled = yield* lookup(runId, snapshot.run.name)
      const index = compiled.pipeline.indexOf(stepName)
      if (index < 0) {
        return yield* new InvalidOperation({
          runId,
          operation: "signal",
          detail: `pipeline ${JSON.stringify(snapshot.run.name)} has no step ${JSON.stringify(stepName)}`
        })
      }
      const cs = compiled.steps[index]
      if (cs.step.signal === undefined) {
        return yield* new InvalidOperation({
          runId,
          operation: "signal",
          detail: `step ${JSON.stringify(stepName)} declares no signal schema`
        })
      }
      const record = snapshot.steps[index]
      if (record === undefined || isTerminal(record.status)) {
        return yield* new InvalidOperation({
          runId,
          operation: "signal",
          detail: `step ${JSON.stringify(stepName)} has ended (${record?.status})`
        })
      }
      const encoded = cs.signal.encode(payload)
      if (Either.isLeft(encoded)) {
        return yield* new EncodeError({ what: `signal of step ${JSON.stringify(stepName)}`, detail: encoded.left })
      }
      const now = yield* Clock.currentTimeMillis
      const id = randomUUID()
      const payloadJson = encoded.right ?? "null"
      // a signal for a later step waits for it, without waking the step that is under way
      const current = snapshot.steps.findIndex((step) => !isTerminal(step.status))
      const accepted = yield* repository.signal(
        { id, run_uuid: runId, step: stepName, payload: payloadJson, created_at: now },
        {
          run_uuid: runId,
          at: now,
          type: "signalled",
          step: stepName,
          attempt: record.attempt,
          worker: owner,
          data: { signal: id, payload: JSON.parse(payloadJson) }
        },
        current === index
      )
      if (!accepted) {
        return yield* new InvalidOperation({ runId, operation: "signal", detail: "the run has ended" })
      }
      wake()
    }).pipe(span("prorch.signal", { "prorch.run": runId }))) as Orchestrator.Service["signal"]

  return { cancel, retry, signal }
}
