/**
 * Helpers of the benchmark suite: timing, percentiles, the machine, the report.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** the percentile `p` (0..100) of some numbers */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = values.slice().sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}

export const median = (values: ReadonlyArray<number>): number => percentile(values, 50)

/** a figure of the report: a measured value next to its baseline from the same run */
export interface Row {
  readonly workload: string
  readonly figure: string
  readonly value: number
  readonly unit: string
  readonly baseline?: { readonly label: string; readonly value: number } | undefined
  /** how the ratio reads: "higher" (throughput: value / baseline) or "lower" (cost: value / baseline) */
  readonly better?: "higher" | "lower" | undefined
  readonly target?: { readonly ratio: number; readonly text: string } | undefined
  readonly note?: string | undefined
}

const ratioOf = (row: Row): number | undefined =>
  row.baseline === undefined ? undefined : row.value / row.baseline.value

const meets = (row: Row): boolean | undefined => {
  const ratio = ratioOf(row)
  if (ratio === undefined || row.target === undefined) return undefined
  return row.better === "lower" ? ratio <= row.target.ratio : ratio >= row.target.ratio
}

const fmt = (value: number): string =>
  Number.isNaN(value)
    ? "n/a"
    : value >= 100
    ? Math.round(value).toLocaleString("en-US")
    : value >= 10
    ? value.toFixed(1)
    : value.toFixed(2)

export const formatRow = (row: Row): string => {
  const ratio = ratioOf(row)
  const ok = meets(row)
  return [
    row.workload,
    row.figure,
    `${fmt(row.value)} ${row.unit}`,
    row.baseline === undefined ? "" : `${fmt(row.baseline.value)} ${row.unit} (${row.baseline.label})`,
    ratio === undefined ? "" : `${ratio.toFixed(2)}×`,
    row.target === undefined ? "" : `${row.target.text}${ok === undefined ? "" : ok ? " ✅" : " ❌"}`,
    row.note ?? ""
  ].join(" | ")
}

const version = (pkg: string): string => {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, "node_modules", pkg, "package.json"), "utf8")).version
  } catch {
    return "?"
  }
}

/** the machine, Node and package versions */
export const machine = (): Record<string, string> => {
  const cpus = os.cpus()
  return {
    date: new Date().toISOString(),
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    cpu: `${cpus[0]?.model ?? "?"} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    prorch: readOwnVersion(),
    effect: version("effect"),
    "@effect/sql": version("@effect/sql"),
    "@effect/sql-sqlite-node": version("@effect/sql-sqlite-node"),
    "@effect/sql-pg": version("@effect/sql-pg"),
    "better-sqlite3": version("better-sqlite3"),
    pg: version("pg")
  }
}

const readOwnVersion = (): string => JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version

/** a temporary directory for the suite's databases */
export const tmp = (): string => {
  const dir = path.join(os.tmpdir(), `prorch-bench-${process.pid}`)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

export const removeDatabase = (file: string): void => {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) fs.rmSync(file + suffix, { force: true })
}

export const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}
