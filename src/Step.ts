/**
 * Steps: the unit of work of a pipeline.
 *
 * A step is a value with a name and two typed Effect handlers. `onStart` runs once when the step
 * begins and returns the step's initial state; `onContinue` runs on every tick while the step is
 * pending and answers what happens next: `Step.finish(output)`, `Step.wait(...)`, `Step.fail(reason)`
 * or `Step.cancel(reason)`. A step can thus start external work in `onStart` and poll it in
 * `onContinue` (a "sensor" step), as in the Python original.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import type * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { DefinitionError } from "./Errors.js"
import * as Poll from "./internal/poll.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("prorch/Step")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

// -----------------------------------------------------------------------------
// outcomes
// -----------------------------------------------------------------------------

/**
 * The step is done; `output` is persisted (encoded with the step's output schema) and readable by
 * later steps that name this one in their `needs`.
 *
 * @since 0.1.0
 * @category outcomes
 */
export interface Finish<O> {
  readonly _tag: "Finish"
  readonly output: O
}

/**
 * The step stays `pending` and is continued again later: on the next pass for a plain
 * `Step.wait()`, or when its timer (`after` / `until`) is due, or sooner when a signal arrives.
 * `state`, when given, replaces the step's state.
 *
 * @since 0.1.0
 * @category outcomes
 */
export interface Wait<S> {
  readonly _tag: "Wait"
  readonly hasState: boolean
  readonly state: S | undefined
  readonly after: Duration.Duration | undefined
  readonly until: Date | undefined
}

/**
 * The step fails with `reason`: the run fails and later steps never start.
 *
 * @since 0.1.0
 * @category outcomes
 */
export interface Fail {
  readonly _tag: "Fail"
  readonly reason: string
  readonly details: unknown
}

/**
 * The step is cancelled with `reason`: the run is cancelled and later steps never start.
 *
 * @since 0.1.0
 * @category outcomes
 */
export interface Cancel {
  readonly _tag: "Cancel"
  readonly reason: string
}

/**
 * What `onContinue` answers.
 *
 * @since 0.1.0
 * @category outcomes
 */
export type Outcome<S = unknown, O = unknown> = Finish<O> | Wait<S> | Fail | Cancel

/**
 * Finish the step, with its output when the step declares an `output` schema.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const finish: {
  (): Finish<void>
  <O>(output: O): Finish<O>
} = (output?: unknown): Finish<any> => ({ _tag: "Finish", output })

/**
 * Options of `Step.wait`: a new state, and when to be continued (`after` a duration or `until` a
 * date; without either, on the next pass).
 *
 * @since 0.1.0
 * @category outcomes
 */
export interface WaitOptions<S> {
  readonly state?: S
  readonly after?: Duration.DurationInput
  readonly until?: Date
}

/**
 * Keep the step pending and continue it later.
 *
 * - `Step.wait()`: continue on the next pass (the original's behaviour).
 * - `Step.wait({ after: "30 seconds" })` / `Step.wait({ until: date })`: a durable timer.
 * - `Step.wait({ state })`: replace the step's state (with either of the above).
 *
 * @since 0.1.0
 * @category outcomes
 */
export const wait = <S = never>(options?: WaitOptions<S>): Wait<S> => ({
  _tag: "Wait",
  hasState: options !== undefined && "state" in options,
  state: options?.state,
  after: options?.after === undefined ? undefined : Duration.decode(options.after),
  until: options?.until
})

/**
 * Fail the step (and so the run) with a reason; `details` is stored with the error.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const fail = (reason: string, details?: unknown): Fail => ({ _tag: "Fail", reason, details })

/**
 * Cancel the step (and so the run) with a reason.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const cancel = (reason = "cancelled"): Cancel => ({ _tag: "Cancel", reason })

// -----------------------------------------------------------------------------
// handler contexts
// -----------------------------------------------------------------------------

/**
 * What every handler receives.
 *
 * - `runId`: the run.
 * - `stepRunId`: this step of this run: stable across attempts, ticks and crashes; use it as the
 *   idempotency key of the external work that the step starts.
 * - `attempt`: 1 for the first call, then one more after each failed call that is retried; back
 *   to 1 after a call succeeds.
 * - `input`: the pipeline input, decoded.
 * - `outputs`: the outputs of the steps named in `needs`, decoded.
 *
 * @since 0.1.0
 * @category contexts
 */
