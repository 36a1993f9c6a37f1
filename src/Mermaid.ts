/**
 * Pictures of pipelines and runs, as [Mermaid](https://mermaid.js.org) flowcharts: text that
 * GitHub, GitLab, most documentation sites and the Mermaid live editor draw as a diagram.
 *
 * - `Mermaid.pipeline(definition)`: the steps in the order in which they run, and which earlier
 *   outputs each step reads (`needs`, dotted arrows).
 * - `Mermaid.run(view)`: a run as `Orchestrator.get` returns it, each step coloured by its status,
 *   with its attempt and its last error.
 *
 * Both are pure functions of their argument: the same value gives the same text.
 *
 * @since 0.1.0
 */
import type * as Pipeline from "./Pipeline.js"
import type * as Run from "./Run.js"

/**
 * How a picture is laid out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The direction of the flowchart: left to right (the default) or top to bottom. */
  readonly direction?: "LR" | "TB" | undefined
}

/**
 * The class given to each step of a run by its status, with its style: the same names as the
 * step statuses (the five of a run, and `skipped`), so that a page can restyle them with `classDef`.
 *
 * @since 0.1.0
 * @category models
 */
export const statusStyles: Readonly<Record<Run.StepStatus, string>> = {
  created: "fill:#f4f4f5,stroke:#a1a1aa,color:#3f3f46",
  pending: "fill:#fef9c3,stroke:#ca8a04,color:#422006",
  finished: "fill:#dcfce7,stroke:#16a34a,color:#052e16",
  failed: "fill:#fee2e2,stroke:#dc2626,color:#450a0a",
  cancelled: "fill:#e4e4e7,stroke:#52525b,color:#18181b,stroke-dasharray:4 3",
  skipped: "fill:#ffffff,stroke:#a1a1aa,color:#71717a,stroke-dasharray:2 2"
}

/** the longest error message shown in a step's box; longer ones are cut with an ellipsis */
const maxMessage = 80

/**
 * Text for inside a quoted label: characters that Mermaid or HTML would read (quotes, `#`, `<`,
 * `>`, `&`, backticks) become Mermaid's `#code;` entities, and line breaks become spaces.
 */
const escape = (text: string): string =>
  text.replace(/[\r\n\t]+/g, " ").replace(/[#"<>&`]/g, (c) => `#${c.charCodeAt(0)};`)

const shorten = (text: string): string => text.length <= maxMessage ? text : `${text.slice(0, maxMessage - 1)}…`

/** a node's label: its lines, escaped, joined by Mermaid's line break */
const label = (lines: ReadonlyArray<string>): string => `"${lines.map(escape).join("<br/>")}"`

const header = (direction: Options["direction"]) => `flowchart ${direction ?? "LR"}`

/** the node ids of the steps: their positions, which no name can collide with */
const id = (position: number) => `s${position}`

const chain = (count: number): Array<string> => {
  const lines: Array<string> = []
  for (let i = 1; i < count; i++) lines.push(`  ${id(i - 1)} --> ${id(i)}`)
  return lines
}

/**
 * A pipeline definition as a Mermaid flowchart: one box per step, in order, with what each step
 * declares (`onStart`, a state, an output, a signal, a retry schedule, a timeout); a conditional
 * step (`when`) is a decision (a rhombus, marked `when`), which the run passes when it is skipped; a dotted
 * arrow from each step whose output another reads (`needs`), labelled with the key it is read by.
 *
 * @example
 * ```ts
 * import { Mermaid, pipeline, step, Step } from "prorch"
 * import { Effect } from "effect"
 *
 * const hello = step("Hello", { onContinue: () => Effect.succeed(Step.finish()) })
 * console.log(Mermaid.pipeline(pipeline("Greeting", hello)))
 * // flowchart LR
 * //   s0["Hello"]
 * ```
 *
 * @since 0.1.0
 * @category pictures
 */
export const pipeline = (definition: Pipeline.Any, options?: Options): string => {
  const lines = [header(options?.direction)]
  definition.steps.forEach((step, position) => {
    const traits: Array<string> = []
    if (step.condition !== undefined) traits.push("when")
    if (step.onStart !== undefined) traits.push("onStart")
    if (step.state !== undefined) traits.push("state")
    if (step.output !== undefined) traits.push("output")
    if (step.signal !== undefined) traits.push("signal")
    if (step.retry !== undefined) traits.push("retry")
    if (step.timeout !== undefined) traits.push("timeout")
    const text = label(traits.length === 0 ? [step.name] : [step.name, traits.join(" · ")])
    lines.push(step.condition === undefined ? `  ${id(position)}[${text}]` : `  ${id(position)}{${text}}`)
  })
  lines.push(...chain(definition.steps.length))
  // a skipped conditional step: the run goes on with the next one
  definition.steps.forEach((step, position) => {
    if (step.condition !== undefined && position + 1 < definition.steps.length) {
      lines.push(`  ${id(position)} -->|${label(["skipped"])}| ${id(position + 1)}`)
    }
  })
  definition.steps.forEach((step, position) => {
    for (const [key, needed] of Object.entries(step.needs)) {
      const from = definition.indexOf(needed.name)
      if (from >= 0) lines.push(`  ${id(from)} -.->|${label([key])}| ${id(position)}`)
    }
  })
  return lines.join("\n")
}

/**
 * A run as a Mermaid flowchart: its steps in order, each coloured by its status (the classes of
 * `statusStyles`), with its attempt when it is past the first and its last error's message (a
 * failed or cancelled step, or one waiting to be retried); the title names the pipeline, the run and its status.
 *
 * @example
 * ```ts
 * import { Mermaid, Orchestrator } from "prorch"
 * import { Effect } from "effect"
 *
 * const picture = (runId: string) => Effect.map(Orchestrator.get(runId), (run) => Mermaid.run(run))
 * ```
 *
 * @since 0.1.0
 * @category pictures
 */
export const run = (view: Run.RunView, options?: Options): string => {
  const lines = [
    "---",
    // a JSON string is a YAML double-quoted scalar: any pipeline name is safe in it
    `title: ${JSON.stringify(`${view.pipeline} ${view.id}: ${view.status}`)}`,
    "---",
    header(options?.direction)
  ]
  view.steps.forEach((step, position) => {
    const detail = step.attempt > 1 ? `${step.status} · attempt ${step.attempt}` : step.status
    const parts = [step.name, detail]
    if (step.error !== null) parts.push(shorten(step.error.message))
    lines.push(`  ${id(position)}[${label(parts)}]:::${step.status}`)
  })
  lines.push(...chain(view.steps.length))
  for (const status of Object.keys(statusStyles) as Array<Run.StepStatus>) {
    lines.push(`  classDef ${status} ${statusStyles[status]}`)
  }
  return lines.join("\n")
}
