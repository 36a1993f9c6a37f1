/**
 * The benchmark suite: `npm run bench` (or `npm run bench -- --smoke` for a tiny run that only
 * checks that every workload works). Writes docs/benchmarks.md (with --smoke: prints the report).
 *
 * Every figure is printed next to a baseline measured in the same run, as a ratio: these machines
 * are noisy, absolute numbers are not comparable from one run to the next. Library runs and their
 * baselines are interleaved in chunks, so that a slow minute hurts both alike.
 *
 *   --smoke          a few runs per workload
 *   --only=W1,W4     only these workloads
 *   PRORCH_PG_URL    the PostgreSQL database of W6 (default postgres://postgres@127.0.0.1:5432/test)
 */
import Database from "better-sqlite3"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { Orchestrator, Repository } from "prorch"
import { PgRepository } from "prorch/Pg"
import { SqliteRepository } from "prorch/Sqlite"
import { uuidv7 } from "../src/internal/ids.js"
import {
  commitCost,
  pagesByTree,
  pgFloor,
  recordStatements,
  sqliteFloor,
  sqliteReplay,
  timeStatements,
  walWrites
} from "./floors.js"
import { formatRow, log, machine, median, percentile, removeDatabase, root, type Row, tmp } from "./lib.js"
import { polling, threeSteps } from "./pipelines.js"
import { w7 } from "./w7idle.js"

const args = process.argv.slice(2)
const smoke = args.includes("--smoke")
const only = args.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",")
const wanted = (workload: string) => only === undefined || only.includes(workload)
const pgUrl = process.env.PRORCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const size = smoke
  ? { w1: 60, w1Warmup: 100, sqliteWarmup: 20, w1Rounds: 1, w1Pages: 20, w1Split: 20, chunk: 20, w2: 60, w3: 20, w4: [0, 1_000], w4Due: 10, w4Reps: 1, w5: [100, 300], w6: 40, w6Workers: 60 }
  : {
    w1: 5_000,
    w1Warmup: 5_000,
    sqliteWarmup: 2_000,
    w1Rounds: 5,
    w1Pages: 1_000,
    w1Split: 2_000,
    chunk: 500,
    w2: 5_000,
    w3: 1_000,
    w4: [0, 100_000, 1_000_000],
    w4Due: 100,
    w4Reps: 11,
    w5: [10_000, 100_000],
    w6: 2_000,
    w6Workers: 3_000
  }

const rows: Array<Row> = []
const notes: Array<string> = []
const dir = tmp()

type Runtime = ManagedRuntime.ManagedRuntime<Orchestrator.Orchestrator, unknown>

const orchestratorOn = (repository: Layer.Layer<Repository.Repository, unknown>): Runtime =>
  ManagedRuntime.make(Orchestrator.layer([threeSteps, polling]).pipe(Layer.provide(repository)))

const sqliteFile = (name: string) => {
  const file = path.join(dir, `${name}.db`)
  removeDatabase(file)
  return file
}

/** start `n` runs one at a time (or `concurrency` at a time); the time of each start (it ends the run) */
const startRuns = (runtime: Runtime, n: number, concurrency = 1) =>
  runtime.runPromise(Effect.gen(function*() {
    const latencies: Array<number> = []
    const started = performance.now()
    let last = ""
    yield* Effect.forEach(
      Array.from({ length: n }),
      () =>
        Effect.gen(function*() {
          const t0 = performance.now()
          last = yield* Orchestrator.start(threeSteps)
          latencies.push(performance.now() - t0)
        }),
      { concurrency, discard: true }
    )
    const ms = performance.now() - started
    const status = (yield* Orchestrator.get(last)).status
    if (status !== "finished") throw new Error(`a W1 run ended ${status}`)
    return { ms, latencies }
  }))