export interface StartContext<Input = unknown, Outputs = {}> {
  readonly runId: string
  readonly stepRunId: string
  readonly pipeline: string
  readonly step: string
  readonly attempt: number
  readonly input: Input
  readonly outputs: Outputs
}

/**
 * What `onContinue` receives: the start context, the step's current state, the signals received
 * since the last call, and how many times `onContinue` answered before for this step (a call that
 * failed and is retried does not count).
 *
 * @since 0.1.0
 * @category contexts
 */
export interface ContinueContext<Input = unknown, Outputs = {}, State = unknown, Signal = never>
  extends StartContext<Input, Outputs>
{
  readonly state: State
  readonly signals: ReadonlyArray<Signal>
  readonly continuations: number
}

// -----------------------------------------------------------------------------
// model
// -----------------------------------------------------------------------------

/**
 * A step definition: an immutable value.
 *
 * Type parameters: the step's `Name`, its `State`, its `Output`, the pipeline `Input` it expects,
 * the steps whose outputs it `Needs`, the payload of its `Signal`s, and the errors `E` and
 * requirements `R` of its handlers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<
  Name extends string = string,
  State = any,
  Output = any,
  Input = any,
  Needs extends NeedsRecord = any,
  Signal = any,
  E = any,
  R = any
> extends Pipeable {
  readonly [TypeId]: TypeId
  /** Phantom: the step's types, for the type-level helpers. Absent at run time. */
  readonly "~prorch.Step"?: {
    readonly name: Name
    readonly state: State
    readonly output: Output
    readonly input: Input
    readonly needs: Needs
    readonly signal: Signal
    readonly error: E
    readonly context: R
  }
  readonly name: Name
  readonly state: Schema.Schema<any, any> | undefined
  readonly output: Schema.Schema<any, any> | undefined
  readonly input: Schema.Schema<any, any> | undefined
  readonly signal: Schema.Schema<any, any> | undefined
  readonly needs: Needs
  readonly onStart: ((ctx: StartContext<Input, OutputsOf<Needs>>) => Effect.Effect<State, E, R>) | undefined
  readonly onContinue: (
    ctx: ContinueContext<Input, OutputsOf<Needs>, State, Signal>
  ) => Effect.Effect<Outcome<State, Output>, E, R>
  readonly retry: Schedule.Schedule<unknown, unknown> | undefined
  readonly timeout: Duration.Duration | undefined
  /** `when(predicate, step)`: the step runs only if this holds when it becomes current, else it is `skipped` */
  readonly condition: ((ctx: ConditionContext<Input, OutputsOf<Needs>>) => boolean) | undefined
  /** `forEach(...)`: the step is a fan-out, one member per item (see `ForEach.make`) */
  readonly each: Each | undefined
  /** `child(...)`: the step runs this pipeline as its child (see `Child.make`) */
  readonly child?: { readonly pipeline: { readonly name: string } } | undefined
}

