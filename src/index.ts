/**
 * prorch: a durable process orchestrator for TypeScript, built on Effect.
 *
 * A large process is split into pipelines of small steps. Pipelines are plain values built with
 * `pipeline(name, step(...), step(...))`; a repository (an Effect service provided by a layer)
 * persists every run; an orchestrator interprets the runs that are due.
 *
 * This entry is the core: it loads no SQL driver. The repositories over storage, and the other
 * heavy parts, are entries of their own: `prorch/Sqlite` (`SqliteRepository`, the embedded
 * default), `prorch/Pg` (`PgRepository`), `prorch/Cli` (the command line) and `prorch/Test` (the
 * test kit).
 *
 * @module prorch
 * @since 0.1.0
 */

/**
 * Errors: every failure prorch reports, as tagged errors.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * The pure core: what happens next to a run, and how its records change.
 *
 * @since 0.1.0
 */
export * as Interpreter from "./Interpreter.js"

/**
 * Pictures of pipelines and runs, as Mermaid flowcharts.
 *
 * @since 0.1.0
 */
export * as Mermaid from "./Mermaid.js"

/**
 * The Orchestrator service and its accessors.
 *
 * @since 0.1.0
 */
export * as Orchestrator from "./Orchestrator.js"

/**
 * Child pipelines: a step that runs another registered pipeline and waits for it.
 *
 * @since 0.2.0
 */
export * as Child from "./Child.js"

/**
 * A child step: `child("Provision", provisioning, { input: (ctx) => ({ account: ctx.input.email }) })`.
 *
 * @since 0.2.0
 */
export { make as child } from "./Child.js"

/**
 * Fan-out over data known at run time: one member per item.
 *
 * @since 0.2.0
 */
export * as ForEach from "./ForEach.js"

/**
 * A fan-out step: `forEach("SendInvoices", { item: Schema.String, items: (ctx) => ctx.input.customers, step: { ... } })`.
 *
 * @since 0.2.0
 */
export { make as forEach } from "./ForEach.js"

/**
 * Parallel groups: members that start in the same tick and progress on their own.
 *
 * @since 0.2.0
 */
export * as Parallel from "./Parallel.js"

/**
 * A parallel group of steps: `pipeline("Onboarding", createAccount, parallel(sendWelcome, provisionStorage), activate)`.
 *
 * @since 0.2.0
 */
export { make as parallel } from "./Parallel.js"

/**
 * Pipelines: names, input schemas, steps and groups in order.
 *
 * @since 0.1.0
 */
export * as Pipeline from "./Pipeline.js"

/**
 * The Repository service, the in-memory layer and the four-operation adapter.
 *
 * @since 0.1.0
 */
export * as Repository from "./Repository.js"

/**
 * The persisted records and the views of runs.
 *
 * @since 0.1.0
 */
export * as Run from "./Run.js"

/**
 * Steps: typed handlers and their outcomes.
 *
 * @since 0.1.0
 */
export * as Step from "./Step.js"

/**
 * Define a pipeline: `pipeline(name, step1, step2, ...)` or `pipeline(name, { input }, step1, ...)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export { make as pipeline } from "./Pipeline.js"

/**
 * Define a step: `step(name, { state, output, onStart, onContinue, ... })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export { make as step } from "./Step.js"

/**
 * A conditional element: `when(predicate, step)` runs the step only if the predicate (a pure
 * function of the input and the outputs the step needs) holds when it becomes current; otherwise
 * the step is `skipped`. `when(predicate, parallel(...))` does the same for a whole group (its
 * predicate reads the input).
 *
 * @since 0.2.0
 * @category constructors
 */
export { when } from "./Parallel.js"

/**
 * Workers: the long-lived loop (`Worker.run`) and the pass it repeats (`Worker.pass`).
 *
 * @since 0.1.0
 */
export * as Worker from "./Worker.js"