/** alternate chunks of `a` and `b` (in both orders), summing their times */
const interleave = async (
  total: number,
  chunk: number,
  a: (n: number) => Promise<{ ms: number; latencies?: Array<number> }>,
  b: (n: number) => Promise<{ ms: number; latencies?: Array<number> }>
) => {
  const result = { a: { ms: 0, latencies: [] as Array<number> }, b: { ms: 0, latencies: [] as Array<number> } }
  for (let done = 0, i = 0; done < total; done += chunk, i++) {
    const n = Math.min(chunk, total - done)
    const first = i % 2 === 0
    for (const which of first ? ["a", "b"] as const : ["b", "a"] as const) {
      const r = await (which === "a" ? a(n) : b(n))
      result[which].ms += r.ms
      result[which].latencies.push(...(r.latencies ?? []))
    }
  }
  return result
}

const perSecond = (n: number, ms: number) => (n / ms) * 1000

const floorChunk = (floor: { one: () => void }) => async (n: number) => {
  const latencies: Array<number> = []
  const t = performance.now()
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    floor.one()
    latencies.push(performance.now() - t0)
  }
  return { ms: performance.now() - t, latencies }
}

// -----------------------------------------------------------------------------
// W1, W2: three instant steps, one at a time and 50 in flight, SQLite and memory
// -----------------------------------------------------------------------------