/**
 * Any step.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends Pipeable {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly state: Schema.Schema<any, any> | undefined
  readonly output: Schema.Schema<any, any> | undefined
  readonly input: Schema.Schema<any, any> | undefined
  readonly signal: Schema.Schema<any, any> | undefined
  readonly needs: NeedsRecord
  readonly onStart: ((ctx: any) => Effect.Effect<any, any, any>) | undefined
  readonly onContinue: (ctx: any) => Effect.Effect<Outcome<any, any>, any, any>
  readonly retry: Schedule.Schedule<unknown, unknown> | undefined
  readonly timeout: Duration.Duration | undefined
  readonly condition: ((ctx: ConditionContext<any, any>) => boolean) | undefined
  readonly each: Each | undefined
  readonly child?: { readonly pipeline: { readonly name: string } } | undefined
}

/**
 * What makes a step a fan-out (`forEach`): the schema of its items, the pure function that gives
 * them, the step that each member runs (its handlers also get `ctx.item` and `ctx.index`), and how
 * many members may be active at once (`undefined`: all).
 *
 * @since 0.2.0
 * @category models
 */
export interface Each {
  readonly item: Schema.Schema<any, any>
  readonly items: (ctx: ConditionContext<any, any>) => ReadonlyArray<unknown>
  readonly member: Any
  readonly concurrency: number | undefined
}

/**
 * What the predicate of a conditional step (`when`) is given: the pipeline input and the outputs of
 * the steps the step `needs`, decoded (those of conditional steps as `Option`s).
 *
 * @since 0.2.0
 * @category contexts
 */
export interface ConditionContext<Input = unknown, Outputs = {}> {
  readonly input: Input
  readonly outputs: Outputs
}

/**
 * The steps whose outputs a step reads, by the key under which its handlers find them.
 *
 * @since 0.1.0
 * @category models
 */
export interface NeedsRecord {
  readonly [key: string]: Any
}

/**
 * The decoded outputs that a step's handlers find in `ctx.outputs`.
 *
 * @since 0.1.0
 * @category models
 */
export type OutputsOf<Needs> = { readonly [K in keyof Needs]: Output<Needs[K]> }

/**
 * The name of a step.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Name<S> = S extends { readonly "~prorch.Step"?: { readonly name: infer X } } ? X : never

/**
 * The state of a step.
 *
 * @since 0.1.0
 * @category type-level
 */
export type State<S> = S extends { readonly "~prorch.Step"?: { readonly state: infer X } } ? X : never

/**
 * The output of a step.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Output<S> = S extends { readonly "~prorch.Step"?: { readonly output: infer X } } ? X : never

/**
 * The pipeline input that a step expects.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Input<S> = S extends { readonly "~prorch.Step"?: { readonly input: infer X } } ? X : never

/**
 * The steps that a step needs.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Needs<S> = S extends { readonly "~prorch.Step"?: { readonly needs: infer X } } ? X : never

/**
 * The signal payload of a step.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Signal<S> = S extends { readonly "~prorch.Step"?: { readonly signal: infer X } } ? X : never

/**
 * The errors of a step's handlers.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Error<S> = S extends { readonly "~prorch.Step"?: { readonly error: infer X } } ? X : never

/**
 * The services that a step's handlers require.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Context<S> = S extends { readonly "~prorch.Step"?: { readonly context: infer X } } ? X : never

/**
 * Whether a value is a step.
 *
 * @since 0.1.0
 * @category guards
 */
export const isStep = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

