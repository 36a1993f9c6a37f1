/**
 * @internal child runs (`child(...)` steps): how a child is keyed to its parent, and the service
 * through which a child step's handlers start and read their child, provided by the runtime
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { RunView } from "../Run.js"

/**
 * The idempotency key of a child run: its parent's run id, the step's name and its step run id.
 * A repeated start of the step (after a crash) finds the child that its first start created
 */
export const childKey = (parent: string, step: string, stepRunId: string): string =>
  `prorch.child:${parent}:${stepRunId}:${step}`

/** the prefix of the idempotency keys of a run's children */
export const childPrefix = (parent: string): string => `prorch.child:${parent}:`

/** the parent of a child run, read from its idempotency key */
export const parentOf = (key: string | null): { readonly runId: string; readonly step: string } | null => {
  if (key === null || !key.startsWith("prorch.child:")) return null
  const rest = key.slice("prorch.child:".length)
  const first = rest.indexOf(":")
  const second = rest.indexOf(":", first + 1)
  if (first < 0 || second < 0) return null
  return { runId: rest.slice(0, first), step: rest.slice(second + 1) }
}

/** what a child step's handlers use: start the child (idempotent by key), read it */
export interface Service {
  readonly start: (pipeline: string, input: unknown, key: string) => Effect.Effect<string, unknown>
  readonly get: (runId: string) => Effect.Effect<RunView, unknown>
}

/** @internal */
export class ChildRuns extends Context.Tag("prorch/internal/ChildRuns")<ChildRuns, Service>() {}