const w1w2 = async () => {
  const libFile = sqliteFile("w1-library")
  const sqlite = orchestratorOn(SqliteRepository.layer({ filename: libFile }))
  const floorFile = sqliteFile("w1-floor")
  // the floor's tables, made by the library's migrations
  await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(SqliteRepository.layer({ filename: floorFile })))))
  const floor = sqliteFloor(floorFile, "FULL")
  const memory = orchestratorOn(Repository.layerMemory)
  // warm up: the library's code takes a couple of thousand runs to be compiled by the JIT (the
  // floor's plain loop far fewer); both get the same number of runs, on the files they are
  // measured on, so that what follows compares the steady state of each
  await startRuns(sqlite, size.sqliteWarmup)
  await floorChunk(floor)(size.sqliteWarmup)
  await startRuns(memory, 500)

  if (wanted("W1")) {
    log("W1: SQLite library and the 7-commit floor, interleaved")
    const r = await interleave(size.w1, size.chunk, (n) => startRuns(sqlite, n), floorChunk(floor))
    rows.push({
      workload: "W1",
      figure: "SQLite file, pipelines/s",
      value: perSecond(size.w1, r.a.ms),
      unit: "/s",
      baseline: { label: "7-commit floor, better-sqlite3", value: perSecond(size.w1, r.b.ms) },
      better: "higher",
      target: { ratio: 1.0, text: "≥ 1.0×" }
    })
    rows.push({
      workload: "W1",
      figure: "SQLite file, start-to-end p50",
      value: percentile(r.a.latencies, 50),
      unit: "ms",
      baseline: { label: "floor", value: percentile(r.b.latencies, 50) },
      better: "lower"
    })
    rows.push({
      workload: "W1",
      figure: "SQLite file, start-to-end p99",
      value: percentile(r.a.latencies, 99),
      unit: "ms",
      baseline: { label: "floor", value: percentile(r.b.latencies, 99) },
      better: "lower"
    })
    log("W1: the library's statements, recorded and replayed raw, beside the floor")
    const recorder = recordStatements()
    await startRuns(sqlite, size.w1)
    const statements = recorder.stop()
    const replayFile = sqliteFile("w1-replay")
    await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(SqliteRepository.layer({ filename: replayFile })))))
    const replay = sqliteReplay(replayFile, statements)
    const rr = await interleave(size.w1, size.chunk, async (n) => {
      const t = performance.now()
      replay.runs(n)
      return { ms: performance.now() - t }
    }, floorChunk(floor))
    replay.close()
    // what each writes: the replay (the library's statements) and the floor, each on a fresh file
    // whose WAL keeps every page (no checkpoint)
    const written = async (name: string, open: (file: string) => { run: (n: number) => void; close: () => void }) => {
      const file = sqliteFile(`w1-pages-${name}`)
      await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(SqliteRepository.layer({ filename: file })))))
      const { commits: before, pages: pagesBefore } = walWrites(file)
      const handle = open(file)
      handle.run(size.w1Pages)
      // before closing: the last connection to close checkpoints the WAL and removes it
      const after = walWrites(file)
      const trees = pagesByTree(file, after.pageNumbers.slice(pagesBefore), size.w1Pages)
      handle.close()
      return {
        pages: (after.pages - pagesBefore) / size.w1Pages,
        commits: (after.commits - before) / size.w1Pages,
        trees
      }
    }
    const libraryWrites = await written("replay", (file) => {
      const r = sqliteReplay(file, statements, "FULL", 0)
      return { run: (n) => r.runs(n), close: r.close }
    })
    const floorWrites = await written("floor", (file) => {
      const f = sqliteFloor(file, "FULL", 0)
      return { run: (n) => { for (let i = 0; i < n; i++) f.one() }, close: f.close }
    })
    const cost = commitCost(sqliteFile("w1-commit-cost"))
    /** the B-trees that take at least a tenth of a page a run, largest first */
    const byTree = (trees: ReadonlyArray<readonly [string, number]>) =>
      trees.filter(([, n]) => n >= 0.1).map(([tree, n]) => `${tree} ${n.toFixed(1)}`).join(", ")
    rows.push({
      workload: "W1",
      figure: "diagnostic: pages written per run (WAL frames)",
      value: libraryWrites.pages,
      unit: "pages",
      baseline: { label: "7-commit floor", value: floorWrites.pages },
      better: "lower",
      note: `in ${libraryWrites.commits.toFixed(1)} commits (fsyncs) per run, the floor in ${
        floorWrites.commits.toFixed(1)
      }; per run by B-tree, the library's: ${byTree(libraryWrites.trees)}; the floor's: ${
        byTree(floorWrites.trees)
      }; ${size.w1Pages.toLocaleString("en-US")} runs of each on a fresh file, counted in its WAL; on this disk a commit costs ${
        cost.fixed.toFixed(0)
      } µs plus ${cost.perPage.toFixed(0)} µs per page it writes (COMMITs of 1 and of 16 pages timed, \`synchronous = FULL\`)`
    })
    rows.push({
      workload: "W1",
      figure: "diagnostic: the library's SQL replayed raw, pipelines/s",
      value: perSecond(size.w1, rr.a.ms),
      unit: "/s",
      baseline: { label: "7-commit floor", value: perSecond(size.w1, rr.b.ms) },
      better: "higher",
      note: `the ${
        (statements.length / replay.recorded).toFixed(1)
      } statements per run (4 transactions) that the library executed, recorded at the driver and replayed in a plain loop with better-sqlite3: its storage without the runtime around it`
    })
    log("W1: where a run's time goes, with synchronous FULL and OFF")
    // each on a fresh file, after as many runs again to warm up; timed at the driver
    const split = async (synchronous: "FULL" | "OFF") => {
      const runtime = orchestratorOn(SqliteRepository.layer({ filename: sqliteFile(`w1-split-${synchronous}`), synchronous }))
      await startRuns(runtime, size.w1Split)
      const library = await timeStatements(() => startRuns(runtime, size.w1Split))
      await runtime.dispose()
      const file = sqliteFile(`w1-split-floor-${synchronous}`)
      await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(SqliteRepository.layer({ filename: file })))))
      const f = sqliteFloor(file, synchronous)
      await floorChunk(f)(size.w1Split)
      const byHand = await timeStatements(() => floorChunk(f)(size.w1Split))
      f.close()
      const perRun = (t: typeof library) => ({
        commit: (t.commit / size.w1Split) * 1000,
        other: (t.other / size.w1Split) * 1000,
        outside: (t.outside / size.w1Split) * 1000
      })
      return { library: perRun(library), floor: perRun(byHand) }
    }
    const full = await split("FULL")
    const off = await split("OFF")
    const us = (value: number) => `${value.toFixed(0)} µs`
    rows.push({
      workload: "W1",
      figure: "diagnostic: a run's time outside SQLite (the runtime), `synchronous = FULL`",
      value: full.library.outside,
      unit: "µs",
      baseline: { label: "the same with `synchronous = OFF`", value: off.library.outside },
      better: "lower",
      note: `${size.w1Split.toLocaleString("en-US")} runs each, timed at the driver; per run with FULL: COMMITs ${
        us(full.library.commit)
      } (4), the other statements ${us(full.library.other)} (16), outside SQLite ${
        us(full.library.outside)
      }; with OFF: ${us(off.library.commit)}, ${us(off.library.other)}, ${us(off.library.outside)}`
    })
    rows.push({
      workload: "W1",
      figure: "diagnostic: the floor's statements other than COMMIT, `synchronous = FULL`",
      value: full.floor.other,
      unit: "µs",
      baseline: { label: "the same with `synchronous = OFF`", value: off.floor.other },
      better: "lower",
      note: `per run; the floor's 7 COMMITs: ${us(full.floor.commit)} with FULL, ${us(off.floor.commit)} with OFF`
    })
    log("W1: memory layer, in a process of its own")
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(root, "bench/w1memory.ts"),
          String(size.w1),
          String(size.w1Warmup),
          String(size.w1Rounds)
        ],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
      )
      let out = ""
      child.stdout.on("data", (chunk) => (out += chunk))
      child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`W1 memory exited with ${code}`))))
    })
    const m = JSON.parse(output.trim().split("\n").pop()!) as { rates: Array<number>; p50: number; p99: number }
    const sqliteRate = perSecond(size.w1, r.a.ms)
    rows.push({
      workload: "W1",
      figure: "memory layer, pipelines/s",
      value: median(m.rates),
      unit: "/s",
      baseline: { label: "target 10,000/s", value: 10_000 },
      better: "higher",
      target: { ratio: 1.0, text: "≥ 10,000/s" },
      note: `median of ${m.rates.length} rounds of ${size.w1.toLocaleString("en-US")} runs on a fresh store (${
        m.rates.map((rate) => rate.toFixed(0)).join(", ")
      }/s), after ${size.w1Warmup.toLocaleString("en-US")} runs to warm up, in a process of its own; ${
        (median(m.rates) / sqliteRate).toFixed(1)
      }× the SQLite layer; p50 ${m.p50.toFixed(3)} ms, p99 ${m.p99.toFixed(3)} ms`
    })
  }

  if (wanted("W2")) {
    log("W2: 50 runs in flight")
    const r = await interleave(size.w2, size.chunk * 2, (n) => startRuns(sqlite, n, 50), floorChunk(floor))
    rows.push({
      workload: "W2",
      figure: "SQLite file, 50 in flight, pipelines/s",
      value: perSecond(size.w2, r.a.ms),
      unit: "/s",
      baseline: { label: "7-commit floor (better-sqlite3 is synchronous: one at a time)", value: perSecond(size.w2, r.b.ms) },
      better: "higher",
      note: `p50 ${percentile(r.a.latencies, 50).toFixed(2)} ms, p99 ${percentile(r.a.latencies, 99).toFixed(2)} ms`
    })
    const m = await interleave(size.w2, size.chunk * 2, (n) => startRuns(memory, n, 50), (n) => startRuns(sqlite, n, 50))
    rows.push({
      workload: "W2",
      figure: "memory layer, 50 in flight, pipelines/s",
      value: perSecond(size.w2, m.a.ms),
      unit: "/s",
      baseline: { label: "SQLite layer, same chunks", value: perSecond(size.w2, m.b.ms) },
      better: "higher",
      note: `p50 ${percentile(m.a.latencies, 50).toFixed(3)} ms, p99 ${percentile(m.a.latencies, 99).toFixed(3)} ms`
    })
  }
  floor.close()
  await sqlite.dispose()
  await memory.dispose()
}