/**
 * The options of `step(name, options)`.
 *
 * - `state`, `output`, `signal`: schemas of what is persisted; `input`: the schema of the pipeline
 *   input that the step expects (only its type is used: the pipeline decodes the input).
 * - `needs`: earlier steps whose outputs the handlers read, as `ctx.outputs.<key>`.
 * - `onStart`: returns the initial state. Required when `state` is declared.
 * - `onContinue`: answers finish / wait / fail / cancel. Without it, the step finishes right after
 *   `onStart`. Required when `output` is declared.
 * - `retry`: a `Schedule` that decides whether and when a failed handler call is tried again (the
 *   schedule's input is the error). Default: no retry.
 * - `timeout`: the longest a handler call may take. Default: none.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<State, Output, Input, Needs extends NeedsRecord, Signal, E1, R1, E2, R2> {
  readonly state?: Schema.Schema<State, any> | undefined
  readonly output?: Schema.Schema<Output, any> | undefined
  readonly input?: Schema.Schema<Input, any> | undefined
  readonly signal?: Schema.Schema<Signal, any> | undefined
  readonly needs?: Needs | undefined
  readonly onStart?:
    | ((ctx: StartContext<NoInfer<Input>, OutputsOf<NoInfer<Needs>>>) => Effect.Effect<NoInfer<State>, E1, R1>)
    | undefined
  readonly onContinue?:
    | ((
      ctx: ContinueContext<NoInfer<Input>, OutputsOf<NoInfer<Needs>>, NoInfer<State>, NoInfer<Signal>>
    ) => Effect.Effect<Outcome<NoInfer<State>, NoInfer<Output>>, E2, R2>)
    | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: Any) {
    return { _id: "Step", name: this.name, needs: Object.keys(this.needs) }
  }
}

const finished: Effect.Effect<Finish<void>> = Effect.succeed(finish())

const defaultContinueEffect = () => finished

const check = (condition: boolean, problem: DefinitionError["problem"], step: string, detail: string) => {
  if (!condition) {
    throw new DefinitionError({ problem, pipeline: undefined, step, detail })
  }
}

/** @internal a step value: frozen, with a frozen copy of its `needs` (the caller's object may change later) */
export const unsafeMake = (fields: Omit<Any, TypeId | "pipe">): Any =>
  Object.freeze(Object.assign(Object.create(Proto), fields, { needs: Object.freeze({ ...fields.needs }) }))

/**
 * A handler may not require a `Scope`: whatever it acquires must be released when its call ends
 * (`Effect.scoped` inside the handler), since the run's next call may run in another process. A
 * handler that requires one is a compile error naming this rule.
 *
 * @since 0.1.0
 * @category models
 */
export type NoScope<R> = [Extract<R, Scope.Scope>] extends [never] ? unknown
  : {
    readonly "a step handler may not require Scope: acquire its resources inside Effect.scoped in the handler": never
  }

