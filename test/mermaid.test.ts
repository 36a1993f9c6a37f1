import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Schedule, Schema, TestClock } from "effect"
import { forEach, Mermaid, Orchestrator, parallel, pipeline, Repository, type Run, step, Step, when } from "prorch"

const generation = step("BackupGeneration", {
  output: Schema.Struct({ archive: Schema.String }),
  onContinue: () => Effect.succeed(Step.finish({ archive: "a.tar" }))
})

const transfer = step("BackupTransfer", {
  needs: { archive: generation },
  state: Schema.Struct({ jobId: Schema.String }),
  output: Schema.Struct({ location: Schema.String }),
  retry: Schedule.spaced(Duration.seconds(10)),
  onStart: () => Effect.succeed({ jobId: "job" }),
  onContinue: () => Effect.succeed(Step.wait())
})

const notification = step("Notification", {
  needs: { generation, transfer },
  signal: Schema.String,
  timeout: Duration.seconds(5),
  onContinue: () => Effect.succeed(Step.finish())
})

const backup = pipeline("Backup", generation, transfer, notification)

/** the lines of a picture that draw step `position`'s box */
const box = (picture: string, position: number) =>
  picture.split("\n").filter((line) => line.startsWith(`  s${position}[`))

describe("Mermaid.pipeline", () => {
  it("draws the steps in order, what each declares, and the outputs read by later steps", () => {
    expect(Mermaid.pipeline(backup)).toBe([
      "flowchart LR",
      "  s0[\"BackupGeneration<br/>output\"]",
      "  s1[\"BackupTransfer<br/>onStart · state · output · retry\"]",
      "  s2[\"Notification<br/>signal · timeout\"]",
      "  s0 --> s1",
      "  s1 --> s2",
      "  s0 -.->|\"archive\"| s1",
      "  s0 -.->|\"generation\"| s2",
      "  s1 -.->|\"transfer\"| s2"
    ].join("\n"))
  })

  it("draws a parallel group as a subgraph of its members side by side, nested groups nested, linked to the elements around it", () => {
    const a = step("A")
    const b = step("B", { onContinue: () => Effect.succeed(Step.finish()) })
    const c = when(() => true, step("C"))
    const d = step("D", { needs: { b } })
    const grouped = pipeline("Grouped", a, parallel(b, parallel(c, step("E"))), d)
    expect(Mermaid.pipeline(grouped)).toBe([
      "flowchart LR",
      "  s0[\"A\"]",
      "  subgraph g1[\"parallel\"]",
      "    direction TB",
      "    s1[\"B\"]",
      "    subgraph g2[\"parallel\"]",
      "      direction LR",
      "      s2{\"C<br/>when\"}",
      "      s3[\"E\"]",
      "    end",
      "  end",
      "  s4[\"D\"]",
      "  s0 --> g1",
      "  g1 --> s4",
      "  s1 -.->|\"b\"| s4"
    ].join("\n"))
    // top to bottom, the members are side by side left to right
    expect(Mermaid.pipeline(grouped, { direction: "TB" })).toContain("  subgraph g1[\"parallel\"]\n    direction LR\n")
  })

  it("draws a run of a pipeline with groups as its pipeline, coloured by status; as a sequence without it, or when the steps differ", () => {
    const grouped = pipeline("Grouped", step("A"), parallel(step("B"), step("C")))
    const view = {
      id: "r1",
      pipeline: "Grouped",
      status: "pending",
      steps: ["A", "B", "C"].map((name, i) => ({ name, status: i === 0 ? "finished" : "pending", attempt: 1, error: null }))
    } as unknown as Run.RunView
    const picture = Mermaid.run(view, { pipeline: grouped })
    expect(picture).toContain("  subgraph g1[\"parallel\"]\n    direction TB\n    s1[\"B<br/>pending\"]:::pending\n    s2[\"C<br/>pending\"]:::pending\n  end")
    expect(picture).toContain("  s0 --> g1")
    expect(Mermaid.run(view)).not.toContain("subgraph")
    expect(Mermaid.run(view, { pipeline: pipeline("Other", step("A"), parallel(step("X"), step("C"))) })).not.toContain("subgraph")
  })

  it("draws a forEach as a stacked box; in a run, its members as counts by status in that box", () => {
    const each = forEach("Each", { item: Schema.Number, items: () => [1, 2, 3], concurrency: 2, step: {} })
    const p = pipeline("Fan", step("A"), each)
    expect(Mermaid.pipeline(p)).toContain(`  s1@{ shape: procs, label: "Each<br/>forEach · 2 at once · output" }`)
    const view = {
      id: "r1",
      pipeline: "Fan",
      status: "pending",
      steps: [
        { name: "A", status: "finished", attempt: 1, error: null, metadata: {} },
        { name: "Each", status: "pending", attempt: 1, error: null, metadata: { members: [2, 5] } },
        ...[0, 1, 2].map((i) => ({
          name: `Each[${i}]`,
          status: i === 0 ? "finished" : i === 1 ? "pending" : "created",
          attempt: 1,
          error: null,
          metadata: { parent: 1, index: i }
        }))
      ]
    } as unknown as Run.RunView
    const picture = Mermaid.run(view, { pipeline: p })
    expect(picture).toContain(`  s1@{ shape: procs, label: "Each<br/>pending<br/>3 members: 1 finished, 1 pending, 1 created" }\n  class s1 pending`)
    expect(picture).not.toContain("Each[0]")
    expect(picture).toContain("  s0 --> s1")
  })

  it("lays out top to bottom on request, and draws a one-step pipeline without arrows", () => {
    const only = pipeline("One", step("Only", { onContinue: () => Effect.succeed(Step.finish()) }))
    expect(Mermaid.pipeline(only, { direction: "TB" })).toBe("flowchart TB\n  s0[\"Only\"]")
  })

  it("escapes what Mermaid or HTML would read in a name, so that any name draws as written", () => {
    const odd = step("say \"hi\" <b>#1</b> & `x`\nnext", { onContinue: () => Effect.succeed(Step.finish()) })
    const picture = Mermaid.pipeline(pipeline("Odd", odd))
    expect(box(picture, 0)).toEqual([
      "  s0[\"say #34;hi#34; #60;b#62;#35;1#60;/b#62; #38; #96;x#96; next\"]"
    ])
    // the only quotes are the label's own, and the picture is two lines (no line break leaked)
    expect(picture.split("\n")).toHaveLength(2)
    expect(picture.match(/"/g)).toHaveLength(2)
  })
})

describe("Mermaid.pipeline and conditional steps", () => {
  const first = step("First", { output: Schema.Number, onContinue: () => Effect.succeed(Step.finish(1)) })
  const maybe = when((ctx) => ctx.outputs.n > 0, step("Maybe", { needs: { n: first }, onContinue: () => Effect.succeed(Step.finish()) }))
  const last = step("Last", { onContinue: () => Effect.succeed(Step.finish()) })

  it("draws a when as a decision marked 'when', with a 'skipped' arrow to the next element", () => {
    const picture = Mermaid.pipeline(pipeline("P", first, maybe, last))
    expect(picture.split("\n")).toContain("  s1{\"Maybe<br/>when\"}")
    expect(picture).toContain("  s0 --> s1\n  s1 --> s2\n  s1 -->|\"skipped\"| s2\n")
    expect(picture).toContain("  s0 -.->|\"n\"| s1")
  })

  it("a when at the end has no skipped arrow (the run ends there either way)", () => {
    const picture = Mermaid.pipeline(pipeline("Q", first, last, maybe))
    expect(picture.split("\n")).toContain("  s2{\"Maybe<br/>when\"}")
    expect(picture).not.toContain("skipped")
  })
})

describe("Mermaid.run", () => {
  const failing = step("Charge", {
    retry: Schedule.spaced(Duration.seconds(10)).pipe(Schedule.intersect(Schedule.recurs(1))),
    onContinue: () => Effect.fail(new Error("card declined: insufficient funds"))
  })
  const receipt = step("Receipt", { onContinue: () => Effect.succeed(Step.finish()) })
  const billing = pipeline("Billing", generation, failing, receipt)

  const withOrchestrator = <A, E>(body: Effect.Effect<A, E, Orchestrator.Orchestrator>) =>
    body.pipe(Effect.provide(Orchestrator.layer([backup, billing]).pipe(Layer.provide(Repository.layerMemory))))

  it.effect("colours each step by its status, titled with the pipeline, the run and its status", () =>
    withOrchestrator(Effect.gen(function*() {
      const runId = yield* Orchestrator.start(backup)
      const picture = Mermaid.run(yield* Orchestrator.get(runId))
      expect(picture.split("\n").slice(0, 4)).toEqual([
        "---",
        `title: "Backup ${runId}: pending"`,
        "---",
        "flowchart LR"
      ])
      expect(box(picture, 0)).toEqual(["  s0[\"BackupGeneration<br/>finished\"]:::finished"])
      expect(box(picture, 1)).toEqual(["  s1[\"BackupTransfer<br/>pending\"]:::pending"])
      expect(box(picture, 2)).toEqual(["  s2[\"Notification<br/>created\"]:::created"])
      expect(picture).toContain("  s0 --> s1\n  s1 --> s2\n")
      for (const status of ["created", "pending", "finished", "failed", "cancelled"] as const) {
        expect(picture).toContain(`  classDef ${status} ${Mermaid.statusStyles[status]}`)
      }
    })))

  it.effect("shows a step's attempt while it is retried, its error, and the failed end", () =>
    withOrchestrator(Effect.gen(function*() {
      const runId = yield* Orchestrator.start(billing)
      const retrying = Mermaid.run(yield* Orchestrator.get(runId))
      expect(box(retrying, 1)).toEqual([
        "  s1[\"Charge<br/>pending · attempt 2<br/>card declined: insufficient funds\"]:::pending"
      ])

      yield* TestClock.adjust(Duration.seconds(10))
      yield* Orchestrator.executePending()
      const failed = Mermaid.run(yield* Orchestrator.get(runId))
      expect(failed).toContain(`title: "Billing ${runId}: failed"`)
      expect(box(failed, 1)).toEqual(["  s1[\"Charge<br/>failed · attempt 2<br/>card declined: insufficient funds\"]:::failed"])
      expect(box(failed, 2)).toEqual(["  s2[\"Receipt<br/>created\"]:::created"])
    })))

  it.effect("cuts a long error message, and a cancelled run shows its reason", () =>
    withOrchestrator(Effect.gen(function*() {
      const runId = yield* Orchestrator.start(backup)
      const reason = `stopped by the operator ${"x".repeat(100)}`
      yield* Orchestrator.cancel(runId, reason)
      const view = yield* Orchestrator.get(runId)
      const picture = Mermaid.run(view)
      const cancelled = view.steps.find((s) => s.status === "cancelled")
      expect(cancelled).toBeDefined()
      const [line] = box(picture, view.steps.indexOf(cancelled!))
      const message = line.slice(line.lastIndexOf("<br/>") + 5, line.lastIndexOf("\"]"))
      expect(message).toHaveLength(80)
      expect(message.endsWith("…")).toBe(true)
      expect(reason.startsWith(message.slice(0, -1))).toBe(true)
      expect(picture).toContain(`title: "Backup ${runId}: cancelled"`)
    })))
})
