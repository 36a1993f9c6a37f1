/**
 * The crash harness: real worker processes over one database, killed with SIGKILL at random
 * moments and restarted until every run has ended; then the checks of the durability promises.
 */
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer, ManagedRuntime, Schedule } from "effect"
import type { ChildProcess } from "node:child_process"
import { Orchestrator, type Run } from "prorch"
import { repositoryLayer } from "../fixtures/backendLayer.js"
import { type CrashPoint, crashPipeline, crashPoints, expectedStatus } from "../fixtures/crashPipeline.js"
import { spawnTs } from "./process.js"

export interface HarnessOptions {
  /** `sqlite:<file>` or `pg:<url>#<schema>` */
  readonly backend: string
  /** a directory for the workers' side tables (one SQLite file per worker) */
  readonly callsDir: string
  readonly runs: number
  readonly workers: number
  /**
   * probability of a self-inflicted SIGKILL at each crash point in the workers; when above 0, each
   * new worker is also given a crash point that has not fired yet (in turn), at which it kills
   * itself at one of its first three opportunities, so that every point fires in the run
   */
  readonly crashRate: number
  /** SIGKILL a random worker every so many milliseconds (a random pick in the range), or never */
  readonly killEvery?: readonly [number, number] | undefined
  readonly concurrency: number
  readonly lease: string
  readonly timeoutMs: number
  readonly log?: (line: string) => void
  /** called about every 50 ms while the workers run (to break things on purpose) */
  readonly meanwhile?: ((elapsedMs: number) => Promise<void>) | undefined
}

export interface CallRow {
  readonly id: number
  readonly run_id: string
  readonly step: string
  readonly step_run_id: string
  readonly handler: "onStart" | "onContinue"
  readonly attempt: number
  readonly seq: number
  readonly worker: string
  readonly pid: number
  readonly started_at: number
  readonly ended_at: number | null
}

export interface HarnessResult {
  readonly runs: ReadonlyArray<Run.RunView>
  readonly histories: ReadonlyMap<string, ReadonlyArray<{ type: string; step: string | null; worker: string | null }>>
  readonly calls: ReadonlyArray<CallRow>
  readonly deaths: ReadonlyMap<number, number>
  readonly kills: number
  readonly crashes: number
  /** how many times each crash point fired (as the workers recorded it before they died) */
  readonly crashPoints: ReadonlyMap<CrashPoint, number>
  readonly elapsedMs: number
  readonly problems: ReadonlyArray<string>
  /** what the workers wrote (their logs) */
  readonly output: string
}

const recordedNoop = <A, E, R>(_: unknown, __: unknown, body: Effect.Effect<A, E, R>) => body
/** the same pipeline as the workers', for the test's own orchestrator (it never ticks) */
export const harnessPipeline = crashPipeline(recordedNoop)

