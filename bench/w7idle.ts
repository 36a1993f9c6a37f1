/**
 * W7: what an idle worker weighs, and what each entry costs to import. On the built package (dist/,
 * resolved through the package's own exports, as an installed prorch is): an idle SQLite worker
 * (bench/idleWorker.mjs, which imports Effect by module paths as a user's script would) beside a
 * bare Node process, both sampled at the same moments; and each entry's cold import time beside
 * `effect/Effect`'s, medians of fresh processes.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { log, median, removeDatabase, root, type Row, tmp } from "./lib.js"

const rssOf = (pid: number): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** start a process, wait until it prints "ready", sample its RSS at each of `at` (ms after ready) */
const sampled = async (args: ReadonlyArray<string>, at: ReadonlyArray<number>): Promise<Array<number>> => {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
  try {
    await new Promise<void>((resolve, reject) => {
      let out = ""
      child.stdout.on("data", (chunk) => {
        out += chunk
        if (out.includes("ready")) resolve()
      })
      child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code} before it was ready`)))
    })
    const samples: Array<number> = []
    let elapsed = 0
    for (const t of at) {
      await sleep(t - elapsed)
      elapsed = t
      samples.push(rssOf(child.pid!))
    }
    return samples
  } finally {
    child.kill("SIGKILL")
  }
}

const importMs = (specifier: string): number => {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t)`
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" })
  if (result.status !== 0) throw new Error(`import(${specifier}) failed: ${result.stderr}`)
  return Number(result.stdout.trim())
}

export const w7 = async (rows: Array<Row>, smoke: boolean): Promise<void> => {
  if (!fs.existsSync(path.join(root, "dist/index.js")) || !fs.existsSync(path.join(root, "dist/Sqlite.js"))) {
    log("W7: building dist/ first")
    const built = spawnSync("npx", ["tsup"], { cwd: root, stdio: "inherit" })
    if (built.status !== 0) throw new Error("W7: the build failed")
  }
  log("W7: an idle SQLite worker beside a bare Node process")
  // right after start, and once V8 has shrunk its heap after a while idle (about 30 s)
  const at = smoke ? [500, 1_000] : [3_000, 40_000]
  const file = path.join(tmp(), "w7-idle.db")
  removeDatabase(file)
  const [worker, bare] = await Promise.all([
    sampled([path.join(root, "bench/idleWorker.mjs"), file], at),
    sampled(["-e", "console.log('ready'); setInterval(() => {}, 1000)"], at)
  ])
  at.forEach((t, i) => {
    rows.push({
      workload: "W7",
      figure: `idle SQLite worker, RSS ${t / 1000} s after it started polling`,
      value: worker[i],
      unit: "MiB",
      baseline: { label: "bare node", value: bare[i] },
      better: "lower",
      note: `target ≤ 80 MiB: ${worker[i] <= 80 ? "met" : "not met"}`
    })
  })
  log("W7: cold import of each entry")
  const reps = smoke ? 1 : 7
  const time = (specifier: string) => median(Array.from({ length: reps }, () => importMs(specifier)))
  const base = time("effect/Effect")
  for (const entry of ["prorch", "prorch/Sqlite", "prorch/Pg", "prorch/Cli", "prorch/Test", "effect"]) {
    rows.push({
      workload: "W7",
      figure: `import("${entry}"), cold, ms`,
      value: time(entry),
      unit: "ms",
      baseline: { label: 'import("effect/Effect")', value: base },
      better: "lower"
    })
  }
}
