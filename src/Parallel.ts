/**
 * Parallel groups: `parallel(...members)`, an element of a pipeline whose members start in the
 * same tick and progress on their own (each waits, sets timers, receives signals and retries
 * independently). The group finishes when every member has finished (or been skipped); a member
 * that fails or cancels ends the group, its other members are cancelled, and the run fails or is
 * cancelled (docs/semantics.md "Parallel groups").
 *
 * @since 0.2.0
 */
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import { DefinitionError } from "./Errors.js"
import * as Step from "./Step.js"

/**
 * @since 0.2.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("prorch/Parallel")

/**
 * @since 0.2.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * An element of a pipeline: a step (plain, or conditional with `when`) or a parallel group.
 *
 * @since 0.2.0
 * @category models
 */
export type Element = Step.Any | Any

/**
 * A parallel group: its members, in the order given (which is the order of their step records
 * and of their `onStart` calls within a tick), and its steps, the members with nested groups
 * flattened.
 *
 * @since 0.2.0
 * @category models
 */
export interface Parallel<Members extends ReadonlyArray<Element> = ReadonlyArray<Element>> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "Parallel"
  readonly members: Members
  /** the group's steps in order, nested groups flattened */
  readonly steps: ReadonlyArray<Step.Any>
  /** how the group is named in errors and pictures: `parallel(A, B, C)` */
  readonly name: string
}

/**
 * Any parallel group.
 *
 * @since 0.2.0
 * @category models
 */
export interface Any extends Parallel<ReadonlyArray<Element>> {}

/**
 * The steps of an element, as a union: the step itself, or every member of a group (nested
 * groups flattened).
 *
 * @since 0.2.0
 * @category type-level
 */
export type Steps<E> = E extends { readonly _tag: "Parallel"; readonly members: infer M extends ReadonlyArray<any> }
  // any group (its members not a tuple): any step
  ? number extends M["length"] ? Step.Any : Steps<M[number]>
  : E

/**
 * The names of the steps of an element.
 *
 * @since 0.2.0
 * @category type-level
 */
export type Names<E> = Extract<Step.Name<Steps<E>>, string>

/**
 * The names of the steps that the steps of an element need.
 *
 * @since 0.2.0
 * @category type-level
 */
export type NeededNames<E> = Steps<E> extends infer S ? S extends any ? Step.Name<Step.Needs<S>[keyof Step.Needs<S>]> : never
  : never

/**
 * The steps of a tuple of elements, in order, groups flattened (a plain array of steps for an
 * array that is not a tuple).
 *
 * @since 0.2.0
 * @category type-level
 */
export type Flatten<Elements> = Elements extends readonly [] ? readonly []
  : Elements extends readonly [infer H, ...infer T]
    ? H extends { readonly _tag: "Parallel"; readonly members: infer M } ? readonly [...Flatten<M>, ...Flatten<T>]
    : readonly [H, ...Flatten<T>]
  : Elements extends ReadonlyArray<infer E> ? ReadonlyArray<Steps<E>>
  : never

/**
 * Type-level check of a group's members: no member may need a step of the group (its members
 * start together, so none has an output when the others start). `unknown` when the members fit,
 * else an object type whose single key names the steps needed.
 *
 * @since 0.2.0
 * @category type-level
 */
export type CheckMembers<Members extends ReadonlyArray<Element>> = [
  Extract<NeededNames<Members[number]>, Names<Members[number]>>
] extends [never] ? unknown
  : {
    readonly "prorch: a member of a parallel group needs a step of the same group (members start together)": Extract<
      NeededNames<Members[number]>,
      Names<Members[number]>
    >
  }

/**
 * Whether a value is a parallel group.
 *
 * @since 0.2.0
 * @category guards
 */
export const isParallel = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

/**
 * Whether a value is an element of a pipeline (a step or a parallel group).
 *
 * @since 0.2.0
 * @category guards
 */
export const isElement = (u: unknown): u is Element => Step.isStep(u) || isParallel(u)

const Proto = {
  [TypeId]: TypeId,
  _tag: "Parallel",
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: Any) {
    return { _id: "Parallel", members: this.members.map((m) => (isParallel(m) ? (m as any).toJSON() : m.name)) }
  }
}

const invalid = (problem: DefinitionError["problem"], step: string | undefined, detail: string): never => {
  throw new DefinitionError({ problem, pipeline: undefined, step, detail })
}

/** the name of a group as errors and pictures show it */
const nameOf = (members: ReadonlyArray<Element>): string =>
  `parallel(${members.map((m) => (isParallel(m) ? m.name : m.name)).join(", ")})`

