/**
 * @internal spans, made only when a tracer that exports them is installed
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"

/** @internal */
let native: Tracer.Tracer | undefined
/** Effect's default tracer, which keeps spans in memory and exports nothing */
const nativeTracer = (): Tracer.Tracer => (native ??= Effect.runSync(Effect.tracer))

/**
 * Spans cost tens of microseconds each, more than a tick's own work on a fast repository: the
 * orchestrator makes them only when a tracer that exports them is installed (OpenTelemetry, say),
 * not for Effect's default tracer.
 */
export const tracing: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== nativeTracer())

/** @internal a span without a captured stack trace, when tracing */
export const span = (name: string, attributes: Record<string, unknown>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    tracing,
    (on) => on ? Effect.withSpan(self, name, { attributes, captureStackTrace: false }) : self
  )