/**
 * Define a step. Throws a `DefinitionError` for a blank name, for `state` without `onStart`, and
 * for `output` without `onContinue`. A handler may not require a `Scope` (`NoScope`).
 *
 * @example
 * ```ts
 * const transfer = step("BackupTransfer", {
 *   state: Schema.Struct({ jobId: Schema.String }),
 *   output: Schema.Struct({ location: Schema.String }),
 *   onStart: (ctx) => Effect.succeed({ jobId: `job-${ctx.stepRunId}` }),
 *   onContinue: (ctx) => Effect.succeed(Step.finish({ location: `s3://backups/${ctx.state.jobId}` }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  State = void,
  Output = void,
  Input = unknown,
  const Needs extends NeedsRecord = {},
  Signal = never,
  E1 = never,
  R1 = never,
  E2 = never,
  R2 = never
>(
  name: Name,
  // `{}` is all of `Options` left out; its `NoScope` part holds whenever the handlers are left out
  options: Options<State, Output, Input, Needs, Signal, E1, R1, E2, R2> & NoScope<R1 | R2> = {} as never
): Step<Name, State, Output, Input, Needs, Signal, E1 | E2, R1 | R2> => {
  check(typeof name === "string" && name.trim() !== "", "BlankStepName", String(name), "a step needs a non-blank name")
  check(
    options.state === undefined || options.onStart !== undefined,
    "StateWithoutOnStart",
    name,
    "a step that declares a state schema needs an onStart that returns the initial state"
  )
  check(
    options.output === undefined || options.onContinue !== undefined,
    "OutputWithoutOnContinue",
    name,
    "a step that declares an output schema needs an onContinue that finishes with the output"
  )
  const needs = options.needs ?? ({} as Needs)
  for (const [key, need] of Object.entries(needs)) {
    check(isStep(need), "NotAStep", name, `needs.${key} is not a step`)
  }
  const timeout = options.timeout === undefined ? undefined : Duration.decode(options.timeout)
  return unsafeMake({
    name,
    state: options.state,
    output: options.output,
    input: options.input,
    signal: options.signal,
    needs,
    onStart: options.onStart as Any["onStart"],
    onContinue: (options.onContinue ?? defaultContinueEffect) as Any["onContinue"],
    retry: options.retry,
    timeout,
    condition: undefined,
    each: undefined
  }) as any
}

/**
 * Give a step a retry policy: a `Schedule` whose input is the error of the failed handler call.
 * Each retry is a durable wake-up (the attempt number is persisted), not an in-memory sleep.
 *
 * @example
 * ```ts
 * const polling = transfer.pipe(Step.withRetry(Schedule.exponential("1 second").pipe(Schedule.compose(Schedule.recurs(5)))))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withRetry: {
  (retry: Schedule.Schedule<unknown, unknown>): <S extends Any>(self: S) => S
  <S extends Any>(self: S, retry: Schedule.Schedule<unknown, unknown>): S
} = dual(2, <S extends Any>(self: S, retry: Schedule.Schedule<unknown, unknown>): S =>
  unsafeMake({ ...fieldsOf(self), retry }) as S)

/**
 * Bound each handler call of a step: a call that takes longer fails with `HandlerTimeout` (and is
 * retried if the step has a retry policy).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTimeout: {
  (timeout: Duration.DurationInput): <S extends Any>(self: S) => S
  <S extends Any>(self: S, timeout: Duration.DurationInput): S
} = dual(2, <S extends Any>(self: S, timeout: Duration.DurationInput): S =>
  unsafeMake({ ...fieldsOf(self), timeout: Duration.decode(timeout) }) as S)

const fieldsOf = (self: Any): Omit<Any, TypeId | "pipe"> => ({
  name: self.name,
  state: self.state,
  output: self.output,
  input: self.input,
  signal: self.signal,
  needs: self.needs,
  onStart: self.onStart,
  onContinue: self.onContinue,
  retry: self.retry,
  timeout: self.timeout,
  condition: self.condition,
  each: self.each,
  child: self.child
})

/**
 * A conditional step: `step` runs only if `predicate` holds when the step becomes current (its
 * earlier steps have finished or been skipped); otherwise it is `skipped`, a step status of its
 * own, and the run goes on with the next step. `predicate` is a pure function of the pipeline input
 * and the outputs of the steps that `step` needs, evaluated when the step is about to start (again,
 * with the same arguments and so the same answer, if a crash came before its start was committed).
 * A predicate that throws, or answers something other than a boolean, fails the step and the run.
 * A step that needs a conditional step reads its output as an `Option`: `None` when it was skipped.
 *
 * @example
 * ```ts
 * const notify = when((ctx) => ctx.input.notify, step("Notify", { onContinue: () => Effect.succeed(Step.finish()) }))
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const when = <S extends Any>(
  predicate: (ctx: ConditionContext<Input<S>, OutputsOf<Needs<S>>>) => boolean,
  step: S
): Conditional<NoInfer<S>> => {
  check(isStep(step), "NotAStep", String(step), "when(predicate, step): the element is not a step")
  check(typeof predicate === "function", "InvalidOption", step.name, "when(predicate, step): the predicate is not a function")
  check(step.condition === undefined, "InvalidOption", step.name, "the step is conditional already: combine the predicates")
  return unsafeMake({ ...fieldsOf(step), condition: predicate as Any["condition"] }) as Conditional<S>
}

/**
 * The type of `when(predicate, step)`: the step, whose output, read through `needs`, is an
 * `Option` (`None` when the step was skipped).
 *
 * @since 0.2.0
 * @category models
 */
export type Conditional<S> = S extends Step<
  infer Name,
  infer State,
  infer Output,
  infer Input,
  infer Needs,
  infer Signal,
  infer E,
  infer R
> ? Step<Name, State, Option.Option<Output>, Input, Needs, Signal, E, R>
  : S

// -----------------------------------------------------------------------------
// polling
// -----------------------------------------------------------------------------