// -----------------------------------------------------------------------------
// W3: polling, a step that waits five times (due at once), driven by passes
// -----------------------------------------------------------------------------

const drivePolling = (runtime: Runtime, n: number) =>
  runtime.runPromise(Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* Orchestrator.create(polling)
    const t = performance.now()
    let ticks = 0
    let passes = 0
    while (true) {
      const summary = yield* Orchestrator.executePending({ concurrency: 50 })
      passes++
      ticks += summary.ticked
      if (summary.ticked === 0) break
    }
    return { ms: performance.now() - t, ticks, passes }
  }))

const w3 = async () => {
  log("W3: polling")
  const sqlite = orchestratorOn(SqliteRepository.layer({ filename: sqliteFile("w3") }))
  const memory = orchestratorOn(Repository.layerMemory)
  await drivePolling(sqlite, 20)
  await drivePolling(memory, 20)
  const s = await drivePolling(sqlite, size.w3)
  const m = await drivePolling(memory, size.w3)
  rows.push({
    workload: "W3",
    figure: "SQLite file, polls (ticks)/s",
    value: perSecond(s.ticks, s.ms),
    unit: "/s",
    baseline: { label: "memory layer", value: perSecond(m.ticks, m.ms) },
    better: "higher",
    note: `${size.w3} runs × 6 ticks (5 waits, then finish) in ${s.passes} passes: ${
      perSecond(size.w3, s.ms).toFixed(0)
    } runs/s (memory: ${perSecond(size.w3, m.ms).toFixed(0)} runs/s)`
  })
  await sqlite.dispose()
  await memory.dispose()
}

