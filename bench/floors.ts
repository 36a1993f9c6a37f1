/**
 * The floors: the same writes as the library's W1 run, by hand, in a plain loop, on the library's
 * own tables (made by its migrations) and with the same journal mode and synchronous setting.
 *
 * Per run: one transaction creating the run and its 3 step rows, then for each step one commit for
 * its start (the step pending, the run pending on it) and one for its finish (the step finished,
 * and the run finished with the last step): 7 commits. No history is written (the library writes
 * history events in the same commits, so the floor is below what the library can do).
 */
import Database from "better-sqlite3"
import * as fs from "node:fs"
import pg from "pg"
import { uuidv7 } from "../src/internal/ids.js"
import { median } from "./lib.js"

const steps = ["A", "B", "C"]

/**
 * The SQLite floor on a file whose schema the library created. `walAutocheckpoint: 0` keeps every
 * page it writes in the WAL (for `walWrites`).
 */
export const sqliteFloor = (file: string, synchronous: "FULL" | "NORMAL" | "OFF" = "FULL", walAutocheckpoint?: number) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${synchronous}`)
  if (walAutocheckpoint !== undefined) db.pragma(`wal_autocheckpoint = ${walAutocheckpoint}`)
  // the tables may be a build's from before the runs' `version` became `revision` (bench/ab.ts)
  const revision = (db.prepare("PRAGMA table_info(prorch_pipelines)").all() as Array<{ name: string }>)
    .some((column) => column.name === "revision") ? "revision" : "version"
  const insertRun = db.prepare(
    `INSERT INTO prorch_pipelines (uuid, name, status, metadata, input, idempotency_key, ${revision}, wake_at, lease_owner,
     lease_expires_at, pending_signals, error, created_at, updated_at, ended_at, events)
     VALUES (?, 'Floor', 'created', '{"current_step":null}', NULL, NULL, 1, ?, NULL, NULL, 0, NULL, ?, ?, NULL, 0)`
  )
  const insertStep = db.prepare(
    `INSERT INTO prorch_pipeline_steps (uuid, pipeline_uuid, position, name, status, metadata, attempt, state, output,
     error, created_at, updated_at, started_at, ended_at) VALUES (?, ?, ?, ?, 'created', '{}', 1, NULL, NULL, NULL, ?, ?,
     NULL, NULL)`
  )
  const startStep = db.prepare(
    `UPDATE prorch_pipeline_steps SET status = 'pending', updated_at = ?, started_at = ? WHERE pipeline_uuid = ? AND position = ?`
  )
  const finishStep = db.prepare(
    `UPDATE prorch_pipeline_steps SET status = 'finished', updated_at = ?, ended_at = ? WHERE pipeline_uuid = ? AND position = ?`
  )
  const runPending = db.prepare(
    `UPDATE prorch_pipelines SET status = 'pending', metadata = ?, ${revision} = ${revision} + 1, updated_at = ? WHERE uuid = ?`
  )
  const runFinished = db.prepare(
    `UPDATE prorch_pipelines SET status = 'finished', ${revision} = ${revision} + 1, updated_at = ?, ended_at = ? WHERE uuid = ?`
  )
  const begin = db.prepare("BEGIN IMMEDIATE")
  const commit = db.prepare("COMMIT")
  const one = (): void => {
    const now = Date.now()
    const run = uuidv7()
    begin.run()
    insertRun.run(run, now, now, now)
    steps.forEach((name, i) => insertStep.run(uuidv7(), run, i, name, now, now))
    commit.run()
    steps.forEach((name, i) => {
      begin.run()
      startStep.run(Date.now(), Date.now(), run, i)
      runPending.run(`{"current_step":"${name}"}`, Date.now(), run)
      commit.run()
      begin.run()
      finishStep.run(Date.now(), Date.now(), run, i)
      if (i === steps.length - 1) runFinished.run(Date.now(), Date.now(), run)
      commit.run()
    })
  }
  return { one, close: () => db.close() }
}

/** the PostgreSQL floor: the same 7 commits with `pg`, on the library's tables in `schema` */
export const pgFloor = async (url: string, schema: string, connections: number) => {
  const pool = new pg.Pool({ connectionString: url, max: connections })
  const t = (table: string) => `"${schema}"."${table}"`
  const tx = async (client: pg.PoolClient, statements: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>) => {
    await client.query("BEGIN")
    for (const [sql, params] of statements) await client.query(sql, params as Array<unknown>)
    await client.query("COMMIT")
  }
  const one = async (): Promise<void> => {
    const client = await pool.connect()
    try {
      const now = Date.now()
      const run = uuidv7()
      await tx(client, [
        [
          `INSERT INTO ${t("pipelines")} (uuid, name, status, metadata, input, idempotency_key, revision, wake_at,
           lease_owner, lease_expires_at, pending_signals, error, created_at, updated_at, ended_at, events)
           VALUES ($1, 'Floor', 'created', '{"current_step":null}', NULL, NULL, 1, $2, NULL, NULL, 0, NULL, $3, $4, NULL, 0)`,
          [run, now, now, now]
        ],
        [
          `INSERT INTO ${t("pipeline_steps")} (uuid, pipeline_uuid, position, name, status, metadata, attempt, state,
           output, error, created_at, updated_at, started_at, ended_at) VALUES
           ($1, $4, 0, 'A', 'created', '{}', 1, NULL, NULL, NULL, $5, $5, NULL, NULL),
           ($2, $4, 1, 'B', 'created', '{}', 1, NULL, NULL, NULL, $5, $5, NULL, NULL),
           ($3, $4, 2, 'C', 'created', '{}', 1, NULL, NULL, NULL, $5, $5, NULL, NULL)`,
          [uuidv7(), uuidv7(), uuidv7(), run, now]
        ]
      ])
      for (let i = 0; i < steps.length; i++) {
        await tx(client, [
          [
            `UPDATE ${t("pipeline_steps")} SET status = 'pending', updated_at = $1, started_at = $1
             WHERE pipeline_uuid = $2 AND position = $3`,
            [Date.now(), run, i]
          ],
          [
            `UPDATE ${t("pipelines")} SET status = 'pending', metadata = $1, revision = revision + 1, updated_at = $2
             WHERE uuid = $3`,
            [`{"current_step":"${steps[i]}"}`, Date.now(), run]
          ]
        ])
        const finish: Array<readonly [string, ReadonlyArray<unknown>]> = [[
          `UPDATE ${t("pipeline_steps")} SET status = 'finished', updated_at = $1, ended_at = $1
           WHERE pipeline_uuid = $2 AND position = $3`,
          [Date.now(), run, i]
        ]]
        if (i === steps.length - 1) {
          finish.push([
            `UPDATE ${t("pipelines")} SET status = 'finished', revision = revision + 1, updated_at = $1, ended_at = $1
             WHERE uuid = $2`,
            [Date.now(), run]
          ])
        }
        await tx(client, finish)
      }
    } finally {
      client.release()
    }
  }
  return { one, close: () => pool.end() }
}

/**
 * Wrap better-sqlite3's statement methods (`run`, `all`, `get`), which `@effect/sql-sqlite-node`
 * and the floors call, with `around`; returns the function that puts the originals back.
 */
const patchStatements = (
  around: (source: string, args: ReadonlyArray<unknown>, call: () => unknown) => unknown
): () => void => {
  const probe = new Database(":memory:")
  const proto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as Record<"run" | "all" | "get", (...args: Array<unknown>) => unknown>
  probe.close()
  const original = { run: proto.run, all: proto.all, get: proto.get }
  for (const method of ["run", "all", "get"] as const) {
    proto[method] = function(this: { source: string }, ...args: Array<unknown>) {
      return around(this.source, args, () => original[method].apply(this, args))
    }
  }
  return () => {
    Object.assign(proto, original)
  }
}

/**
 * A diagnostic beside the floor: the statements the library executed, recorded at the driver
 * (better-sqlite3, under `@effect/sql-sqlite-node`) while it ran, then replayed in a plain loop on
 * a fresh file with the library's settings. It is what the library's storage costs without the
 * runtime around it (the Effects, the orchestrator): the floor against the same writes by hand, the
 * replay against the library's own.
 */
export const recordStatements = () => {
  const log: Array<readonly [string, ReadonlyArray<unknown>]> = []
  const unpatch = patchStatements((source, args, call) => {
    log.push([source, args])
    return call()
  })
  return {
    /** the statements so far, in order */
    statements: log as ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>,
    /** stop recording: the statements, in order */
    stop: () => {
      unpatch()
      return log
    }
  }
}

/**
 * A diagnostic of where time goes: the time spent inside COMMIT statements (their page writes and
 * fsync) and inside the other statements, measured at the driver, while `work` runs; the rest of
 * `work`'s time is spent outside SQLite (for the library: its runtime).
 */
export const timeStatements = async (work: () => Promise<unknown>) => {
  let commit = 0
  let other = 0
  const unpatch = patchStatements((source, _args, call) => {
    const t = performance.now()
    try {
      return call()
    } finally {
      if (source === "COMMIT") commit += performance.now() - t
      else other += performance.now() - t
    }
  })
  const t = performance.now()
  try {
    await work()
  } finally {
    unpatch()
  }
  const total = performance.now() - t
  return { total, commit, other, outside: total - commit - other }
}

/** replay recorded statements run by run (a run starts at the transaction that inserts it) */
export const sqliteReplay = (
  file: string,
  log: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>,
  synchronous: "FULL" | "NORMAL" = "FULL",
  walAutocheckpoint?: number
) => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${synchronous}`)
  db.pragma("cache_size = -8192")
  if (walAutocheckpoint !== undefined) db.pragma(`wal_autocheckpoint = ${walAutocheckpoint}`)
  const statements = new Map<string, Database.Statement>()
  const starts: Array<number> = []
  log.forEach(([sql], i) => {
    if (/^INSERT INTO "?prorch_pipelines"? /.test(sql) && i > 0 && log[i - 1][0].startsWith("BEGIN")) starts.push(i - 1)
  })
  let next = 0
  const runs = (n: number): void => {
    if (next + n > starts.length) throw new Error(`the replay has ${starts.length - next} runs left, ${n} wanted`)
    const end = next + n < starts.length ? starts[next + n] : log.length
    for (let i = starts[next]; i < end; i++) {
      const [sql, params] = log[i]
      let statement = statements.get(sql)
      if (statement === undefined) {
        statement = db.prepare(sql)
        statements.set(sql, statement)
      }
      if (statement.reader) statement.all(...params)
      else statement.run(...params)
    }
    next += n
  }
  return { runs, recorded: starts.length, close: () => db.close() }
}

