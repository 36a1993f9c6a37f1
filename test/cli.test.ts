import { NodeContext } from "@effect/platform-node"
import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Schedule, Schema, TestClock } from "effect"
import { Errors, Mermaid, Orchestrator, pipeline, Repository, step, Step } from "prorch"
import * as Cli from "prorch/Cli"

const generation = step("BackupGeneration", {
  output: Schema.Struct({ archive: Schema.String }),
  onContinue: (ctx) => Effect.succeed(Step.finish({ archive: `backup-${ctx.runId}.tar` }))
})
const transfer = step("BackupTransfer", {
  state: Schema.Struct({ jobId: Schema.String }),
  onStart: (ctx) => Effect.succeed({ jobId: `job-${ctx.stepRunId}` }),
  onContinue: () => Effect.succeed(Step.wait())
})
const backup = pipeline("Backup", generation, transfer)

/** an input whose JSON form differs from what the handlers see: the CLI must decode it */
const Count = Schema.Struct({ count: Schema.NumberFromString })
const counted = step("Counted", {
  input: Count,
  output: Schema.Number,
  onContinue: (ctx) => Effect.succeed(Step.finish(ctx.input.count * 2))
})
const doubling = pipeline("Doubling", { input: Count }, counted)

const approval = step("Approval", {
  signal: Schema.Struct({ approved: Schema.Boolean, at: Schema.DateFromString }),
  output: Schema.Boolean,
  onContinue: (ctx) =>
    Effect.succeed(
      ctx.signals.length === 0
        ? Step.wait()
        : Step.finish(ctx.signals[0].approved && ctx.signals[0].at instanceof Date)
    )
})
const approvals = pipeline("Approvals", approval)

let failNext = true
const flaky = step("Flaky", {
  retry: Schedule.recurs(0),
  onContinue: () =>
    failNext ? Effect.fail(new Error("upstream down")) : Effect.succeed(Step.finish())
})
const flakes = pipeline("Flakes", flaky)

/** a handler that talks: to the console, to standard output itself, and through Effect's logger */
const chatty = step("Chatty", {
  onContinue: () =>
    Effect.gen(function*() {
      console.log("hello from a handler")
      console.info("info from a handler")
      process.stdout.write("raw from a handler\n")
      yield* Effect.log("logged by a handler")
      return Step.finish()
    })
})
const chatter = pipeline("Chatter", chatty)

let printed: Array<string> = []
let errors: Array<string> = []
beforeEach(() => {
  printed = []
  errors = []
  vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void printed.push(args.join(" ")))
  vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => void errors.push(args.join(" ")))
})
afterEach(() => {
  vi.restoreAllMocks()
})

/** run the command line once; what it printed since the last call */
const cli = (...args: Array<string>) =>
  Effect.suspend(() => {
    printed = []
    errors = []
    return Effect.as(Cli.run({ name: "prorch", version: "1.2.3" })(["node", "prorch", ...args]), undefined)
  }).pipe(Effect.map(() => printed.join("\n")))

const provided = <A, E>(body: Effect.Effect<A, E, Orchestrator.Orchestrator | NodeContext.NodeContext>) =>
  body.pipe(
    Effect.provide(
      Layer.merge(
        Orchestrator.layer([backup, doubling, approvals, flakes, chatter]).pipe(Layer.provide(Repository.layerMemory)),
        NodeContext.layer
      )
    )
  )