export const runHarness = async (options: HarnessOptions): Promise<HarnessResult> => {
  const log = options.log ?? (() => {})
  fs.mkdirSync(options.callsDir, { recursive: true })

  const runtime = ManagedRuntime.make(
    Orchestrator.layer([harnessPipeline], { owner: "harness" }).pipe(Layer.provide(repositoryLayer(options.backend)))
  )
  const run = <A, E>(effect: Effect.Effect<A, E, Orchestrator.Orchestrator>) => runtime.runPromise(effect)

  const ids: Array<string> = []
  for (let n = 0; n < options.runs; n++) {
    ids.push(await run(Orchestrator.create(harnessPipeline, { input: { n } })))
  }
  log(`created ${ids.length} runs`)

  const children = new Map<number, ChildProcess>()
  const deaths = new Map<number, number>()
  let kills = 0
  let crashes = 0
  const fired = new Map<CrashPoint, number>()
  /** the crash points designated to the live workers */
  const designated = new Map<number, CrashPoint>()
  /** the next crash point to designate: the first, in turn, that has not fired and no live worker holds */
  let turn = 0
  const nextDesignated = (): CrashPoint | undefined => {
    if (options.crashRate <= 0) return undefined
    const held = new Set(designated.values())
    for (let i = 0; i < crashPoints.length; i++) {
      const point = crashPoints[(turn + i) % crashPoints.length]
      if (!fired.has(point) && !held.has(point)) {
        turn = (turn + i + 1) % crashPoints.length
        return point
      }
    }
    return undefined
  }
  let workerCount = 0
  let stopping = false
  let allOutput = ""

  const spawnWorker = () => {
    const owner = `worker-${++workerCount}`
    const point = nextDesignated()
    const child = spawnTs("test/fixtures/crashWorker.ts", [options.backend, options.callsDir, owner], {
      PRORCH_CRASH_RATE: String(options.crashRate),
      PRORCH_CRASH_AT: point ?? "",
      PRORCH_CONCURRENCY: String(options.concurrency),
      PRORCH_LEASE: options.lease
    })
    const pid = child.pid!
    children.set(pid, child)
    if (point !== undefined) designated.set(pid, point)
    let stderr = ""
    child.stderr!.on("data", (chunk) => (stderr += chunk))
    child.stdout!.on("data", (chunk) => (allOutput += chunk))
    child.on("exit", (code, signal) => {
      allOutput += stderr
      deaths.set(pid, Date.now())
      children.delete(pid)
      designated.delete(pid)
      for (const point of crashesOf(path.join(options.callsDir, `${owner}.sqlite`))) {
        fired.set(point, (fired.get(point) ?? 0) + 1)
        crashes++
      }
      if (signal !== "SIGKILL" && !stopping) {
        log(`worker ${owner} exited with ${code ?? signal}: ${stderr.slice(-2000)}`)
      }
      if (!stopping) spawnWorker()
    })
  }

  const started = Date.now()
  for (let i = 0; i < options.workers; i++) spawnWorker()

  const random = (range: readonly [number, number]) => range[0] + Math.random() * (range[1] - range[0])
  let nextKill = options.killEvery === undefined ? Infinity : Date.now() + random(options.killEvery)
  const active = () =>
    run(Orchestrator.list({ status: ["created", "pending"], limit: 1 }).pipe(
      Effect.retry({ times: 50, schedule: Schedule.spaced("200 millis") })
    ))
  try {
    while (true) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      if (Date.now() - started > options.timeoutMs) {
        // say what it was waiting for and what it saw
        const left = await run(Orchestrator.list({ status: ["created", "pending"], limit: 10 }))
        throw new Error(
          `the ${options.runs} runs did not all end within ${options.timeoutMs} ms ` +
            `(${kills} kills, ${crashes} self-crashes, ${children.size} workers alive); still active, first 10: ` +
            left.runs.map((r) => `${r.id} ${r.status} at ${r.currentStep ?? "-"}`).join(", ") +
            `; the workers' last output:\n${allOutput.slice(-3000)}`
        )
      }
      if (Date.now() >= nextKill && children.size > 0) {
        const live = [...children.values()]
        const victim = live[Math.floor(Math.random() * live.length)]
        victim.kill("SIGKILL")
        kills++
        nextKill = Date.now() + random(options.killEvery!)
      }
      if (options.meanwhile !== undefined) await options.meanwhile(Date.now() - started)
      if ((await active()).runs.length === 0) break
    }
  } finally {
    stopping = true
    const exits = [...children.values()].map((child) => new Promise((resolve) => child.once("exit", resolve)))
    for (const child of children.values()) child.kill("SIGTERM")
    await Promise.all(exits)
  }
  const elapsedMs = Date.now() - started
  const byPoint = crashes === 0 ? "" : ` (${crashPoints.map((point) => `${point}: ${fired.get(point) ?? 0}`).join(", ")})`
  log(`all runs ended in ${elapsedMs} ms; ${kills} kills, ${crashes} self-crashes${byPoint}, ${workerCount} worker processes`)

  const runs: Array<Run.RunView> = []
  const histories = new Map<string, ReadonlyArray<{ type: string; step: string | null; worker: string | null }>>()
  for (const id of ids) {
    runs.push(await run(Orchestrator.get(id)))
    histories.set(id, await run(Orchestrator.history(id)))
  }
  await runtime.dispose()
  const rows: Array<CallRow> = []
  for (const file of fs.readdirSync(options.callsDir).filter((name) => name.endsWith(".sqlite"))) {
    const calls = new Database(path.join(options.callsDir, file), { readonly: true })
    // a worker killed while it started may have left a file without its table (and without calls)
    const table = calls.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calls'").get()
    if (table !== undefined) rows.push(...(calls.prepare("SELECT * FROM calls ORDER BY id").all() as Array<CallRow>))
    calls.close()
  }
  return {
    runs,
    histories,
    calls: rows,
    deaths,
    kills,
    crashes,
    crashPoints: fired,
    elapsedMs,
    problems: check(runs, histories, rows, deaths),
    output: allOutput
  }
}

/**
 * the crash points a dead worker recorded in its side table: none if it died before making the
 * table (a worker killed while it started may have left no file, or one that does not open yet)
 */
const crashesOf = (file: string): Array<CrashPoint> => {
  let db: Database.Database | undefined
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'crashes'").get()
    return table === undefined
      ? []
      : (db.prepare("SELECT point FROM crashes ORDER BY rowid").all() as Array<{ point: CrashPoint }>).map((row) => row.point)
  } catch {
    return []
  } finally {
    db?.close()
  }
}

