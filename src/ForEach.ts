/**
 * Fan-out over data known at run time: `forEach(name, { item, items, step, concurrency? })`, a
 * step of a pipeline with one member per item. When it becomes current, `items` (a pure function
 * of the pipeline input and the outputs it needs) gives the items; one member is created per item,
 * each a run of `step` with `ctx.item` and `ctx.index`, persisted as a step record of its own; at
 * most `concurrency` members are active at once. Its output, read through `needs`, is the array of
 * the members' outputs in item order (docs/semantics.md "Fan-out").
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { DefinitionError } from "./Errors.js"
import * as Step from "./Step.js"

/**
 * What a member's handlers get besides a step's context: its item, decoded with the item schema,
 * and its position among the items.
 *
 * @since 0.2.0
 * @category contexts
 */
export interface ItemContext<Item> {
  readonly item: Item
  readonly index: number
}

/**
 * The step that each member of a `forEach` runs: a step's options, whose handlers also get
 * `ctx.item` and `ctx.index`, and whose `ctx.outputs` are those the `forEach` needs.
 *
 * @since 0.2.0
 * @category models
 */
export interface MemberOptions<Item, State, Output, Input, Outputs, E1, R1, E2, R2> {
  readonly state?: Schema.Schema<State, any> | undefined
  readonly output?: Schema.Schema<Output, any> | undefined
  readonly onStart?:
    | ((ctx: Step.StartContext<Input, Outputs> & ItemContext<Item>) => Effect.Effect<NoInfer<State>, E1, R1>)
    | undefined
  readonly onContinue?:
    | ((
      ctx: Step.ContinueContext<Input, Outputs, NoInfer<State>, never> & ItemContext<Item>
    ) => Effect.Effect<Step.Outcome<NoInfer<State>, NoInfer<Output>>, E2, R2>)
    | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The options of `forEach`.
 *
 * - `item`: the schema of an item (each is stored with its member, encoded with it).
 * - `items`: a pure function of the pipeline input and the outputs the step `needs`, giving the
 *   items, evaluated once, when the step becomes current.
 * - `step`: what each member runs (`MemberOptions`).
 * - `concurrency`: at most this many members active (started and not ended) at once. Default: all.
 * - `input`, `needs`: as for a step.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<Item, State, Output, Input, Needs extends Step.NeedsRecord, E1, R1, E2, R2> {
  readonly item: Schema.Schema<Item, any>
  readonly input?: Schema.Schema<Input, any> | undefined
  readonly needs?: Needs | undefined
  readonly items: (ctx: Step.ConditionContext<NoInfer<Input>, Step.OutputsOf<NoInfer<Needs>>>) => ReadonlyArray<Item>
  readonly step: MemberOptions<
    NoInfer<Item>,
    State,
    Output,
    NoInfer<Input>,
    Step.OutputsOf<NoInfer<Needs>>,
    E1,
    R1,
    E2,
    R2
  >
  readonly concurrency?: number | undefined
}

const invalid = (step: string, detail: string): never => {
  throw new DefinitionError({ problem: "InvalidOption", pipeline: undefined, step, detail })
}

/**
 * A fan-out step: one member per item of `items`, each running `step` with `ctx.item` and
 * `ctx.index`, at most `concurrency` at once. The step finishes when every member has finished,
 * with the array of their outputs in item order (its output type is `ReadonlyArray<Output>`); a
 * member that fails (after its retries) or cancels ends it: the other members are cancelled (their
 * calls in flight interrupted), and the run fails or is cancelled. No items: the step finishes at
 * once with `[]`. `items` that throws, or gives no array, or an item that does not encode, fails
 * the step. Members are named `name[index]` in the run's steps and history, and each has a step run
 * id of its own, derived from the step's (a member whose start is repeated carries the same one).
 *
 * Throws a `DefinitionError` (`InvalidOption`) for a missing item schema, `items` that is not a
 * function, a `concurrency` that is not a positive integer, or member options that a step would
 * refuse.
 *
 * @example
 * ```ts
 * const sendAll = forEach("SendInvoices", {
 *   input: Schema.Struct({ customers: Schema.Array(Schema.String) }),
 *   item: Schema.String,
 *   items: (ctx) => ctx.input.customers,
 *   concurrency: 10,
 *   step: {
 *     output: Schema.String,
 *     onContinue: (ctx) => Effect.succeed(Step.finish(`invoice for ${ctx.item}`))
 *   }
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Item,
  State = void,
  Output = void,
  Input = unknown,
  const Needs extends Step.NeedsRecord = {},
  E1 = never,
  R1 = never,
  E2 = never,
  R2 = never
>(
  name: Name,
  options: Options<Item, State, Output, Input, Needs, E1, R1, E2, R2> & Step.NoScope<R1 | R2>
): Step.Step<Name, void, ReadonlyArray<Output>, Input, Needs, never, E1 | E2, R1 | R2> => {
  if (typeof name !== "string" || name.trim() === "") {
    throw new DefinitionError({ problem: "BlankStepName", pipeline: undefined, step: String(name), detail: "a step needs a non-blank name" })
  }
  if (options === null || typeof options !== "object") invalid(name, "forEach(name, options): the options are missing")
  if (!Schema.isSchema(options.item)) invalid(name, "forEach: `item` must be the schema of an item")
  if (typeof options.items !== "function") invalid(name, "forEach: `items` must be a function of the input and the outputs")
  const concurrency = options.concurrency
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) {
    invalid(name, `forEach: concurrency must be a positive integer, not ${String(concurrency)}`)
  }
  if (options.step === null || typeof options.step !== "object") invalid(name, "forEach: `step` must be the options of a member's step")
  const needs = options.needs ?? ({} as Needs)
  // the member's step, checked as any step is (it is never part of a pipeline by itself)
  const member = (Step.make as (name: string, options: unknown) => Step.Any)(`${name}[]`, { ...options.step, needs })
  return Step.unsafeMake({
    name,
    state: undefined,
    output: Schema.Array(member.output ?? Schema.Null),
    input: options.input,
    signal: undefined,
    needs,
    onStart: undefined,
    onContinue: member.onContinue,
    retry: undefined,
    timeout: undefined,
    condition: undefined,
    each: { item: options.item, items: options.items as Step.Each["items"], member, concurrency }
  }) as any
}
