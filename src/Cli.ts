/**
 * A command line to inspect and manage runs, built with `@effect/cli` over the Orchestrator
 * service: list, show, history, picture, start, pass, cancel, retry and signal. Imported from
 * `prorch/Cli`, apart from the main entry, so that importing `prorch` does not load `@effect/cli`.
 *
 * The pipelines are your code, so the command line is yours too: a script of a few lines gives it
 * your orchestrator layer (your pipelines and your repository), and the command line decodes
 * inputs, states, outputs and signal payloads with your schemas.
 *
 * ```ts
 * // bin/prorch.ts
 * import { NodeContext, NodeRuntime } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { Orchestrator } from "prorch"
 * import { SqliteRepository } from "prorch/Sqlite"
 * import * as Cli from "prorch/Cli"
 * import { backup, email } from "../src/pipelines.js"
 *
 * Cli.run({ name: "prorch", version: "1.0.0" })(process.argv).pipe(
 *   Effect.provide(Orchestrator.layer([backup, email]).pipe(
 *     Layer.provide(SqliteRepository.layer({ filename: "prorch.db" }))
 *   )),
 *   Effect.provide(NodeContext.layer),
 *   NodeRuntime.runMain({ disableErrorReporting: true }) // Cli.run prints its failures itself
 * )
 * ```
 *
 * docs/cli.md has the commands, and how to print a failure to build your layers.
 *
 * @module prorch/Cli
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { EncodeError, UnknownPipeline } from "./Errors.js"
import * as Codec from "./internal/codec.js"
import { isCursor } from "./internal/views.js"
import * as Mermaid from "./Mermaid.js"
import * as Orchestrator from "./Orchestrator.js"
import type * as Pipeline from "./Pipeline.js"
import type * as Repository from "./Repository.js"
import type * as Run from "./Run.js"

/**
 * How the command line names itself in its help and `--version`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** The name shown in the help (default `"prorch"`). */
  readonly name?: string | undefined
  /** The version printed by `--version` (default `"0.0.0"`). */
  readonly version?: string | undefined
}