// -----------------------------------------------------------------------------
// W4: the cost of a pass over 100 due runs, against the ended runs stored
// -----------------------------------------------------------------------------

/** add `count` ended runs (a run, its 3 steps, 2 history events each), as the library stores them */
const seedEnded = (file: string, count: number) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = OFF")
  const run = db.prepare(
    `INSERT INTO prorch_pipelines (uuid, name, status, metadata, input, idempotency_key, revision, wake_at, lease_owner,
     lease_expires_at, pending_signals, error, created_at, updated_at, ended_at, events)
     VALUES (?, 'W1', 'finished', '{"current_step":"C"}', NULL, NULL, 5, ?, NULL, NULL, 0, NULL, ?, ?, ?, 2)`
  )
  const stepRow = db.prepare(
    `INSERT INTO prorch_pipeline_steps (uuid, pipeline_uuid, position, name, status, metadata, attempt, state, output,
     error, created_at, updated_at, started_at, ended_at)
     VALUES (?, ?, ?, ?, 'finished', '{"continuations":1}', 1, NULL, NULL, NULL, ?, ?, ?, ?)`
  )
  const event = db.prepare(
    `INSERT INTO prorch_history (run_uuid, seq, at, type, step, attempt, worker, data)
     VALUES (?, ?, ?, ?, NULL, NULL, 'seed', NULL)`
  )
  const batch = db.transaction((n: number, base: number) => {
    for (let i = 0; i < n; i++) {
      const at = base + i
      const id = uuidv7()
      run.run(id, at, at, at, at)
      for (let p = 0; p < 3; p++) stepRow.run(uuidv7(), id, p, "ABC"[p], at, at, at, at)
      event.run(id, 1, at, "created")
      event.run(id, 2, at, "finished")
    }
  })
  for (let done = 0; done < count; done += 50_000) batch(Math.min(50_000, count - done), Date.now() - 86_400_000)
  db.pragma("wal_checkpoint(TRUNCATE)")
  db.close()
}

const pass = (runtime: Runtime, due: number) =>
  runtime.runPromise(Effect.gen(function*() {
    for (let i = 0; i < due; i++) yield* Orchestrator.create(threeSteps)
    const t = performance.now()
    const summary = yield* Orchestrator.executePending()
    const ms = performance.now() - t
    if (summary.finished !== due) throw new Error(`W4: a pass finished ${summary.finished} of ${due} runs`)
    return ms
  }))