describe("Cli", () => {
  it.effect("lists the registered pipelines with their steps", () =>
    provided(Effect.gen(function*() {
      expect(yield* cli("pipelines")).toBe(
        "Backup: BackupGeneration -> BackupTransfer\nDoubling (input): Counted\nApprovals: Approval\nFlakes: Flaky\n" +
          "Chatter: Chatty"
      )
      const json = JSON.parse(yield* cli("pipelines", "--json"))
      expect(json[1]).toEqual({ name: "Doubling", input: true, steps: ["Counted"] })
    })))

  it.effect("starts a run, shows it decoded, lists it, and prints its history and picture", () =>
    provided(Effect.gen(function*() {
      const runId = yield* cli("start", "Backup")
      expect(runId).toMatch(/^[0-9a-f-]{36}$/)

      const shown = yield* cli("show", runId)
      expect(shown).toContain(`run       ${runId}`)
      expect(shown).toContain("status    pending (step BackupTransfer)")
      const steps = shown.split("\n").filter((line) => /^\d /.test(line))
      expect(steps[0]).toMatch(new RegExp(`^1  BackupGeneration  finished\\s+1\\s+-\\s+\\{"archive":"backup-${runId}.tar"\\}\\s+-$`))
      expect(steps[1]).toMatch(/^2  BackupTransfer\s+pending\s+1\s+\{"jobId":"job-[0-9a-f-]{36}"\}\s+-\s+-$/)

      const view = JSON.parse(yield* cli("show", runId, "--json"))
      expect(view).toMatchObject({ id: runId, pipeline: "Backup", status: "pending" })
      expect(view.steps.map((s: { status: string }) => s.status)).toEqual(["finished", "pending"])

      const pending = yield* cli("list", "--status", "pending")
      expect(pending.split("\n")).toHaveLength(2)
      expect(pending.split("\n")[1]).toMatch(new RegExp(`^${runId}  Backup\\s+pending  BackupTransfer  \\S+  -$`))
      expect(yield* cli("list", "--status", "finished")).toBe("no runs")
      expect(yield* cli("list", "--pipeline", "Doubling")).toBe("no runs")

      const history = (yield* cli("history", runId)).split("\n")
      expect(history[0]).toMatch(/^#\s+AT\s+EVENT\s+STEP\s+ATTEMPT\s+WORKER\s+DATA$/)
      const events = JSON.parse(yield* cli("history", runId, "--json")) as Array<{ type: string; step: string | null }>
      expect(events.map((e) => e.type)).toEqual(history.slice(1).map((line) => line.split(/\s+/)[2]))
      expect(events[0]).toMatchObject({ type: "created", step: null })
      expect(events.some((e) => e.type === "finished" && e.step === "BackupGeneration")).toBe(true)

      expect(yield* cli("picture", "Backup")).toBe(Mermaid.pipeline(backup))
      expect(yield* cli("picture", runId, "--direction", "TB")).toBe(
        Mermaid.run(yield* Orchestrator.get(runId), { direction: "TB" })
      )
    })))

  it.effect("pages through runs with the cursor it prints", () =>
    provided(Effect.gen(function*() {
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        ids.push(yield* cli("start", "Backup", "--create-only"))
        yield* TestClock.adjust(Duration.millis(1))
      }
      const first = (yield* cli("list", "--limit", "2")).split("\n")
      expect(first.slice(1, 3).map((line) => line.split(" ")[0])).toEqual([ids[2], ids[1]])
      expect(first[1]).toContain("created")
      const cursor = first[3].replace("next page: --cursor ", "")
      const second = (yield* cli("list", "--limit", "2", "--cursor", cursor)).split("\n")
      expect(second.slice(1).map((line) => line.split(" ")[0])).toEqual([ids[0]])
    })))

  it.effect("decodes --input with the pipeline's schema, and refuses input that does not decode", () =>
    provided(Effect.gen(function*() {
      const runId = yield* cli("start", "Doubling", "--input", "{\"count\":\"21\"}", "--idempotency-key", "k1")
      const view = yield* Orchestrator.get(runId)
      expect(view.status).toBe("finished")
      expect(view.input).toEqual({ count: 21 })
      expect(view.steps[0].output).toBe(42)
      expect(yield* cli("start", "Doubling", "--input", "{\"count\":\"5\"}", "--idempotency-key", "k1")).toBe(runId)

      const bad = yield* Effect.flip(cli("start", "Doubling", "--input", "{\"count\":\"many\"}"))
      expect(bad._tag).toBe("EncodeError")
      expect((bad as Error).message).toContain("pipeline input (--input)")
      const notJson = yield* Effect.flip(cli("start", "Doubling", "--input", "{count"))
      expect((notJson as Error).message).toContain("not JSON")
      const unknown = yield* Effect.flip(cli("start", "Nope"))
      expect(unknown._tag).toBe("UnknownPipeline")
      expect((yield* Orchestrator.list({ pipeline: "Doubling" })).runs).toHaveLength(1)
    })))

  it.effect("signals a waiting step with a payload decoded by its schema, then a pass ends the run", () =>
    provided(Effect.gen(function*() {
      const runId = yield* cli("start", "Approvals")
      const bad = yield* Effect.flip(cli("signal", runId, "Approval", "{\"approved\":\"yes\"}"))
      expect(bad._tag).toBe("EncodeError")
      expect(yield* cli("signal", runId, "Approval", "{\"approved\":true,\"at\":\"2026-01-01T00:00:00Z\"}"))
        .toBe(`signalled Approval of ${runId}`)
      expect(yield* cli("pass")).toBe("ticked 1: 1 finished, 0 failed, 0 cancelled, 0 waiting")
      const view = yield* Orchestrator.get(runId)
      expect(view.status).toBe("finished")
      expect(view.steps[0].output).toBe(true)
    })))

  it.effect("cancels and retries runs, with the orchestrator's typed errors when they do not apply", () =>
    provided(Effect.gen(function*() {
      const waiting = yield* cli("start", "Backup")
      expect(yield* cli("cancel", waiting, "--reason", "not today")).toBe(`cancelled ${waiting}`)
      const cancelled = yield* Orchestrator.get(waiting)
      expect(cancelled.status).toBe("cancelled")
      expect(cancelled.steps[1].error?.message).toBe("not today")
      expect((yield* Effect.flip(cli("cancel", waiting)))._tag).toBe("InvalidOperation")

      failNext = true
      const failing = yield* cli("start", "Flakes")
      expect((yield* Orchestrator.get(failing)).status).toBe("failed")
      expect(yield* cli("show", failing)).toContain("error     upstream down")
      failNext = false
      expect(yield* cli("retry", failing)).toBe(`retrying ${failing}`)
      expect(yield* cli("pass", "--json")).toBe(
        JSON.stringify({ ticked: 1, finished: 1, failed: 0, cancelled: 0, waiting: 0, errors: [] }, null, 2)
      )
      expect((yield* Orchestrator.get(failing)).status).toBe("finished")
      expect((yield* Effect.flip(cli("retry", failing)))._tag).toBe("InvalidOperation")
      expect((yield* Effect.flip(cli("show", "no-such-run")))._tag).toBe("RunNotFound")
      // printed once, for a person at a terminal
      expect(errors).toEqual(["error: no run with id no-such-run"])
    })))

  it.effect("fails with a ValidationError on arguments it does not know", () =>
    provided(Effect.gen(function*() {
      const error = yield* Effect.flip(cli("list", "--status", "sleeping"))
      expect(error._tag).toBe("InvalidValue")
      // @effect/cli printed it with the help: not again as an error
      expect(errors.join("\n")).toContain("Expected one of the following cases")
      expect(errors.some((line) => line.startsWith("error:"))).toBe(false)
      expect((yield* Effect.flip(cli("frobnicate")))._tag).toBe("CommandMismatch")
    })))

  it.effect("fails on the history of an unknown run as show does", () =>
    provided(Effect.gen(function*() {
      const runId = yield* cli("start", "Backup")
      expect((yield* cli("history", runId)).split("\n")[1]).toContain("created")
      for (const args of [["history", "no-such-run"], ["history", "no-such-run", "--json"]]) {
        const error = yield* Effect.flip(cli(...args))
        expect(error._tag).toBe("RunNotFound")
        expect(printed).toEqual([])
        expect(errors).toEqual(["error: no run with id no-such-run"])
      }
    })))

  it.effect("refuses a --limit that is not a positive integer", () =>
    provided(Effect.gen(function*() {
      yield* cli("start", "Backup", "--create-only")
      for (const limit of ["0", "-5"]) {
        const error = yield* Effect.flip(cli("list", "--limit", limit))
        expect(error._tag).toBe("InvalidValue")
        expect(printed).toEqual([])
        expect(errors.join("\n")).toContain(`--limit must be a positive integer, not ${limit}`)
        expect(errors.some((line) => line.startsWith("error:"))).toBe(false)
      }
      for (const option of ["--limit", "--concurrency"]) {
        const error = yield* Effect.flip(cli("pass", option, "0"))
        expect(error._tag).toBe("InvalidValue")
        expect(errors.join("\n")).toContain(`${option} must be a positive integer, not 0`)
      }
      expect((yield* cli("list", "--limit", "1")).split("\n")[2]).toMatch(/^next page: --cursor /)
    })))

  it.effect("refuses a --cursor that list did not print", () =>
    provided(Effect.gen(function*() {
      yield* cli("start", "Backup", "--create-only")
      // not base64url JSON; JSON but not a cursor's; a cursor's shape with the wrong types
      const notCursors = [
        "garbage!",
        Buffer.from("{\"a\":1}").toString("base64url"),
        Buffer.from("[\"1\",2]").toString("base64url")
      ]
      for (const cursor of notCursors) {
        const error = yield* Effect.flip(cli("list", "--cursor", cursor))
        expect(error._tag).toBe("InvalidValue")
        expect(printed).toEqual([])
        expect(errors.join("\n")).toContain(`--cursor ${cursor} is not a cursor that list printed`)
      }
    })))

  it.effect("refuses --input for a pipeline that takes no input, and writes nothing", () =>
    provided(Effect.gen(function*() {
      for (const args of [[], ["--create-only"]]) {
        const error = yield* Effect.flip(cli("start", "Backup", "--input", "{\"count\":\"1\"}", ...args))
        expect(error._tag).toBe("InvalidArgument")
        expect(errors).toEqual(["error: --input: pipeline \"Backup\" takes no input"])
      }
      expect((yield* Orchestrator.list()).runs).toEqual([])
    })))

  it.effect("with --json, prints only the JSON document on standard output", () =>
    provided(Effect.gen(function*() {
      // what reaches the process's standard output, through the console or written to it
      const stdout: Array<string> = []
      const stderr: Array<string> = []
      vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (stdout.push(String(chunk)), true))
      vi.spyOn(process.stderr, "write").mockImplementation((chunk) => (stderr.push(String(chunk)), true))
      const infos: Array<string> = []
      vi.spyOn(console, "info").mockImplementation((...args: Array<unknown>) => void infos.push(args.join(" ")))
      const write = process.stdout.write
      const log = console.log
      const runId = yield* cli("start", "Chatter", "--create-only")
      stdout.length = 0
      stderr.length = 0

      const out = yield* cli("pass", "--json")
      expect(JSON.parse([out, ...stdout].join("\n"))).toEqual({
        ticked: 1,
        finished: 1,
        failed: 0,
        cancelled: 0,
        waiting: 0,
        errors: []
      })
      const elsewhere = [...errors, ...stderr].join("\n")
      expect(elsewhere).toContain("hello from a handler")
      expect(elsewhere).toContain("info from a handler")
      expect(elsewhere).toContain("raw from a handler")
      expect(elsewhere).toContain("logged by a handler")
      // restored afterwards
      expect(process.stdout.write).toBe(write)
      expect(console.log).toBe(log)
      expect((yield* Orchestrator.get(runId)).status).toBe("finished")

      // without --json, the handlers print as they would
      yield* cli("start", "Chatter", "--create-only")
      stdout.length = 0
      const text = yield* cli("pass")
      expect(text).toContain("hello from a handler")
      expect(stdout.join("")).toContain("raw from a handler")
      expect(infos).toEqual(["info from a handler"])
    }).pipe(Effect.provide(Logger.add(Logger.defaultLogger)))))

  it.effect("marks the runs of pipelines that this orchestrator does not register", () =>
    Effect.gen(function*() {
      // one store, two orchestrators: one with Backup, the command line's with Approvals
      const store = yield* Layer.build(Repository.layerMemory)
      const other = Orchestrator.layer([backup]).pipe(Layer.provide(Layer.succeedContext(store)))
      const stranded = yield* Orchestrator.create(backup).pipe(Effect.provide(other))
      const mine = Layer.merge(
        Orchestrator.layer([approvals]).pipe(Layer.provide(Layer.succeedContext(store))),
        NodeContext.layer
      )
      yield* TestClock.adjust(Duration.millis(1))
      const registered = yield* cli("start", "Approvals").pipe(Effect.provide(mine))

      const lines = (yield* cli("list").pipe(Effect.provide(mine))).split("\n")
      expect(lines[1]).toMatch(new RegExp(`^${registered}  Approvals  `))
      expect(lines[1]).not.toContain("(not registered)")
      expect(lines[2]).toMatch(new RegExp(`^${stranded}  Backup \\(not registered\\)  created  `))

      const page = JSON.parse(yield* cli("list", "--json").pipe(Effect.provide(mine)))
      expect(page.runs.map((run: { id: string; registered: boolean }) => [run.id, run.registered])).toEqual([
        [registered, true],
        [stranded, false]
      ])
    }).pipe(Effect.scoped))
})

describe("Cli.formatPage", () => {
  it("prints the runs of a page that do not decode after the others, with their messages", () => {
    const corrupt = new Errors.CorruptRecord({ runId: "r-2", detail: "the run record: bad", column: "metadata", value: "{not json" })
    expect(Cli.formatPage({ runs: [], corrupt: [corrupt], cursor: "abc" })).toBe(
      "corrupt run r-2: metadata = {not json does not decode (run r-2, the run record: bad)\nnext page: --cursor abc"
    )
  })
})
