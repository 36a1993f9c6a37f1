/**
 * Pipelines: a name, an optional input schema and steps in order. A pipeline is a plain,
 * immutable value; the orchestrator interprets it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Schema from "effect/Schema"
import { DefinitionError, type DefinitionProblem } from "./Errors.js"
import * as Step from "./Step.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("prorch/Pipeline")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A pipeline definition. `steps` are in the order in which they run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pipeline<
  Name extends string = string,
  Input = any,
  Steps extends ReadonlyArray<Step.Any> = ReadonlyArray<Step.Any>
> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly input: Schema.Schema<any, any> | undefined
  readonly steps: Steps
  /** @internal phantom: the decoded input type */
  readonly "~input"?: Input
  /** The position of a step in the pipeline by its name, or -1. */
  readonly indexOf: (stepName: string) => number
}

/**
 * Any pipeline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends Pipeline<string, any, ReadonlyArray<Step.Any>> {}

/**
 * The services that the handlers of a pipeline's steps require.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Context<P> = P extends { readonly steps: infer Steps extends ReadonlyArray<any> } ? Step.Context<Steps[number]>
  : never

/**
 * The input of a pipeline (`void` for a pipeline without an input schema).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Input<P> = P extends { readonly "~input"?: infer I } ? I : never

/**
 * The steps of a pipeline.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Steps<P> = P extends { readonly steps: infer S } ? S : never

/**
 * The name of a pipeline.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Name<P> = P extends { readonly name: infer N } ? N : never

/**
 * Options of a pipeline: the schema of its input.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<I> {
  readonly input: Schema.Schema<I, any>
}

/**
 * Type-level check of the steps of a pipeline: each step's expected input must accept the
 * pipeline's input, and each step may only need steps that come before it. A step that breaks
 * either rule turns into an object type whose single key explains what is wrong, so the call does
 * not compile.
 *
 * @since 0.1.0
 * @category type-level
 */
export type CheckSteps<Steps, Input, Seen extends string = never> = Steps extends
  readonly [infer H, ...infer T] ? readonly [CheckStep<H, Input, Seen>, ...CheckSteps<T, Input, Seen | Extract<Step.Name<H>, string>>]
  : Steps

/**
 * The last element of a tuple type (`unknown` for an empty one).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Last<T> = T extends readonly [...ReadonlyArray<unknown>, infer L] ? L : unknown

/**
 * Type-level check of `append`: `unknown` when the appended step fits the pipeline, else an object
 * type whose single key explains what is wrong.
 *
 * @since 0.1.0
 * @category type-level
 */
export type CheckAppend<Steps extends ReadonlyArray<Step.Any>, I, S> = unknown extends Last<CheckSteps<readonly [...Steps, S], I>>
  ? unknown
  : { readonly "prorch: the appended step does not fit this pipeline": Last<CheckSteps<readonly [...Steps, S], I>> }

/**
 * The names of the steps that a step needs.
 *
 * @since 0.1.0
 * @category type-level
 */
export type NeededNames<S> = Step.Name<Step.Needs<S>[keyof Step.Needs<S>]>

/**
 * Type-level check of one step of a pipeline (see `CheckSteps`): `unknown` when it fits, else an
 * object type whose single key explains what is wrong.
 *
 * @since 0.1.0
 * @category type-level
 */
export type CheckStep<S, Input, Seen extends string> = [Input] extends [Step.Input<S>]
  ? [NeededNames<S>] extends [Seen] ? unknown
  : { readonly "prorch: this step needs a step that does not come before it": Exclude<NeededNames<S>, Seen> }
  : { readonly "prorch: this step expects another pipeline input": Step.Input<S> }