const w4 = async () => {
  const stores: Array<{ ended: number; runtime: Runtime; times: Array<number> }> = []
  for (const ended of size.w4) {
    const file = sqliteFile(`w4-${ended}`)
    await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(SqliteRepository.layer({ filename: file })))))
    log(`W4: seeding ${ended.toLocaleString("en-US")} ended runs`)
    if (ended > 0) seedEnded(file, ended)
    const runtime = orchestratorOn(SqliteRepository.layer({ filename: file }))
    await pass(runtime, 10)
    stores.push({ ended, runtime, times: [] })
  }
  for (let rep = 0; rep < size.w4Reps; rep++) {
    const order = rep % 2 === 0 ? stores : stores.slice().reverse()
    for (const store of order) store.times.push(await pass(store.runtime, size.w4Due))
  }
  const base = median(stores[0].times)
  for (const store of stores.slice(1)) {
    rows.push({
      workload: "W4",
      figure: `SQLite, one pass over ${size.w4Due} due runs with ${store.ended.toLocaleString("en-US")} ended runs stored`,
      value: median(store.times),
      unit: "ms",
      baseline: { label: "the same pass with 0 ended runs", value: base },
      better: "lower",
      target: store.ended === size.w4[size.w4.length - 1] ? { ratio: 1.2, text: "≤ 1.2×" } : undefined,
      note: `median of ${size.w4Reps} passes, interleaved across the stores`
    })
  }
  for (const store of stores) await store.runtime.dispose()
}

// -----------------------------------------------------------------------------
// W5: memory of one long-lived worker
// -----------------------------------------------------------------------------

const w5 = async () => {
  log(`W5: one worker, ${size.w5[1].toLocaleString("en-US")} runs`)
  const file = sqliteFile("w5")
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", "--import", "tsx", path.join(root, "bench/w5.ts"), file, String(size.w5[0]), String(size.w5[1])],
      { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`W5 exited with ${code}`))))
  })
  const { samples, seconds } = JSON.parse(output.trim().split("\n").pop()!) as {
    samples: Array<{ rss: number; heapUsed: number; processed: number }>
    seconds: number
  }
  const [first, last] = samples
  const mib = (bytes: number) => bytes / 2 ** 20
  rows.push({
    workload: "W5",
    figure: `RSS after ${last.processed.toLocaleString("en-US")} runs`,
    value: mib(last.rss),
    unit: "MiB",
    baseline: { label: `after ${first.processed.toLocaleString("en-US")} runs`, value: mib(first.rss) },
    better: "lower",
    target: { ratio: 1.1, text: "≤ 1.1×" },
    note: `SQLite file (synchronous NORMAL), concurrency 20, ${(last.processed / seconds).toFixed(0)} runs/s`
  })
  rows.push({
    workload: "W5",
    figure: `heap used after ${last.processed.toLocaleString("en-US")} runs`,
    value: mib(last.heapUsed),
    unit: "MiB",
    baseline: { label: `after ${first.processed.toLocaleString("en-US")} runs`, value: mib(first.heapUsed) },
    better: "lower"
  })
}

// -----------------------------------------------------------------------------
// W6: PostgreSQL
// -----------------------------------------------------------------------------

