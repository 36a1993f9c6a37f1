/**
 * @internal views of runs, pages and cursors
 */
import * as Interpreter from "../Interpreter.js"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { DecodeError, InvalidCursor } from "../Errors.js"
import type * as Orchestrator from "../Orchestrator.js"
import type { RunView, Snapshot } from "../Run.js"
import { summary } from "../Run.js"
import * as Children from "./children.js"
import * as Codec from "./codec.js"
import type { Runtime } from "./runtime.js"

/** @internal reading runs: views decoded with the schemas, pages and their cursors */
export const make = (rt: Runtime) => {
  const { registry, repository, load } = rt

  // --- views -------------------------------------------------------------------

  const decodeOr = (
    runId: string,
    what: string,
    codec: Codec.Codec | undefined,
    text: string | null
  ): Either.Either<unknown, DecodeError> => {
    if (codec === undefined) {
      try {
        return Either.right(text === null ? null : JSON.parse(text))
      } catch (error) {
        return Either.left(new DecodeError({ runId, what, detail: String(error) }))
      }
    }
    return Either.mapLeft(codec.decode(text), (detail) => new DecodeError({ runId, what, detail }))
  }

  const view = (snapshot: Snapshot): Either.Either<RunView, DecodeError> =>
    Either.gen(function*() {
      const { run } = snapshot
      const compiled = registry.get(run.name)
      const input = yield* decodeOr(run.uuid, "pipeline input", compiled?.input, run.input)
      const steps = []
      for (const step of snapshot.steps) {
        // a step of the pipeline, or a member of one of its forEach steps
        const cs = compiled === undefined || (step.position >= compiled.steps.length && typeof step.metadata.parent !== "number")
          ? undefined
          : Interpreter.stepOf(compiled, snapshot.steps, step.position)
        const name = JSON.stringify(step.name)
        steps.push({
          id: step.uuid,
          name: step.name,
          status: step.status,
          attempt: step.attempt,
          state: yield* decodeOr(run.uuid, `state of step ${name}`, cs?.state, step.state),
          output: yield* decodeOr(run.uuid, `output of step ${name}`, cs?.output, step.output),
          error: step.error,
          metadata: step.metadata,
          startedAt: step.started_at === null ? null : new Date(step.started_at),
          endedAt: step.ended_at === null ? null : new Date(step.ended_at)
        })
      }
      // the children that the run's child steps started (their state holds the child's run id)
      const children: Array<{ readonly step: string; readonly runId: string }> = []
      const defined = compiled === undefined ? 0 : Math.min(compiled.steps.length, steps.length)
      for (let i = 0; i < defined; i++) {
        if (compiled!.steps[i].step.child === undefined) continue
        const child = (steps[i].state as { child?: unknown } | undefined)?.child
        if (typeof child === "string") children.push({ step: steps[i].name, runId: child })
      }
      return {
        id: run.uuid,
        pipeline: run.name,
        status: run.status,
        currentStep: run.metadata.current_step,
        input,
        steps,
        error: run.error,
        parent: Children.parentOf(run.idempotency_key),
        children,
        idempotencyKey: run.idempotency_key,
        revision: run.revision,
        wakeAt: new Date(run.wake_at),
        createdAt: new Date(run.created_at),
        updatedAt: new Date(run.updated_at),
        endedAt: run.ended_at === null ? null : new Date(run.ended_at)
      }
    })

  const get: Orchestrator.Service["get"] = (runId) => Effect.flatMap(load(runId), view)

  const list: Orchestrator.Service["list"] = (listOptions = {}) =>
    Effect.gen(function*() {
      const limit = Math.max(1, listOptions.limit ?? 100)
      const cursor = listOptions.cursor
      if (cursor !== undefined && !isCursor(cursor)) return yield* new InvalidCursor({ cursor })
      const before = cursor === undefined ? undefined : decodeCursor(cursor)
      const page = yield* repository.list({
        names: listOptions.pipeline === undefined ? undefined : asArray(listOptions.pipeline),
        statuses: listOptions.status === undefined ? undefined : asArray(listOptions.status),
        createdFrom: listOptions.createdFrom?.getTime(),
        keyPrefix: listOptions.parent === undefined ? undefined : Children.childPrefix(listOptions.parent),
        createdTo: listOptions.createdTo?.getTime(),
        limit,
        before
      })
      return {
        runs: page.runs.map(summary),
        corrupt: page.corrupt,
        cursor: page.rows === limit && page.last !== undefined ? encodeCursor(page.last) : undefined
      }
    })

  return { view, get, list }
}

/** @internal */
export type Views = ReturnType<typeof make>

const asArray = <A>(value: A | ReadonlyArray<A>): ReadonlyArray<A> =>
  Array.isArray(value) ? value : [value as A]

const encodeCursor = (last: { readonly createdAt: number; readonly uuid: string }): string =>
  Buffer.from(JSON.stringify([last.createdAt, last.uuid])).toString("base64url")

const decodeCursor = (cursor: string): { createdAt: number; uuid: string } | undefined => {
  try {
    const [createdAt, uuid] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    return typeof createdAt === "number" && typeof uuid === "string" ? { createdAt, uuid } : undefined
  } catch {
    return undefined
  }
}

/**
 * @internal a cursor that `list` printed: it decodes, and is the encoding of what it decodes to
 * (base64url decoding skips what is not of its alphabet, so garbage may decode)
 */
export const isCursor = (cursor: string): boolean => {
  const decoded = decodeCursor(cursor)
  return decoded !== undefined && encodeCursor(decoded) === cursor
}