/**
 * The state of a step built with `Step.poll`: when it started (epoch milliseconds) and how many
 * checks answered "not yet". Persisted, so a crash or a deploy does not restart the schedule or
 * move the deadline.
 *
 * @since 0.2.0
 * @category polling
 */
export interface PollState {
  readonly startedAt: number
  readonly checks: number
}

/**
 * What `check` of `Step.poll` receives: the context of `onContinue` without the state, and the
 * number of earlier checks that answered "not yet" and the instant the step started.
 *
 * @since 0.2.0
 * @category polling
 */
export interface PollContext<Input = unknown, Outputs = {}, Signal = never> extends StartContext<Input, Outputs> {
  readonly signals: ReadonlyArray<Signal>
  readonly continuations: number
  readonly checks: number
  readonly startedAt: Date
}

/**
 * What `check` answers: `Option.some(output)` when the awaited thing is there, `Option.none()`
 * when not yet. A step without an output may answer `true` / `false` instead.
 *
 * @since 0.2.0
 * @category polling
 */
export type PollAnswer<A> = [A] extends [void] ? Option.Option<A> | boolean : Option.Option<A>

/**
 * The options of `Step.poll`.
 *
 * - `check`: runs on every continue (the first one right after the step starts) until it answers a
 *   value; its failures are handler failures (retried under `retry`, bounded by `timeout`).
 * - `every`: a `Schedule` giving the wait after each "not yet" (its n-th delay after the n-th
 *   check); each wait is a durable timer. When the schedule ends, the step gives up as at the deadline.
 * - `deadline`: how long after the step started it may poll; the check that comes at the deadline
 *   is the last. Default: none.
 * - `onDeadline`: `"fail"` (default) fails the step and the run; `"cancel"` cancels them.
 * - `output`, `input`, `needs`, `signal`, `retry`, `timeout`: as for `step`. A signal wakes the
 *   step for an early check.
 *
 * @since 0.2.0
 * @category polling
 */
export interface PollOptions<A, Input, Needs extends NeedsRecord, Signal, E, R> {
  readonly output?: Schema.Schema<A, any> | undefined
  readonly input?: Schema.Schema<Input, any> | undefined
  readonly needs?: Needs | undefined
  readonly signal?: Schema.Schema<Signal, any> | undefined
  readonly check: (
    ctx: PollContext<NoInfer<Input>, OutputsOf<NoInfer<Needs>>, NoInfer<Signal>>
  ) => Effect.Effect<PollAnswer<NoInfer<A>>, E, R>
  readonly every: Schedule.Schedule<unknown, unknown>
  readonly deadline?: Duration.DurationInput | undefined
  readonly onDeadline?: "fail" | "cancel" | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * A sensor step, the Python original's polling step as options of `step`: `check` runs on every
 * continue until it answers a value, which is the step's output; between checks the step waits
 * durably for the next delay of `every`; past `deadline` (from the step's start) it fails or
 * cancels, as `onDeadline` says. Its state (`PollState`: the start and the count of checks) is
 * persisted, so a crash does not restart the schedule. Throws a `DefinitionError` for a missing
 * `check` or `every`, or an `onDeadline` that is neither `"fail"` nor `"cancel"`.
 *
 * @example
 * ```ts
 * const ready = step("AwaitSnapshot", Step.poll({
 *   output: Schema.String,
 *   check: (ctx) => snapshots.find(ctx.stepRunId), // Effect<Option<string>>
 *   every: Schedule.exponential("10 seconds"),
 *   deadline: "2 hours"
 * }))
 * ```
 *
 * @since 0.2.0
 * @category polling
 */
export const poll = <A = void, Input = unknown, const Needs extends NeedsRecord = {}, Signal = never, E = never, R = never>(
  options: PollOptions<A, Input, Needs, Signal, E, R>
): Options<PollState, A, Input, Needs, Signal, never, never, E, R> => Poll.make(options)
