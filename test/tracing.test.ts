/**
 * Spans: with a tracer that exports them installed, starts, passes, ticks and handler calls are
 * spans, carrying the worker's identity; the handlers' own spans are their children.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Tracer } from "effect"
import { Orchestrator, pipeline, Repository, step, Step } from "prorch"

interface Recorded {
  readonly name: string
  readonly attributes: Map<string, unknown>
  readonly parent: string | undefined
}

const recordingTracer = () => {
  const spans: Array<Recorded> = []
  const names = new Map<string, string>()
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      const spanId = `span-${spans.length + 1}`
      names.set(spanId, name)
      spans.push({
        name,
        attributes,
        parent: Option.isSome(parent) && parent.value._tag === "Span" ? names.get(parent.value.spanId) : undefined
      })
      return {
        _tag: "Span",
        name,
        spanId,
        traceId: "trace",
        parent,
        context,
        links,
        sampled: true,
        kind,
        status: { _tag: "Started", startTime },
        attributes,
        attribute: (key, value) => void attributes.set(key, value),
        event: () => {},
        addLinks: () => {},
        end: () => {}
      }
    },
    context: (f) => f()
  })
  return { tracer, spans }
}

describe("tracing", () => {
  it.effect("with an exporting tracer, starts, passes, ticks and handler calls are spans", () => {
    const { spans, tracer } = recordingTracer()
    const p = pipeline(
      "Traced",
      step("Work", {
        onStart: () => Effect.withSpan(Effect.void, "user.start-work"),
        onContinue: (ctx) => Effect.succeed(ctx.continuations === 0 ? Step.wait() : Step.finish())
      })
    )
    return Effect.gen(function*() {
      yield* Orchestrator.start(p)
      yield* Orchestrator.executePending()
      const byName = (name: string) => spans.filter((span) => span.name === name)
      expect(byName("prorch.start")).toHaveLength(1)
      expect(byName("prorch.executePending")).toHaveLength(1)
      expect(byName("prorch.tick")).toHaveLength(1)
      expect(byName("prorch.onStart")).toHaveLength(1)
      expect(byName("prorch.onContinue")).toHaveLength(2)
      const onStart = byName("prorch.onStart")[0]
      expect(onStart.attributes.get("prorch.step")).toBe("Work")
      expect(onStart.attributes.get("prorch.worker")).toBe("traced-worker")
      expect(onStart.parent).toBe("prorch.start")
      expect(byName("user.start-work")[0].parent).toBe("prorch.onStart")
      expect(byName("prorch.tick")[0].attributes.get("prorch.pipeline")).toBe("Traced")
      expect(byName("prorch.onContinue")[1].parent).toBe("prorch.tick")
    }).pipe(
      Effect.provide(Orchestrator.layer([p], { owner: "traced-worker" }).pipe(Layer.provide(Repository.layerMemory))),
      Effect.withTracer(tracer)
    )
  })

  it.effect("the management accessors are traced operations (Effect.fn): get, list, history, cancel, retry", () => {
    const { spans, tracer } = recordingTracer()
    const p = pipeline("Managed", step("Wait", { onContinue: () => Effect.succeed(Step.wait({ after: "1 hour" })) }))
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(p)
      yield* Orchestrator.get(runId)
      yield* Orchestrator.list()
      yield* Orchestrator.history(runId)
      yield* Orchestrator.cancel(runId)
      yield* Effect.flip(Orchestrator.retry(runId)) // a cancelled run is not retried: still a span
      const names = spans.map((span) => span.name).filter((name) => name.startsWith("Orchestrator."))
      expect(names).toEqual([
        "Orchestrator.get",
        "Orchestrator.list",
        "Orchestrator.history",
        "Orchestrator.cancel",
        "Orchestrator.retry"
      ])
      // the service's own spans are their children
      expect(spans.find((span) => span.name === "prorch.cancel")?.parent).toBe("Orchestrator.cancel")
    }).pipe(
      Effect.provide(Orchestrator.layer([p]).pipe(Layer.provide(Repository.layerMemory))),
      Effect.withTracer(tracer)
    )
  })
})
