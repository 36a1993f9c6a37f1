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
import * as Parallel from "./Parallel.js"
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
 * A pipeline definition. `elements` are in the order in which they run: steps, and parallel
 * groups of steps (`parallel`); `steps` are all of its steps in order, the members of each group
 * in place of the group (the order of the run's step records).
 *
 * @since 0.1.0
 * @category models
 */
export interface Pipeline<
  Name extends string = string,
  Input = any,
  Elements extends ReadonlyArray<Parallel.Element> = ReadonlyArray<Parallel.Element>
> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly input: Schema.Schema<any, any> | undefined
  readonly elements: Elements
  readonly steps: Parallel.Flatten<Elements>
  /** @internal phantom: the decoded input type */
  readonly "~input"?: Input
  /** The position of a step in the pipeline by its name, or -1. */
  readonly indexOf: (stepName: string) => number
  /**
   * The positions of the steps of the parallel group that the step at `position` is a member of
   * (`[from, to)`, nested groups flattened into the outermost one), or `undefined` for a step of
   * its own.
   */
  readonly group: (position: number) => readonly [from: number, to: number] | undefined
}

/**
 * Any pipeline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends Pipeline<string, any, ReadonlyArray<Parallel.Element>> {}

/**
 * The services that the handlers of a pipeline's steps require.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Context<P> = P extends { readonly elements: infer Elements extends ReadonlyArray<any> }
  ? Step.Context<Parallel.Steps<Elements[number]>>
  : never

/**
 * The input of a pipeline (`void` for a pipeline without an input schema).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Input<P> = P extends { readonly "~input"?: infer I } ? I : never

/**
 * The steps of a pipeline, in order (the members of its groups in place of the groups).
 *
 * @since 0.1.0
 * @category type-level
 */
export type Steps<P> = P extends { readonly steps: infer S } ? S : never

/**
 * The elements of a pipeline, in order: its steps and parallel groups.
 *
 * @since 0.2.0
 * @category type-level
 */
export type Elements<P> = P extends { readonly elements: infer E } ? E : never

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
 * Type-level check of the elements of a pipeline: each step's expected input must accept the
 * pipeline's input, and each step may only need steps that come before it (before its group, for
 * a member of a parallel group). An element that breaks either rule turns into an object type
 * whose single key explains what is wrong, so the call does not compile.
 *
 * @since 0.1.0
 * @category type-level
 */
export type CheckSteps<Steps, Input, Seen extends string = never> = Steps extends readonly [infer H, ...infer T]
  ? readonly [CheckElement<H, Input, Seen>, ...CheckSteps<T, Input, Seen | Parallel.Names<H>>]
  : Steps

/**
 * Type-level check of one element (see `CheckSteps`): a step, or each member of a group.
 *
 * @since 0.2.0
 * @category type-level
 */
export type CheckElement<E, Input, Seen extends string> = E extends
  { readonly _tag: "Parallel"; readonly members: infer M } ? CheckMembers<M, Input, Seen>
  : CheckStep<E, Input, Seen>

/**
 * Type-level check of the members of a group: `unknown` when each fits, else the check of the
 * first that does not.
 *
 * @since 0.2.0
 * @category type-level
 */
export type CheckMembers<M, Input, Seen extends string> = M extends readonly [infer H, ...infer T]
  ? unknown extends CheckElement<H, Input, Seen> ? CheckMembers<T, Input, Seen> : CheckElement<H, Input, Seen>
  : unknown

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
export type CheckAppend<Steps extends ReadonlyArray<Parallel.Element>, I, S> = unknown extends Last<CheckSteps<readonly [...Steps, S], I>>
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
    return {
      _id: "Pipeline",
      name: this.name,
      steps: this.elements.map((e) => (Parallel.isParallel(e) ? (e as any).toJSON() : e.name))
    }
  }
}

const problem = (problem: DefinitionProblem, pipeline: string, step: string | undefined, detail: string) =>
  new DefinitionError({ problem, pipeline, step, detail })