/**
 * Whether a value is a pipeline.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPipeline = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: Any) {
    return { _id: "Pipeline", name: this.name, steps: this.steps.map((step) => step.name) }
  }
}

const problem = (problem: DefinitionProblem, pipeline: string, step: string | undefined, detail: string) =>
  new DefinitionError({ problem, pipeline, step, detail })

const unsafeMake = (
  name: string,
  input: Schema.Schema<any, any> | undefined,
  steps: ReadonlyArray<unknown>
): Any => {
  if (typeof name !== "string" || name.trim() === "") {
    throw problem("BlankPipelineName", String(name), undefined, "a pipeline needs a non-blank name")
  }
  if (steps.length === 0) {
    throw problem("NoSteps", name, undefined, "a pipeline needs at least one step")
  }
  const positions = new Map<string, number>()
  steps.forEach((step, index) => {
    if (!Step.isStep(step)) {
      throw problem("NotAStep", name, undefined, `argument ${index + 1} is not a step (build steps with step(...))`)
    }
    if (positions.has(step.name)) {
      throw problem(
        "DuplicateStepName",
        name,
        step.name,
        `two steps are named ${JSON.stringify(step.name)}; step names must be unique within a pipeline`
      )
    }
    for (const [key, need] of Object.entries(step.needs as Step.NeedsRecord)) {
      if (!positions.has(need.name)) {
        throw problem(
          "MissingNeed",
          name,
          step.name,
          `needs.${key} is step ${JSON.stringify(need.name)}, which does not come before it in the pipeline`
        )
      }
    }
    positions.set(step.name, index)
  })
  const self = Object.create(Proto)
  self.name = name
  self.input = input
  self.steps = Object.freeze([...steps])
  self.indexOf = (stepName: string) => positions.get(stepName) ?? -1
  return Object.freeze(self)
}

/**
 * Define a pipeline from its steps, in order, with an optional input schema. Throws a
 * `DefinitionError` for a blank name, no steps, two steps with one name, or a step whose `needs`
 * names a step that does not come before it.
 *
 * @example
 * ```ts
 * const backup = pipeline("BackupAutomationPipeline", generation, transfer, notification)
 * const typed = pipeline("Backup", { input: Schema.Struct({ path: Schema.String }) }, generation, transfer)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <const Name extends string, const Steps extends readonly [Step.Any, ...Array<Step.Any>]>(
    name: Name,
    ...steps: Steps & CheckSteps<Steps, void>
  ): Pipeline<Name, void, Steps>
  <const Name extends string, I, const Steps extends readonly [Step.Any, ...Array<Step.Any>]>(
    name: Name,
    options: Options<I>,
    ...steps: Steps & CheckSteps<Steps, I>
  ): Pipeline<Name, I, Steps>
} = (name: string, ...rest: ReadonlyArray<unknown>): any => {
  const [first, ...others] = rest
  if (first !== undefined && !Step.isStep(first) && Predicate.isObject(first)) {
    return unsafeMake(name, (first as Options<unknown>).input, others)
  }
  return unsafeMake(name, undefined, rest)
}

/**
 * Like `make`, for pipelines built at run time (from configuration, say): the definition error
 * is in the error channel instead of being thrown.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEffect = (
  name: string,
  options: Partial<Options<any>>,
  steps: ReadonlyArray<Step.Any>
): Effect.Effect<Any, DefinitionError> =>
  Effect.try({
    try: () => unsafeMake(name, options.input, steps),
    catch: (error) =>
      error instanceof DefinitionError
        ? error
        : problem("InvalidOption", String(name), undefined, String(error))
  })

/**
 * A new pipeline with one more step at the end (checked like `make`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const append: {
  <S extends Step.Any>(
    step: S
  ): <Name extends string, I, Steps extends ReadonlyArray<Step.Any>>(
    self: Pipeline<Name, I, Steps> & CheckAppend<Steps, I, S>
  ) => Pipeline<Name, I, readonly [...Steps, S]>
  <Name extends string, I, Steps extends ReadonlyArray<Step.Any>, S extends Step.Any>(
    self: Pipeline<Name, I, Steps>,
    step: S & Last<CheckSteps<readonly [...Steps, S], I>>
  ): Pipeline<Name, I, readonly [...Steps, S]>
} = dual(2, (self: Any, step: Step.Any): Any => unsafeMake(self.name, self.input, [...self.steps, step]))

/**
 * A new pipeline with another name and the same steps (to run one definition under two names).
 *
 * @since 0.1.0
 * @category combinators
 */
export const rename: {
  <const N extends string>(
    name: N
  ): <I, Steps extends ReadonlyArray<Step.Any>>(self: Pipeline<string, I, Steps>) => Pipeline<N, I, Steps>
  <I, Steps extends ReadonlyArray<Step.Any>, const N extends string>(
    self: Pipeline<string, I, Steps>,
    name: N
  ): Pipeline<N, I, Steps>
} = dual(2, (self: Any, name: string): Any => unsafeMake(name, self.input, self.steps))
