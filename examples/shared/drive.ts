/**
 * The drive loop shared by the examples: start a run, then execute passes over the pending runs
 * (as a cron job calling the original's `execute_pipelines()` would) until the run has ended,
 * printing every status change as it happens, then the run's steps and history.
 *
 * A real deployment runs `Orchestrator.worker()` instead of this loop; the loop makes each pass
 * visible.
 */
import { Console, Data, Duration, Effect } from "effect"
import { Orchestrator, type Pipeline, Run } from "prorch"

/** The run did not finish (it failed, was cancelled, or was still going after the last pass). */
export class RunDidNotFinish extends Data.TaggedError("RunDidNotFinish")<{
  readonly runId: string
  readonly status: Run.Status
  readonly passes: number
}> {
  override get message() {
    return `run ${this.runId} ended the drive as ${this.status} after ${this.passes} pass(es)`
  }
}

/** What the loop compares between two looks at a run. */
interface Statuses {
  readonly run: Run.Status
  readonly steps: ReadonlyArray<{ readonly name: string; readonly status: Run.StepStatus }>
}

const statusesOf = (view: Run.RunView): Statuses => ({ run: view.status, steps: view.steps })

/** The lines that describe what changed between two looks at a run. */
const changes = (label: string, before: Statuses, after: Statuses): Array<string> => {
  const lines: Array<string> = []
  after.steps.forEach((step, i) => {
    const previous = before.steps[i]?.status ?? "created"
    if (previous !== step.status) lines.push(`${label}: ${step.name} ${previous} -> ${step.status}`)
  })
  if (before.run !== after.run) lines.push(`${label}: run ${before.run} -> ${after.run}`)
  return lines
}

const json = (value: unknown): string => (value === undefined ? "" : JSON.stringify(value))

/** Print a run's steps (status, output) and its history. */
export const report = (runId: string) =>
  Effect.gen(function*() {
    const view = yield* Orchestrator.get(runId)
    yield* Console.log(`\nrun ${view.id} (${view.pipeline}): ${view.status}`)
    if (view.error !== null) yield* Console.log(`  error: ${view.error.message}`)
    for (const step of view.steps) {
      const output = step.output === undefined || step.output === null ? "" : `  output ${json(step.output)}`
      const error = step.error === null ? "" : `  error ${step.error.message}`
      yield* Console.log(`  ${step.name.padEnd(30)} ${step.status.padEnd(9)}${output}${error}`.trimEnd())
    }
    const history = yield* Orchestrator.history(runId)
    const t0 = history[0]?.at ?? 0
    yield* Console.log(`\nhistory (${history.length} events):`)
    for (const event of history) {
      const at = `+${event.at - t0}ms`.padStart(8)
      const step = event.step === null ? "" : ` ${event.step}`
      const attempt = event.attempt === null ? "" : ` (attempt ${event.attempt})`
      const data = event.data === null || event.data === undefined ? "" : ` ${describeData(event.type, event.data)}`
      yield* Console.log(`  #${String(event.seq).padEnd(3)} ${at}  ${event.type}${step}${attempt}${data}`)
    }
    return view
  })

/** an event's data as a reader wants it: what a wait waits for, else the data as JSON */
const describeData = (type: string, data: unknown): string => {
  if (type === "waited" && typeof data === "object" && data !== null) {
    const wait = data as { next?: string; until?: string }
    if (wait.next === "pass") return "for the next pass (a plain Step.wait())"
    if (wait.until !== undefined) return `until ${wait.until} (a durable timer)`
  }
  return json(data)
}

/**
 * Drive an existing run to its end with passes (`Orchestrator.executePending`), at most
 * `maxPasses` of them (default 10), printing each status change. Before a pass, when the run is
 * not due yet (it waits on a durable timer), sleep until it is (at most one second).
 */
export const driveRun = (runId: string, options: { readonly maxPasses?: number | undefined } = {}) =>
  Effect.gen(function*() {
    const maxPasses = options.maxPasses ?? 10
    let view = yield* Orchestrator.get(runId)
    let passes = 0
    while (!Run.isTerminal(view.status) && passes < maxPasses) {
      passes++
      const wait = view.wakeAt.getTime() - Date.now()
      if (wait > 0) yield* Effect.sleep(Duration.millis(Math.min(wait, 1000)))
      yield* Console.log(`pass ${passes}: executePending()`)
      const summary = yield* Orchestrator.executePending()
      for (const { runId: failed, error } of summary.errors) {
        yield* Console.log(`pass ${passes}: run ${failed} could not be ticked: ${error._tag}: ${error.message}`)
      }
      const previous = statusesOf(view)
      view = yield* Orchestrator.get(runId)
      const lines = changes(`pass ${passes}`, previous, statusesOf(view))
      if (lines.length === 0) {
        const current = view.steps.find((step) => step.name === view.currentStep)
        const state = current?.state === undefined || current.state === null ? "" : `, state ${json(current.state)}`
        lines.push(`pass ${passes}: no status change (${view.currentStep ?? "run"} still ${current?.status ?? view.status}${state})`)
      }
      for (const line of lines) yield* Console.log(line)
    }
    return { view, passes }
  })

/**
 * Start a run of `pipeline` (create it and execute its first tick, like the original's
 * `pipeline.start()`), then drive it to its end with passes. Fails with `RunDidNotFinish` unless
 * the run finished, so that the script exits with a non-zero code.
 */
export const startAndDrive = <P extends Pipeline.Any>(pipeline: P, ...args: Orchestrator.StartArgs<P>) =>
  Effect.gen(function*() {
    yield* Console.log(`start: Orchestrator.start(${pipeline.name})`)
    const runId = yield* Orchestrator.start(pipeline, ...args)
    const created: Statuses = {
      run: "created",
      steps: pipeline.steps.map((step) => ({ name: step.name, status: "created" as const }))
    }
    yield* Console.log(`start: run ${runId} created`)
    const view = yield* Orchestrator.get(runId)
    for (const line of changes("start", created, statusesOf(view))) yield* Console.log(line)
    const driven = yield* driveRun(runId)
    yield* report(runId)
    if (driven.view.status !== "finished") {
      return yield* new RunDidNotFinish({ runId, status: driven.view.status, passes: driven.passes })
    }
    return driven.view
  })
