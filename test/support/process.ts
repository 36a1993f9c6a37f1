import { buildSync } from "esbuild"
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(__dirname, "../..")
const bundles = new Map<string, string>()

/** the package's entries, mapped to their source (as vitest.config.ts maps them) */
const entries: Record<string, string> = {
  prorch: path.join(root, "src/index.ts"),
  "prorch/Cli": path.join(root, "src/Cli.ts"),
  "prorch/Test": path.join(root, "src/Test.ts"),
  "prorch/Sqlite": path.join(root, "src/Sqlite.ts"),
  "prorch/Pg": path.join(root, "src/Pg.ts")
}

/**
 * Bundle a TypeScript entry (with the library's source) into one ES module that plain Node starts
 * quickly; packages stay external and load from node_modules.
 */
export const bundle = (file: string): string => {
  let out = bundles.get(file)
  if (out === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prorch-bundle-"))
    out = path.join(dir, `${path.basename(file, ".ts")}.mjs`)
    buildSync({
      entryPoints: [path.join(root, file)],
      outfile: out,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      alias: entries,
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: "error"
    })
    // resolve packages from the repository's node_modules
    fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir")
    bundles.set(file, out)
  }
  return out
}

/** PRORCH_CHILD_PROFILE=<dir> profiles every child process (node --cpu-prof) into that folder */
const childFlags = (): Array<string> =>
  process.env.PRORCH_CHILD_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PRORCH_CHILD_PROFILE}`] : []

/** start a TypeScript file in a new Node process */
export const spawnTs = (file: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): ChildProcess =>
  spawn(process.execPath, [...childFlags(), bundle(file), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })

/** run a TypeScript file to its end; resolves with its exit code and output */
export const runTs = (
  file: string,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawnTs(file, args, env)
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (chunk) => (stdout += chunk))
    child.stderr!.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