/** every promise of docs/runtime.md that the harness can see, as a list of violations */
export const check = (
  runs: ReadonlyArray<Run.RunView>,
  histories: ReadonlyMap<string, ReadonlyArray<{ type: string; step: string | null; worker: string | null }>>,
  calls: ReadonlyArray<CallRow>,
  deaths: ReadonlyMap<number, number>
): Array<string> => {
  const problems: Array<string> = []
  const byRun = new Map<string, Array<CallRow>>()
  for (const call of calls) {
    const list = byRun.get(call.run_id) ?? []
    list.push(call)
    byRun.set(call.run_id, list)
  }

  for (const run of runs) {
    const n = (run.input as { n: number }).n
    const expected = expectedStatus(n)
    if (run.status !== expected) problems.push(`run ${n} ended ${run.status}, expected ${expected}`)

    // the history agrees with the records: every committed transition is there, once
    const history = histories.get(run.id) ?? []
    if (history[0]?.type !== "created") problems.push(`run ${n}: history does not start with created`)
    const runEnds = history.filter((e) => e.step === null && ["finished", "failed", "cancelled"].includes(e.type))
    if (runEnds.length !== 1 || runEnds[0].type !== run.status) {
      problems.push(`run ${n}: ${runEnds.length} run end events for a ${run.status} run`)
    }
    // elements start in order: each step's start comes after the starts of the steps of earlier
    // elements (the members of a group start in any order among themselves)
    const startAt = run.steps.map((step) => history.findIndex((e) => e.type === "started" && e.step === step.name))
    // a forEach's members belong to the forEach's element (they start after it)
    const element = (index: number) => {
      const parent = run.steps[index].metadata.parent
      return typeof parent === "number" ? parent : harnessPipeline.group(index)?.[0] ?? index
    }
    for (let i = 0; i < run.steps.length; i++) {
      for (let j = i + 1; j < run.steps.length; j++) {
        if (element(i) === element(j) || startAt[i] < 0 || startAt[j] < 0) continue
        const [early, late] = element(i) < element(j) ? [i, j] : [j, i]
        if (startAt[late] < startAt[early]) {
          problems.push(`run ${n}: step ${run.steps[late].name} started before ${run.steps[early].name}`)
        }
      }
    }
    run.steps.forEach((step) => {
      const events = history.filter((e) => e.step === step.name)
      const startedEvents = events.filter((e) => e.type === "started").length
      const ended = events.filter((e) => ["finished", "failed", "cancelled"].includes(e.type))
      const continued = events.filter((e) => e.type === "continued").length
      if (step.status !== "created" && step.status !== "cancelled" && startedEvents !== 1) {
        problems.push(`run ${n}: step ${step.name} (${step.status}) has ${startedEvents} started events`)
      }
      if (step.status === "created" && (startedEvents > 0 || ended.length > 0)) {
        problems.push(`run ${n}: step ${step.name} is created but has events`)
      }
      if (["finished", "failed", "cancelled"].includes(step.status)) {
        if (ended.length !== 1 || ended[0].type !== step.status) {
          problems.push(`run ${n}: step ${step.name} is ${step.status} with end events ${ended.map((e) => e.type)}`)
        }
      }
      const recorded = typeof step.metadata.continuations === "number" ? step.metadata.continuations : 0
      if (recorded !== continued) {
        problems.push(`run ${n}: step ${step.name} has ${continued} continued events, ${recorded} continuations`)
      }
    })

    // handler calls: one step run id per step, no overlap between workers, repeats only after a crash
    const runCalls = (byRun.get(run.id) ?? []).slice().sort((a, b) =>
      a.started_at - b.started_at || a.pid - b.pid || a.id - b.id
    )
    const endOf = (call: CallRow) => call.ended_at ?? deaths.get(call.pid) ?? Number.POSITIVE_INFINITY
    for (const step of run.steps) {
      const ids = new Set(runCalls.filter((c) => c.step === step.name).map((c) => c.step_run_id))
      if (ids.size > 1 || (ids.size === 1 && !ids.has(step.id))) {
        problems.push(`run ${n}: step ${step.name} was called with step run ids ${[...ids]}`)
      }
    }
    for (let i = 0; i < runCalls.length; i++) {
      for (let j = i + 1; j < runCalls.length; j++) {
        const a = runCalls[i]
        const b = runCalls[j]
        if (b.started_at >= endOf(a)) break
        if (a.pid !== b.pid) {
          problems.push(
            `run ${n}: ${a.worker} (${a.step}.${a.handler} ${a.started_at}-${endOf(a)}) overlaps ` +
              `${b.worker} (${b.step}.${b.handler} from ${b.started_at})`
          )
        }
      }
    }
    const seen = new Map<string, CallRow>()
    for (const call of runCalls) {
      const key = `${call.step}/${call.handler}/${call.attempt}/${call.seq}`
      const earlier = seen.get(key)
      // a call repeats only after the worker that made it died (every worker dies at the end, by SIGTERM)
      if (earlier !== undefined && (deaths.get(earlier.pid) ?? Number.POSITIVE_INFINITY) > call.started_at) {
        problems.push(`run ${n}: ${key} repeated by ${call.worker} while ${earlier.worker} was alive`)
      }
      seen.set(key, call)
    }
  }
  return problems
}