const pgAvailable = async () => {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query("SELECT 1")
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

const seedCreated = async (schema: string, count: number) => {
  const client = new pg.Client({ connectionString: pgUrl })
  await client.connect()
  try {
    const t = (table: string) => `"${schema}"."${table}"`
    for (let done = 0; done < count; done += 500) {
      const n = Math.min(500, count - done)
      const now = Date.now()
      const runs: Array<string> = []
      const stepIds: Array<string> = []
      const stepRuns: Array<string> = []
      const positions: Array<number> = []
      const names: Array<string> = []
      for (let i = 0; i < n; i++) {
        const id = uuidv7()
        runs.push(id)
        for (let p = 0; p < 3; p++) {
          stepIds.push(uuidv7())
          stepRuns.push(id)
          positions.push(p)
          names.push("ABC"[p])
        }
      }
      await client.query("BEGIN")
      await client.query(
        `INSERT INTO ${t("pipelines")} (uuid, name, status, metadata, revision, wake_at, pending_signals, created_at,
         updated_at, events) SELECT id, 'W1', 'created', '{"current_step":null}', 1, $2, 0, $2, $2, 1
         FROM unnest($1::text[]) AS id`,
        [runs, now]
      )
      await client.query(
        `INSERT INTO ${t("pipeline_steps")} (uuid, pipeline_uuid, position, name, status, metadata, attempt,
         created_at, updated_at) SELECT u, r, p, n, 'created', '{}', 1, $5, $5
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS x(u, r, p, n)`,
        [stepIds, stepRuns, positions, names, now]
      )
      await client.query(
        `INSERT INTO ${t("history")} (run_uuid, seq, at, type) SELECT id, 1, $2, 'created' FROM unnest($1::text[]) AS id`,
        [runs, now]
      )
      await client.query("COMMIT")
    }
    await client.query(`SELECT pg_notify($1, $2)`, [`prorch_${schema}`.slice(0, 63), "0"])
  } finally {
    await client.end()
  }
}

const activeRuns = async (schema: string) => {
  const client = new pg.Client({ connectionString: pgUrl })
  await client.connect()
  try {
    const { rows: result } = await client.query(
      `SELECT count(*)::int AS n FROM "${schema}"."pipelines" WHERE status IN ('created', 'pending')`
    )
    return result[0].n as number
  } finally {
    await client.end()
  }
}

const dropSchema = async (schema: string) => {
  const client = new pg.Client({ connectionString: pgUrl })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await client.end()
}

const w6 = async () => {
  if (!(await pgAvailable())) {
    notes.push(`W6 skipped: no PostgreSQL at ${pgUrl.replace(/\/\/[^@]*@/, "//…@")} (set PRORCH_PG_URL).`)
    return
  }
  const schema = `bench_${process.pid}`
  await dropSchema(schema)
  const repository = PgRepository.layer({ url: Redacted.make(pgUrl), schema, maxConnections: 50 })
  const runtime = orchestratorOn(repository)
  await startRuns(runtime, 10)
  const floor = await pgFloor(pgUrl, schema, 50)
  const floorSequential = async (n: number) => {
    const latencies: Array<number> = []
    const t = performance.now()
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      await floor.one()
      latencies.push(performance.now() - t0)
    }
    return { ms: performance.now() - t, latencies }
  }
  const floorConcurrent = async (n: number) => {
    const latencies: Array<number> = []
    const t = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (next < n) {
        next++
        const t0 = performance.now()
        await floor.one()
        latencies.push(performance.now() - t0)
      }
    }))
    return { ms: performance.now() - t, latencies }
  }
  await floorSequential(10)
  log("W6: PostgreSQL, W1 and W2 against the pg floor")
  const one = await interleave(size.w6, Math.max(10, size.w6 / 10), (n) => startRuns(runtime, n), floorSequential)
  rows.push({
    workload: "W6",
    figure: "PostgreSQL W1 (one at a time), pipelines/s",
    value: perSecond(size.w6, one.a.ms),
    unit: "/s",
    baseline: { label: "7-commit floor, pg", value: perSecond(size.w6, one.b.ms) },
    better: "higher",
    target: { ratio: 0.9, text: "≥ 0.9×" },
    note: `p50 ${percentile(one.a.latencies, 50).toFixed(2)} ms (floor ${percentile(one.b.latencies, 50).toFixed(2)} ms), ` +
      `p99 ${percentile(one.a.latencies, 99).toFixed(2)} ms (floor ${percentile(one.b.latencies, 99).toFixed(2)} ms)`
  })
  const fifty = await interleave(size.w6, Math.max(10, size.w6 / 5), (n) => startRuns(runtime, n, 50), floorConcurrent)
  rows.push({
    workload: "W6",
    figure: "PostgreSQL W2 (50 in flight), pipelines/s",
    value: perSecond(size.w6, fifty.a.ms),
    unit: "/s",
    baseline: { label: "7-commit floor, pg, 50 clients", value: perSecond(size.w6, fifty.b.ms) },
    better: "higher",
    target: { ratio: 0.9, text: "≥ 0.9×" },
    note: `p50 ${percentile(fifty.a.latencies, 50).toFixed(2)} ms (floor ${
      percentile(fifty.b.latencies, 50).toFixed(2)
    } ms), p99 ${percentile(fifty.a.latencies, 99).toFixed(2)} ms (floor ${percentile(fifty.b.latencies, 99).toFixed(2)} ms)`
  })
  await floor.close()
  await runtime.dispose()

  // 1, 2 and 4 worker processes
  let single = 0
  for (const workers of [1, 2, 4]) {
    const workerSchema = `${schema}_w${workers}`
    await dropSchema(workerSchema)
    await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(
      PgRepository.layer({ url: Redacted.make(pgUrl), schema: workerSchema })
    ))))
    log(`W6: ${workers} worker process(es), ${size.w6Workers} runs`)
    const children = Array.from({ length: workers }, () =>
      spawn(
        process.execPath,
        ["--import", "tsx", path.join(root, "bench/w6worker.ts"), pgUrl, workerSchema, "20"],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
      ))
    // wait until every worker has started
    await Promise.all(children.map((child) =>
      new Promise<void>((resolve) => {
        let out = ""
        child.stdout!.on("data", (chunk) => {
          out += chunk
          if (out.includes("worker started")) resolve()
        })
      })
    ))
    const t = performance.now()
    await seedCreated(workerSchema, size.w6Workers)
    while ((await activeRuns(workerSchema)) > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const ms = performance.now() - t
    const exits = children.map((child) => new Promise((resolve) => child.once("exit", resolve)))
    for (const child of children) child.kill("SIGTERM")
    await Promise.all(exits)
    await dropSchema(workerSchema)
    const throughput = perSecond(size.w6Workers, ms)
    if (workers === 1) single = throughput
    rows.push({
      workload: "W6",
      figure: `PostgreSQL, ${workers} worker process${workers === 1 ? "" : "es"}, pipelines/s`,
      value: throughput,
      unit: "/s",
      baseline: workers === 1 ? undefined : { label: "1 worker process", value: single },
      better: "higher",
      note: `${size.w6Workers.toLocaleString("en-US")} runs created at once (seeding included), concurrency 20 per worker`
    })
  }
  await dropSchema(schema)
}