const unsafeMake = (
  name: string,
  input: Schema.Schema<any, any> | undefined,
  elements: ReadonlyArray<unknown>
): Any => {
  if (typeof name !== "string" || name.trim() === "") {
    throw problem("BlankPipelineName", String(name), undefined, "a pipeline needs a non-blank name")
  }
  if (elements.length === 0) {
    throw problem("NoSteps", name, undefined, "a pipeline needs at least one step")
  }
  const positions = new Map<string, number>()
  const steps: Array<Step.Any> = []
  // for each step, the group it is a member of (shared by its members), or undefined
  const groups: Array<readonly [number, number] | undefined> = []
  elements.forEach((element, index) => {
    if (!Parallel.isElement(element)) {
      throw problem(
        "NotAStep",
        name,
        undefined,
        `argument ${index + 1} is not a step or a group (build steps with step(...), groups with parallel(...))`
      )
    }
    const members = Parallel.isParallel(element) ? element.steps : [element]
    // a member may only need what comes before its group: the group's own names are added after
    for (const step of members) {
      if (positions.has(step.name) || members.filter((m) => m.name === step.name).length > 1) {
        throw problem(
          "DuplicateStepName",
          name,
          step.name,
          `two steps are named ${JSON.stringify(step.name)}; step names must be unique within a pipeline`
        )
      }
      for (const [key, need] of Object.entries(step.needs as Step.NeedsRecord)) {
        if (!positions.has(need.name)) {
          const sibling = members.some((m) => m.name === need.name)
          throw problem(
            "MissingNeed",
            name,
            step.name,
            sibling
              ? `needs.${key} is step ${JSON.stringify(need.name)}, a member of the same parallel group: members start together, so a member may only need steps that come before its group`
              : `needs.${key} is step ${JSON.stringify(need.name)}, which does not come before it in the pipeline`
          )
        }
      }
    }
    const from = steps.length
    const group = Parallel.isParallel(element) ? [from, from + members.length] as const : undefined
    for (const step of members) {
      positions.set(step.name, steps.length)
      steps.push(step)
      groups.push(group)
    }
  })
  const self = Object.create(Proto)
  self.name = name
  self.input = input
  self.elements = Object.freeze([...elements])
  self.steps = Object.freeze(steps)
  self.indexOf = (stepName: string) => positions.get(stepName) ?? -1
  self.group = (position: number) => groups[position]
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
  <const Name extends string, const Steps extends readonly [Parallel.Element, ...Array<Parallel.Element>]>(
    name: Name,
    ...steps: Steps & CheckSteps<Steps, void>
  ): Pipeline<Name, void, Steps>
  <const Name extends string, I, const Steps extends readonly [Parallel.Element, ...Array<Parallel.Element>]>(
    name: Name,
    options: Options<I>,
    ...steps: Steps & CheckSteps<Steps, I>
  ): Pipeline<Name, I, Steps>
} = (name: string, ...rest: ReadonlyArray<unknown>): any => {
  const [first, ...others] = rest
  if (first !== undefined && !Parallel.isElement(first) && Predicate.isObject(first)) {
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
  steps: ReadonlyArray<Parallel.Element>
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
  <S extends Parallel.Element>(
    step: S
  ): <Name extends string, I, Steps extends ReadonlyArray<Parallel.Element>>(
    self: Pipeline<Name, I, Steps> & CheckAppend<Steps, I, S>
  ) => Pipeline<Name, I, readonly [...Steps, S]>
  <Name extends string, I, Steps extends ReadonlyArray<Parallel.Element>, S extends Parallel.Element>(
    self: Pipeline<Name, I, Steps>,
    step: S & Last<CheckSteps<readonly [...Steps, S], I>>
  ): Pipeline<Name, I, readonly [...Steps, S]>
} = dual(2, (self: Any, step: Parallel.Element): Any => unsafeMake(self.name, self.input, [...self.elements, step]))

/**
 * A new pipeline with another name and the same steps (to run one definition under two names).
 *
 * @since 0.1.0
 * @category combinators
 */
export const rename: {
  <const N extends string>(
    name: N
  ): <I, Steps extends ReadonlyArray<Parallel.Element>>(self: Pipeline<string, I, Steps>) => Pipeline<N, I, Steps>
  <I, Steps extends ReadonlyArray<Parallel.Element>, const N extends string>(
    self: Pipeline<string, I, Steps>,
    name: N
  ): Pipeline<N, I, Steps>
} = dual(2, (self: Any, name: string): Any => unsafeMake(name, self.input, self.elements))
