/**
 * Child pipelines: `child(name, pipeline, { input })`, a step that starts a run of another
 * registered pipeline and waits for it. The child's end wakes the parent (a signal to the step,
 * sent once the child's last commit has landed); the step finishes with the output of the child's
 * last step, fails when the child fails and is cancelled when the child is; cancelling the parent
 * cancels the child (docs/semantics.md "Child pipelines").
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { DefinitionError } from "./Errors.js"
import { ChildRuns, childKey } from "./internal/children.js"
import type * as Parallel from "./Parallel.js"
import * as Pipeline from "./Pipeline.js"
import * as Step from "./Step.js"

/**
 * The output of a pipeline: the output of its last step.
 *
 * @since 0.2.0
 * @category type-level
 */
export type Output<P> = Step.Output<Pipeline.Last<Pipeline.Steps<P>>>

/**
 * The state of a child step: its child's run id.
 *
 * @since 0.2.0
 * @category models
 */
export interface State {
  readonly child: string
}

/**
 * The options of `child`: `input`, the child's input, a pure function of the pipeline input and the
 * outputs the step `needs` (left out for a child pipeline without an input schema), checked against
 * the child pipeline's input type; `parentInput`, the schema of the pipeline input that the step
 * expects (as a step's `input`, for the types of `input`'s context); and how long the step waits at
 * most before it looks at its child again, should the wake-up of the child's end be lost
 * (`recheck`, default 1 minute).
 *
 * @since 0.2.0
 * @category models
 */
export type Options<P, I, Needs extends Step.NeedsRecord> =
  & {
    readonly parentInput?: Schema.Schema<I, any> | undefined
    readonly needs?: Needs | undefined
    readonly recheck?: Duration.DurationInput | undefined
  }
  & ([Pipeline.Input<P>] extends [void] ? {
      readonly input?: ((ctx: Step.ConditionContext<NoInfer<I>, Step.OutputsOf<NoInfer<Needs>>>) => void) | undefined
    }
    : {
      readonly input: (ctx: Step.ConditionContext<NoInfer<I>, Step.OutputsOf<NoInfer<Needs>>>) => Pipeline.Input<P>
    })

const ChildState = Schema.Struct({ child: Schema.String })

/**
 * A step that runs another registered pipeline as its child. `onStart` starts the child run, with
 * an idempotency key made from this step's run id (a crash that repeats the start finds the child
 * it started: never two children); the step then waits for it, woken when the child ends. It
 * finishes with the output of the child's last step (typed), fails with the child's error when the
 * child fails, and is cancelled when the child is. The child is a run of its own, with its own lease:
 * children of one parent run on several workers at once. `Orchestrator.get` shows a run's parent
 * and children, `list({ parent })` lists a run's children.
 *
 * The child pipeline must be registered with the same orchestrator layer (a `DefinitionError`,
 * `InvalidOption`, when the layer is built otherwise).
 *
 * @example
 * ```ts
 * const provision = child("Provision", provisioning, { parentInput: Signup, input: (ctx) => ({ account: ctx.input.email }) })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <const Name extends string, P extends Pipeline.Any, I = unknown, const Needs extends Step.NeedsRecord = {}>(
  name: Name,
  pipeline: P,
  options: Options<P, I, Needs> = {} as never
): Step.Step<Name, State, Output<P>, I, Needs, never, never, never> => {
  if (!Pipeline.isPipeline(pipeline)) {
    throw new DefinitionError({ problem: "InvalidOption", pipeline: undefined, step: String(name), detail: `child(${JSON.stringify(name)}, pipeline): the pipeline is not a pipeline` })
  }
  const opts = options as {
    readonly input?: (ctx: Step.ConditionContext<any, any>) => unknown
    readonly parentInput?: Schema.Schema<any, any>
    readonly needs?: Needs
    readonly recheck?: Duration.DurationInput
  }
  const invalid = (detail: string) => {
    throw new DefinitionError({ problem: "InvalidOption", pipeline: undefined, step: String(name), detail })
  }
  if (opts.input !== undefined && typeof opts.input !== "function") invalid("child: input must be a function of the pipeline input and the outputs")
  if (pipeline.input !== undefined && opts.input === undefined) {
    invalid(`child: pipeline ${JSON.stringify(pipeline.name)} takes an input: give input`)
  }
  const last = pipeline.steps[pipeline.steps.length - 1] as Step.Any
  const recheck = opts.recheck ?? "1 minute"
  const made = Step.make(name, {
    input: opts.parentInput,
    needs: opts.needs,
    state: ChildState,
    output: last.output as Schema.Schema<any, any>,
    signal: Schema.Unknown,
    onStart: (ctx: Step.StartContext<any, any>) =>
      Effect.flatMap(ChildRuns, (children) =>
        Effect.map(
          Effect.suspend(() =>
            children.start(
              pipeline.name,
              opts.input === undefined ? undefined : opts.input({ input: ctx.input, outputs: ctx.outputs }),
              childKey(ctx.runId, ctx.step, ctx.stepRunId)
            )
          ),
          (child) => ({ child })
        )),
    onContinue: (ctx: Step.ContinueContext<any, any, State, unknown>) =>
      Effect.flatMap(ChildRuns, (children) =>
        Effect.map(children.get(ctx.state.child), (view): Step.Outcome<State, unknown> => {
          switch (view.status) {
            case "finished":
              return Step.finish(view.steps[pipeline.steps.length - 1]?.output)
            case "failed":
              return Step.fail(`child run ${view.id} failed: ${view.error?.message ?? "no error recorded"}`, {
                child: view.id,
                error: view.error
              })
            case "cancelled":
              return Step.cancel(`child run ${view.id} was cancelled: ${view.error?.message ?? ""}`.trimEnd())
            default:
              // woken by the child's end; this wait only bounds a lost wake-up
              return Step.wait({ after: recheck })
          }
        }))
  } as any) as Step.Any
  return Step.unsafeMake({ ...made, child: { pipeline } }) as any
}

/** @internal the elements' child steps, for the checks of a layer */
export const childrenOf = (elements: ReadonlyArray<Parallel.Element>): ReadonlyArray<Step.Any> =>
  elements.flatMap((e) => ("members" in e ? childrenOf(e.members) : e.child !== undefined ? [e] : []))
