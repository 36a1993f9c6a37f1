/**
 * The pipelines of the benchmark suite.
 */
import { Effect } from "effect"
import { pipeline, step, Step } from "prorch"

const instant = (name: string) =>
  step(name, { onStart: () => Effect.void, onContinue: () => Effect.succeed(Step.finish()) })

/** W1, W2, W4, W5, W6: three steps whose `onStart` does nothing and whose `onContinue` finishes */
export const threeSteps = pipeline("W1", instant("A"), instant("B"), instant("C"))

/** W3: a step that waits (a plain `Step.wait()`, due on the next pass) five times, then finishes */
export const polling = pipeline(
  "W3",
  step("Poll", {
    onStart: () => Effect.void,
    onContinue: (ctx) => Effect.succeed(ctx.continuations < 5 ? Step.wait() : Step.finish())
  })
)