/**
 * What the commits on a file wrote, read from its WAL (of a connection that did not checkpoint):
 * the pages (WAL frames), the commits (frames that end a transaction), and the number of the page
 * each frame wrote, in order. A commit costs an fsync and each page a write, with
 * `synchronous = FULL`.
 */
export const walWrites = (
  file: string
): { readonly pages: number; readonly commits: number; readonly pageNumbers: ReadonlyArray<number> } => {
  const pageNumbers: Array<number> = []
  if (!fs.existsSync(`${file}-wal`)) return { pages: 0, commits: 0, pageNumbers }
  const wal = fs.readFileSync(`${file}-wal`)
  if (wal.length < 32) return { pages: 0, commits: 0, pageNumbers }
  const pageSize = wal.readUInt32BE(8)
  const salt = [wal.readUInt32BE(16), wal.readUInt32BE(20)]
  let commits = 0
  // frames of this WAL generation carry its salts; what follows them is left over from an earlier one
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt[0] || wal.readUInt32BE(at + 12) !== salt[1]) break
    pageNumbers.push(wal.readUInt32BE(at))
    if (wal.readUInt32BE(at + 4) !== 0) commits++
  }
  return { pages: pageNumbers.length, commits, pageNumbers }
}

/**
 * Which B-tree (table or index, without the `prorch_` prefix) each of `pageNumbers` belongs to, by
 * SQLite's `dbstat` table (read while the WAL holds the pages); page 1 is the file's header. The
 * count of each, per run.
 */