/**
 * A parallel group of members (steps, conditional steps, nested groups). Its members start in
 * the same tick, each its `onStart` then its `onContinue`, their handlers running concurrently,
 * and progress on their own. The group finishes when every member has finished or been skipped;
 * the next element starts in the tick in which the last member finishes. A member that fails
 * (after its retries) or cancels ends the group: the members still pending are cancelled (their
 * handlers in flight interrupted) and the run fails or is cancelled. A later element may `need`
 * any member; a member may not need a step of its own group.
 *
 * Throws a `DefinitionError` for an empty group (`EmptyGroup`), a member that is not an element
 * (`NotAStep`), two members with one name (`DuplicateStepName`), or a member that needs a step
 * of the group (`MissingNeed`). A nested group's members are members of the enclosing group.
 *
 * @example
 * ```ts
 * const onboarding = pipeline("Onboarding", createAccount, parallel(sendWelcome, provisionStorage, notifySales), activate)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <const Members extends readonly [Element, ...Array<Element>]>(
  ...members: Members & CheckMembers<Members>
): Parallel<Members> => {
  const list = members as ReadonlyArray<unknown>
  if (list.length === 0) invalid("EmptyGroup", undefined, "parallel() needs at least one member")
  list.forEach((member, index) => {
    if (!isElement(member)) {
      invalid("NotAStep", undefined, `member ${index + 1} of parallel(...) is not a step or a group`)
    }
  })
  const elements = list as ReadonlyArray<Element>
  const steps = elements.flatMap((m) => (isParallel(m) ? m.steps : [m]))
  for (const s of steps) {
    if (s.each !== undefined) {
      invalid("InvalidOption", s.name, `a forEach cannot be a member of ${nameOf(elements)}: put it before or after the group`)
    }
  }
  const names = new Set<string>()
  for (const s of steps) {
    if (names.has(s.name)) {
      invalid("DuplicateStepName", s.name, `two members of ${nameOf(elements)} are named ${JSON.stringify(s.name)}`)
    }
    names.add(s.name)
  }
  for (const s of steps) {
    for (const [key, need] of Object.entries(s.needs)) {
      if (names.has(need.name)) {
        invalid(
          "MissingNeed",
          s.name,
          `needs.${key} is step ${JSON.stringify(need.name)}, a member of the same group ${
            nameOf(elements)
          }: members start together, so a member may only need steps that come before the group`
        )
      }
    }
  }
  const self = Object.create(Proto)
  self.members = Object.freeze([...elements])
  self.steps = Object.freeze(steps)
  self.name = nameOf(elements)
  return Object.freeze(self)
}

/**
 * The members of a conditional group (`when(predicate, parallel(...))`): each member conditional,
 * its output read as an `Option` (nested groups likewise).
 *
 * @since 0.2.0
 * @category type-level
 */
export type ConditionalMembers<M> = {
  readonly [K in keyof M]: M[K] extends Parallel<infer N> ? Parallel<ConditionalMembers<N>> : Step.Conditional<M[K]>
}

/**
 * The pipeline input that the members of a group expect (all of their expectations at once).
 *
 * @since 0.2.0
 * @category type-level
 */
export type InputOf<M> = M extends readonly [infer H, ...infer T]
  ? (H extends { readonly _tag: "Parallel"; readonly members: infer N } ? InputOf<N> : Step.Input<H>) & InputOf<T>
  : unknown

/**
 * A conditional element: `when(predicate, step)` (see `Step.when`), or `when(predicate, group)`,
 * a parallel group that runs only if `predicate` holds when the group becomes current; otherwise
 * every member is `skipped` and the run goes on with the next element. A group's predicate is a
 * pure function of the pipeline input (a group declares no `needs`; `ctx.outputs` is empty): it is
 * evaluated for each member as the group starts, with the same input, so its members are all
 * skipped or all run. Each member reads as a conditional step: a later element that needs one
 * reads its output as an `Option`. Throws a `DefinitionError` (`InvalidOption`) for a predicate that
 * is not a function or a member that is conditional already (combine the predicates).
 *
 * @example
 * ```ts
 * const extras = when((ctx) => ctx.input.plan === "enterprise", parallel(notifySales, assignManager))
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const when: {
  <const M extends ReadonlyArray<Element>>(
    predicate: (ctx: Step.ConditionContext<NoInfer<InputOf<M>>, {}>) => boolean,
    group: Parallel<M>
  ): Parallel<ConditionalMembers<M>>
  <S extends Step.Any>(
    predicate: (ctx: Step.ConditionContext<Step.Input<S>, Step.OutputsOf<Step.Needs<S>>>) => boolean,
    step: S
  ): Step.Conditional<NoInfer<S>>
} = ((predicate: (ctx: Step.ConditionContext<any, any>) => boolean, element: Element): Element => {
  if (!isParallel(element)) return Step.when(predicate, element as Step.Any)
  if (typeof predicate !== "function") {
    invalid("InvalidOption", undefined, `when(predicate, ${element.name}): the predicate is not a function`)
  }
  const condition = (ctx: Step.ConditionContext<any, any>) => predicate({ input: ctx.input, outputs: {} })
  const conditional = (member: Element): Element => {
    if (isParallel(member)) return make(...(member.members.map(conditional) as [Element]))
    if (member.condition !== undefined) {
      invalid("InvalidOption", member.name, `a member of ${element.name} is conditional already: combine the predicates`)
    }
    return Step.unsafeMake({ ...member, condition }) as Step.Any
  }
  return make(...(element.members.map(conditional) as [Element]))
}) as any