/**
 * An argument that the command line parsed but that does not apply to what it names: `--input`
 * for a pipeline that takes no input. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgument extends Data.TaggedError("InvalidArgument")<{
  /** The argument, as it is written on the command line (`--input`). */
  readonly argument: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.argument}: ${this.detail}`
  }
}

// --- output ---------------------------------------------------------------------------------

const time = (date: Date | null): string => date === null ? "-" : date.toISOString()

const compact = (value: unknown): string => value === undefined ? "-" : JSON.stringify(value) ?? "-"

/** rows as columns padded to their widest cell; the last column is not padded */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ").trimEnd())
    .join("\n")
}

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/** a console whose `log`, `info` and `debug` are its `error` */
const toError = (console: Console.Console): Console.Console =>
  Object.assign(Object.create(console) as Console.Console, {
    log: console.error,
    info: console.error,
    debug: console.error,
    unsafe: Object.assign(Object.create(console.unsafe) as Console.UnsafeConsole, {
      log: console.unsafe.error,
      info: console.unsafe.error,
      debug: console.unsafe.error
    })
  })

/** how many commands have standard output sent to standard error now, and what it was before */
let redirected = 0
let saved: {
  readonly write: typeof process.stdout.write
  readonly log: typeof console.log
  readonly info: typeof console.info
  readonly debug: typeof console.debug
} | undefined

const redirect = Effect.sync(() => {
  if (redirected++ > 0) return
  saved = { write: process.stdout.write, log: console.log, info: console.info, debug: console.debug }
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write
  console.log = console.info = console.debug = (...args: Array<unknown>) => console.error(...args)
})

const restore = Effect.sync(() => {
  if (--redirected > 0 || saved === undefined) return
  process.stdout.write = saved.write
  console.log = saved.log
  console.info = saved.info
  console.debug = saved.debug
  saved = undefined
})

/**
 * With `--json`, standard output holds the JSON document only: while `self` runs (the
 * orchestrator's work, the handlers it calls), what would go to standard output goes to standard
 * error: `console.log`, `console.info` and `console.debug`, writes to `process.stdout`, and
 * Effect's `Console` service (and so Effect's default logger). Restored afterwards, before the
 * document is printed.
 */
const onlyJson = (json: boolean) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  !json || typeof process === "undefined" ? self : Effect.acquireUseRelease(
    redirect,
    () => Console.consoleWith((console) => Effect.withConsole(self, toError(console))),
    () => restore
  )

/**
 * A run as text: its record, then one line per step with its status, attempt, state, output and
 * last error.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatRun = (view: Run.RunView): string => {
  const lines = [
    table([
      ["run", view.id],
      ["pipeline", view.pipeline],
      ["status", view.currentStep === null ? view.status : `${view.status} (step ${view.currentStep})`],
      ["input", compact(view.input)],
      ["created", time(view.createdAt)],
      ["updated", time(view.updatedAt)],
      ["due", view.endedAt === null ? time(view.wakeAt) : "-"],
      ["ended", time(view.endedAt)],
      ["key", view.idempotencyKey ?? "-"],
      ["error", view.error === null ? "-" : view.error.message],
      ...(view.parent === null || view.parent === undefined ? [] : [["parent", `${view.parent.runId} (step ${view.parent.step})`]]),
      ...(view.children ?? []).map((c) => ["child", `${c.runId} (step ${c.step})`])
    ]),
    "",
    table([
      ["#", "STEP", "STATUS", "ATTEMPT", "STATE", "OUTPUT", "ERROR"],
      ...view.steps.map((step, i) => [
        String(i + 1),
        step.name,
        step.status,
        String(step.attempt),
        compact(step.state ?? undefined),
        compact(step.output ?? undefined),
        step.error === null ? "-" : step.error.message
      ])
    ])
  ]
  return lines.join("\n")
}

/**
 * A page of runs as a table, newest first, with the cursor of the next page when there is one.
 * Given the registered pipelines (`Orchestrator.pipelines`, or any set of names), the runs of the
 * others are marked `(not registered)`: no worker with these pipelines ticks them.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatPage = (
  page: Orchestrator.Page,
  registered?: { readonly has: (pipeline: string) => boolean }
): string => {
  // runs whose records do not decode, beside the others: an operator can still cancel them
  const corrupt = page.corrupt.map((error) => `corrupt run ${error.runId}: ${error.message}`)
  if (page.runs.length === 0) {
    const none = corrupt.length === 0 ? "no runs" : corrupt.join("\n")
    return page.cursor === undefined ? none : `${none}\nnext page: --cursor ${page.cursor}`
  }
  const rows = table([
    ["RUN", "PIPELINE", "STATUS", "STEP", "CREATED", "ENDED"],
    ...page.runs.map((run) => [
      run.id,
      registered === undefined || registered.has(run.pipeline) ? run.pipeline : `${run.pipeline} (not registered)`,
      run.status,
      run.currentStep ?? "-",
      time(run.createdAt),
      time(run.endedAt)
    ])
  ])
  const body = corrupt.length === 0 ? rows : `${rows}\n${corrupt.join("\n")}`
  return page.cursor === undefined ? body : `${body}\nnext page: --cursor ${page.cursor}`
}

/**
 * A run's history as a table, in order.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatHistory = (events: ReadonlyArray<Repository.LoggedEvent>): string =>
  events.length === 0 ? "no events" : table([
    ["#", "AT", "EVENT", "STEP", "ATTEMPT", "WORKER", "DATA"],
    ...events.map((event) => [
      String(event.seq),
      new Date(event.at).toISOString(),
      event.type,
      event.step ?? "-",
      event.attempt === null ? "-" : String(event.attempt),
      event.worker ?? "-",
      event.data === null ? "-" : compact(event.data)
    ])
  ])

/**
 * A pass's summary as text, with a line for each run that could not be ticked.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatSummary = (summary: Orchestrator.PassSummary): string =>
  [
    `ticked ${summary.ticked}: ${summary.finished} finished, ${summary.failed} failed, ` +
    `${summary.cancelled} cancelled, ${summary.waiting} waiting`,
    ...summary.errors.map(({ error, runId }) => `  ${runId}: ${error._tag}: ${error.message}`)
  ].join("\n")

// --- arguments --------------------------------------------------------------------------------

/**
 * a JSON argument decoded with a schema (the value as the handlers see it), as the repositories
 * decode what they stored (`Codec`); without a schema, the JSON as it is. Else an `EncodeError`.
 */
const decodeJson = (what: string, text: string, schema: Schema.Schema<any, any> | undefined) =>
  Effect.mapError(Codec.make(schema ?? Schema.Unknown).decode(text), (detail) => new EncodeError({ what, detail }))

const json = Options.boolean("json").pipe(
  Options.withDescription("print JSON instead of text (standard output holds only the JSON)")
)

/** a `ValidationError` for an option's value, as @effect/cli makes them (it prints it) */
const invalid = (message: string) => Either.left(ValidationError.invalidValue(HelpDoc.p(message)))

/** an integer option that must be positive (at most `Number.MAX_SAFE_INTEGER`, as any integer) */
const positive = (name: string) =>
  Options.integer(name).pipe(
    Options.mapEffect((n) => n >= 1 ? Either.right(n) : invalid(`--${name} must be a positive integer, not ${n}`))
  )

const runId = Args.text({ name: "run-id" }).pipe(Args.withDescription("the id of a run"))

const list = Command.make("list", {
  pipeline: Options.text("pipeline").pipe(
    Options.repeated,
    Options.withDescription("only runs of this pipeline (repeatable)")
  ),
  status: Options.choice("status", ["created", "pending", "finished", "failed", "cancelled"]).pipe(
    Options.repeated,
    Options.withDescription("only runs with this status (repeatable)")
  ),
  limit: positive("limit").pipe(Options.withDefault(20), Options.withDescription("runs per page (a positive integer)")),
  cursor: Options.text("cursor").pipe(
    Options.mapEffect((cursor) =>
      isCursor(cursor)
        ? Either.right(cursor)
        : invalid(`--cursor ${cursor} is not a cursor that list printed (its "next page: --cursor ..." line)`)
    ),
    Options.optional,
    Options.withDescription("the page after this cursor, as list printed it")
  ),
  json
}, (options) =>
  Effect.gen(function*() {
    const service = yield* Orchestrator.Orchestrator
    const page = yield* onlyJson(options.json)(service.list({
      pipeline: options.pipeline.length === 0 ? undefined : options.pipeline,
      status: options.status.length === 0 ? undefined : options.status,
      limit: options.limit,
      cursor: Option.getOrUndefined(options.cursor)
    }))
    if (!options.json) return yield* Console.log(formatPage(page, service.pipelines))
    // whether this orchestrator ticks the run: a run of another pipeline waits for a worker that has it
    yield* printJson({
      ...page,
      runs: page.runs.map((run) => ({ ...run, registered: service.pipelines.has(run.pipeline) })),
      corrupt: page.corrupt.map((error) => ({ runId: error.runId, message: error.message }))
    })
  })).pipe(Command.withDescription("list runs, newest first; marks those of pipelines not registered here"))

const show = Command.make("show", { runId, json }, (options) =>
  Effect.flatMap(
    onlyJson(options.json)(Orchestrator.get(options.runId)),
    (view) => options.json ? printJson(view) : Console.log(formatRun(view))
  )).pipe(Command.withDescription("show a run and its steps, decoded"))

const history = Command.make("history", { runId, json }, (options) =>
  Effect.gen(function*() {
    const service = yield* Orchestrator.Orchestrator
    const events = yield* onlyJson(options.json)(Effect.gen(function*() {
      const events = yield* service.history(options.runId)
      // every run has its `created` event: no events, no run (a RunNotFound, as show has)
      if (events.length === 0) yield* service.get(options.runId)
      return events
    }))
    yield* options.json ? printJson(events) : Console.log(formatHistory(events))
  })).pipe(Command.withDescription("show a run's history, in order"))

const picture = Command.make("picture", {
  target: Args.text({ name: "pipeline-or-run" }).pipe(
    Args.withDescription("a registered pipeline's name, or a run's id")
  ),
  direction: Options.choice("direction", ["LR", "TB"]).pipe(
    Options.withDefault("LR" as const),
    Options.withDescription("left to right, or top to bottom")
  )
}, (options) =>
  Effect.gen(function*() {
    const service = yield* Orchestrator.Orchestrator
    const definition = service.pipelines.get(options.target)
    const text = definition !== undefined
      ? Mermaid.pipeline(definition, { direction: options.direction })
      : yield* Effect.map(service.get(options.target), (view) =>
        Mermaid.run(view, { direction: options.direction, pipeline: service.pipelines.get(view.pipeline) }))
    yield* Console.log(text)
  })).pipe(Command.withDescription("draw a pipeline or a run as a Mermaid flowchart"))

const pipelines = Command.make("pipelines", { json }, (options) =>
  Effect.gen(function*() {
    const service = yield* Orchestrator.Orchestrator
    const all = [...service.pipelines.values()].map((definition) => ({
      name: definition.name,
      input: definition.input !== undefined,
      steps: definition.steps.map((step) => step.name)
    }))
    if (options.json) return yield* printJson(all)
    yield* Console.log(
      all.length === 0
        ? "no pipelines"
        : all.map((p) => `${p.name}${p.input ? " (input)" : ""}: ${p.steps.join(" -> ")}`).join("\n")
    )
  })).pipe(Command.withDescription("list the registered pipelines and their steps"))

const start = Command.make("start", {
  pipeline: Args.text({ name: "pipeline" }).pipe(Args.withDescription("a registered pipeline's name")),
  input: Options.text("input").pipe(Options.optional, Options.withDescription("the pipeline's input, as JSON")),
  key: Options.text("idempotency-key").pipe(
    Options.optional,
    Options.withDescription("the same key for the same pipeline gives the same run")
  ),
  createOnly: Options.boolean("create-only").pipe(
    Options.withDescription("create the run without ticking it (a pass or a worker picks it up)")
  )
}, (options) =>
  Effect.gen(function*() {
    const service = yield* Orchestrator.Orchestrator
    const definition: Pipeline.Any | undefined = service.pipelines.get(options.pipeline)
    if (definition === undefined) return yield* new UnknownPipeline({ runId: undefined, pipeline: options.pipeline })
    if (Option.isSome(options.input) && definition.input === undefined) {
      return yield* new InvalidArgument({
        argument: "--input",
        detail: `pipeline ${JSON.stringify(definition.name)} takes no input`
      })
    }
    const input = Option.isSome(options.input)
      ? yield* decodeJson("pipeline input (--input)", options.input.value, definition.input)
      : undefined
    const startOptions = { input, idempotencyKey: Option.getOrUndefined(options.key) }
    const id = yield* (options.createOnly
      ? service.create(definition, startOptions)
      : service.start(definition, startOptions))
    yield* Console.log(id)
  })).pipe(Command.withDescription("start a run of a pipeline (create it and tick it once); prints its id"))

const pass = Command.make("pass", {
  limit: positive("limit").pipe(Options.optional, Options.withDescription("tick at most this many runs")),
  concurrency: positive("concurrency").pipe(
    Options.withDefault(1),
    Options.withDescription("runs ticked at once")
  ),
  json
}, (options) =>
  Effect.flatMap(
    onlyJson(options.json)(
      Orchestrator.executePending({ limit: Option.getOrUndefined(options.limit), concurrency: options.concurrency })
    ),
    (summary) => options.json ? printJson(summary) : Console.log(formatSummary(summary))
  )).pipe(Command.withDescription("one pass over the runs that are due"))

const cancel = Command.make("cancel", {
  runId,
  reason: Options.text("reason").pipe(Options.optional, Options.withDescription("why, kept in the run"))
}, (options) =>
  Effect.zipRight(
    Orchestrator.cancel(options.runId, Option.getOrUndefined(options.reason)),
    Console.log(`cancelled ${options.runId}`)
  )).pipe(Command.withDescription("cancel a run that has not ended"))

const retry = Command.make("retry", { runId }, (options) =>
  Effect.zipRight(Orchestrator.retry(options.runId), Console.log(`retrying ${options.runId}`))).pipe(
    Command.withDescription("resume a failed run from its failed step")
  )

const signal = Command.make("signal", {
  runId,
  step: Args.text({ name: "step" }).pipe(Args.withDescription("the name of the step to signal")),
  payload: Args.text({ name: "payload" }).pipe(Args.withDescription("the payload, as JSON"))
}, (options) =>
  Effect.gen(function*() {
    const service = yield* Orchestrator.Orchestrator
    const view = yield* service.get(options.runId)
    const definition = service.pipelines.get(view.pipeline)
    const target = definition?.steps[definition.indexOf(options.step)]
    const payload = yield* decodeJson("signal payload", options.payload, target?.signal)
    yield* service.signal(options.runId, options.step, payload)
    yield* Console.log(`signalled ${options.step} of ${options.runId}`)
  })).pipe(Command.withDescription("hand a payload to a step of a run (its next onContinue gets it)"))

/**
 * The command line as an `@effect/cli` command, to run (`run`) or to add as a subcommand of your
 * own command line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = (name = "prorch") =>
  Command.make(name).pipe(
    Command.withDescription("inspect and manage prorch runs"),
    Command.withSubcommands([pipelines, list, show, history, picture, start, pass, cancel, retry, signal])
  )

/**
 * Run the command line on `process.argv` (the first two entries, Node and the script, are
 * skipped). It needs the Orchestrator service (your pipelines and repository) and
 * `@effect/platform`'s command-line environment (`NodeContext.layer`).
 *
 * It prints what goes wrong itself, to standard error, and then fails with it, typed: a bad
 * argument is a `ValidationError` (its message is printed: an unknown option or command, a
 * `--limit` that is not a positive integer, a `--cursor` that `list` did not print), and an
 * argument that does not apply (`InvalidArgument`) and an operation's own errors (`RunNotFound`,
 * `InvalidOperation`, `EncodeError`, ...) are printed as `error: <message>`. Run it with
 * `NodeRuntime.runMain({ disableErrorReporting: true })` so that they are not printed twice; the
 * exit code is 1 on any failure.
 *
 * With `--json`, standard output holds the JSON document only: what the command's work would
 * print there (handlers' `console.log`, writes to `process.stdout`, Effect's logger) goes to
 * standard error while it runs.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (config?: Config) => {
  const cli = Command.run(command(config?.name), {
    name: config?.name ?? "prorch",
    version: config?.version ?? "0.0.0"
  })
  return (argv: ReadonlyArray<string>) =>
    Effect.tapErrorCause(cli(argv), (cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.void
      const failure = Option.getOrUndefined(Cause.failureOption(cause))
      if (failure === undefined) return Console.error(Cause.pretty(cause))
      // a bad argument: @effect/cli has printed it, with the help
      if (ValidationError.isValidationError(failure)) return Effect.void
      return Console.error(`error: ${failure.message}`)
    })
}