// -----------------------------------------------------------------------------
// report
// -----------------------------------------------------------------------------

const main = async () => {
  const started = Date.now()
  if (wanted("W1") || wanted("W2")) await w1w2()
  if (wanted("W3")) await w3()
  if (wanted("W4")) await w4()
  if (wanted("W5")) await w5()
  if (wanted("W6")) await w6()
  if (wanted("W7")) await w7(rows, smoke)
  const info = machine()
  const table = [
    "| workload | figure | value | baseline (same run) | ratio | target | notes |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) => `| ${formatRow(row)} |`)
  ].join("\n")
  const report = [
    `Measured ${info.date}${smoke ? " (smoke run: tiny sizes, figures meaningless)" : ""}, in ${
      ((Date.now() - started) / 1000).toFixed(0)
    } s, with \`npm run bench${only === undefined ? "" : ` -- --only=${only.join(",")}`}\`.`,
    "",
    "| machine | |",
    "| --- | --- |",
    ...Object.entries(info).filter(([key]) => key !== "date").map(([key, value]) => `| ${key} | ${value} |`),
    "",
    table,
    ...(notes.length === 0 ? [] : ["", ...notes])
  ].join("\n")
  if (smoke) {
    console.log(report)
    return
  }
  const docs = path.join(root, "docs/benchmarks.md")
  const existing = fs.existsSync(docs) ? fs.readFileSync(docs, "utf8") : ""
  const begin = "<!-- results:begin -->"
  const end = "<!-- results:end -->"
  const updated = existing.includes(begin) && existing.includes(end)
    ? existing.slice(0, existing.indexOf(begin) + begin.length) + "\n" + report + "\n" + existing.slice(existing.indexOf(end))
    : `# Benchmarks\n\n${begin}\n${report}\n${end}\n`
  fs.writeFileSync(docs, updated)
  console.log(report)
  log(`written to ${path.relative(root, docs)}`)
}

main().then(() => {
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}, (error) => {
  console.error(error)
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(1)
})
