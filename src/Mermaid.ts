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
import * as Parallel from "./Parallel.js"
import type * as Pipeline from "./Pipeline.js"
import type * as Run from "./Run.js"
import type * as Step from "./Step.js"

/**
 * How a picture is laid out.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The direction of the flowchart: left to right (the default) or top to bottom. */
  readonly direction?: "LR" | "TB" | undefined
  /**
   * For `Mermaid.run`: the run's pipeline, to draw its parallel groups as subgraphs (without it,
   * or when its steps are not the run's, the run's steps are drawn as a sequence).
   */
  readonly pipeline?: Pipeline.Any | undefined
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
 * The elements of a pipeline as nodes: a step is its box (`node` draws it), a parallel group a
 * subgraph (`g` and the position of its first step) holding its members side by side, nested
 * groups nested; consecutive elements are linked, a skipped conditional step to the next element.
 */
const elements = (
  definition: Pipeline.Any,
  direction: Options["direction"],
  node: (step: Step.Any, position: number, indent: string) => string
): Array<string> => {
  const lines: Array<string> = []
  let position = 0
  const draw = (element: Parallel.Element, indent: string, flow: "LR" | "TB"): string => {
    if (!Parallel.isParallel(element)) {
      lines.push(node(element, position, indent))
      return id(position++)
    }
    const group = `g${position}`
    lines.push(`${indent}subgraph ${group}[${label(["parallel"])}]`)
    // the members side by side: across the flow
    const across = flow === "LR" ? "TB" : "LR"
    lines.push(`${indent}  direction ${across}`)
    for (const member of element.members) draw(member, `${indent}  `, across)
    lines.push(`${indent}end`)
    return group
  }
  const ids = definition.elements.map((element) => draw(element, "  ", direction ?? "LR"))
  for (let i = 1; i < ids.length; i++) lines.push(`  ${ids[i - 1]} --> ${ids[i]}`)
  // a skipped conditional step: the run goes on with the next element
  definition.elements.forEach((element, i) => {
    if (!Parallel.isParallel(element) && element.condition !== undefined && i + 1 < ids.length) {
      lines.push(`  ${ids[i]} -->|${label(["skipped"])}| ${ids[i + 1]}`)
    }
  })
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
  lines.push(...elements(definition, options?.direction, (step, position, indent) => {
    const traits: Array<string> = []
    if (step.condition !== undefined) traits.push("when")
    if (step.each !== undefined) traits.push(step.each.concurrency === undefined ? "forEach" : `forEach · ${step.each.concurrency} at once`)
    if (step.onStart !== undefined) traits.push("onStart")
    if (step.state !== undefined) traits.push("state")
    if (step.output !== undefined) traits.push("output")
    if (step.signal !== undefined) traits.push("signal")
    if (step.retry !== undefined) traits.push("retry")
    if (step.timeout !== undefined) traits.push("timeout")
    const text = label(traits.length === 0 ? [step.name] : [step.name, traits.join(" · ")])
    // a forEach is a stacked box (one box per member, drawn as one); a child step a subroutine
    if (step.each !== undefined) return `${indent}${id(position)}@{ shape: procs, label: ${text} }`
    if (step.child !== undefined) {
      const lines = [step.name, `child: ${step.child.pipeline.name}`]
      return `${indent}${id(position)}[[${label(lines)}]]`
    }
    return step.condition === undefined ? `${indent}${id(position)}[${text}]` : `${indent}${id(position)}{${text}}`
  }))
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
  // the members of a forEach are drawn in its box, as counts by status
  const steps = view.steps.filter((step) => typeof step.metadata?.parent !== "number")
  const counts = new Map<number, Map<string, number>>()
  for (const step of view.steps) {
    const parent = step.metadata?.parent
    if (typeof parent !== "number") continue
    const byStatus = counts.get(parent) ?? new Map<string, number>()
    byStatus.set(step.status, (byStatus.get(step.status) ?? 0) + 1)
    counts.set(parent, byStatus)
  }
  const box = (position: number, indent: string) => {
    const step = steps[position]
    const detail = step.attempt > 1 ? `${step.status} · attempt ${step.attempt}` : step.status
    const parts = [step.name, detail]
    const members = counts.get(position)
    if (members !== undefined) {
      const total = [...members.values()].reduce((a, b) => a + b, 0)
      parts.push(`${total} members: ${[...members].map(([status, n]) => `${n} ${status}`).join(", ")}`)
    }
    if (step.error !== null) parts.push(shorten(step.error.message))
    return members === undefined && !Array.isArray(step.metadata?.members)
      ? `${indent}${id(position)}[${label(parts)}]:::${step.status}`
      : `${indent}${id(position)}@{ shape: procs, label: ${label(parts)} }\n${indent}class ${id(position)} ${step.status}`
  }
  const definition = options?.pipeline
  if (
    definition !== undefined && definition.steps.length === steps.length &&
    definition.steps.every((step, i) => step.name === steps[i].name)
  ) {
    lines.push(...elements(definition, options?.direction, (_, position, indent) => box(position, indent)))
  } else {
    steps.forEach((_, position) => lines.push(box(position, "  ")))
    lines.push(...chain(steps.length))
  }
  for (const status of Object.keys(statusStyles) as Array<Run.StepStatus>) {
    lines.push(`  classDef ${status} ${statusStyles[status]}`)
  }
  return lines.join("\n")
}