export const pagesByTree = (
  file: string,
  pageNumbers: ReadonlyArray<number>,
  runs: number
): ReadonlyArray<readonly [string, number]> => {
  const db = new Database(file, { readonly: true })
  const owner = new Map<number, string>()
  try {
    for (const row of db.prepare("SELECT name, pageno FROM dbstat").all() as Array<{ name: string; pageno: number }>) {
      owner.set(row.pageno, row.name.replace(/^prorch_/, ""))
    }
  } finally {
    db.close()
  }
  const counts = new Map<string, number>()
  for (const page of pageNumbers) {
    const tree = page === 1 ? "header" : owner.get(page) ?? "other"
    counts.set(tree, (counts.get(tree) ?? 0) + 1)
  }
  return [...counts].map(([tree, n]) => [tree, n / runs] as const).sort((a, b) => b[1] - a[1])
}

/**
 * What a commit costs on this disk with `synchronous = FULL`: the COMMIT of transactions that
 * changed 1 and 16 pages (random rows of a page each), the median of a few rounds, fitted as a
 * fixed cost (the fsync) plus a cost per page written, in microseconds.
 */
export const commitCost = (file: string): { readonly fixed: number; readonly perPage: number } => {
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = FULL")
  db.exec("CREATE TABLE IF NOT EXISTS pages (id INTEGER PRIMARY KEY, v BLOB)")
  const rows = 2_000
  db.transaction(() => {
    const insert = db.prepare("INSERT INTO pages (id, v) VALUES (?, randomblob(3000))")
    for (let i = 0; i < rows; i++) insert.run(i)
  })()
  // new random content: SQLite skips writing a row that is byte for byte the same
  const update = db.prepare("UPDATE pages SET v = randomblob(3000) WHERE id = ?")
  const begin = db.prepare("BEGIN IMMEDIATE")
  const commit = db.prepare("COMMIT")
  /** the COMMIT alone (its writes and its fsync), after a transaction that changed `pages` pages */
  const time = (pages: number, n: number) => {
    let total = 0
    for (let i = 0; i < n; i++) {
      begin.run()
      for (let j = 0; j < pages; j++) update.run(Math.floor(Math.random() * rows))
      const t = performance.now()
      commit.run()
      total += performance.now() - t
    }
    return (total / n) * 1000
  }
  const ones: Array<number> = []
  const sixteens: Array<number> = []
  for (let round = 0; round < 5; round++) {
    ones.push(time(1, 100))
    sixteens.push(time(16, 100))
  }
  db.close()
  const perPage = (median(sixteens) - median(ones)) / 15
  return { fixed: median(ones) - perPage, perPage }
}
