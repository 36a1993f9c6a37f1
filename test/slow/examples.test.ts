/**
 * The examples, run as their READMEs run them: each script in a Node process of its own, on code
 * built once per script (an esbuild bundle of the script with the library's source, as
 * `test/support/process.ts` makes them: no TypeScript compile per process), with its data in a
 * temporary folder (`PRORCH_EXAMPLES_DATA`) so that the working tree is never touched. PostgreSQL:
 * the backup drive in a schema of its own, when a server answers (see test/setup/postgres.ts).
 * One process at a time: on a 2-core machine, examples side by side starve each other.
 */
import Database from "better-sqlite3"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { describe, type ExpectStatic, inject, it } from "vitest"
import { pgSchema, tmpDir } from "../support/backends.js"
import { bundle } from "../support/process.js"

const root = path.resolve(__dirname, "../..")
/**
 * What one example process may take: generous (a quiet machine needs 1 to 3 s), so that only a hung
 * script reaches it; a test gets this for each process it runs, one after the other
 */
const PROCESS_LIMIT = 120_000
const TIMEOUT = PROCESS_LIMIT + 10_000

interface Result {
  readonly code: number | null
  /** stdout and stderr, interleaved */
  readonly output: string
}

/** The environment without the caller's `PRORCH_*` settings (an exported `PRORCH_PG_URL` above all). */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("PRORCH_") && key !== "APPROVAL_DEADLINE")
  )

/** A new, empty data folder for one example run. */
const dataFolder = (): string => fs.mkdtempSync(path.join(tmpDir(), "examples-"))

/** Run an example script to its end with `node`, on its bundle, from the repository root. */
const run = (script: string, args: ReadonlyArray<string>, env: Record<string, string>): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle(script), ...args], {
      cwd: root,
      env: { ...cleanEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: PROCESS_LIMIT,
      killSignal: "SIGKILL"
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) =>
      resolve({
        code,
        // what a failed expectation prints: say that the script hung, and what it had printed
        output: signal === "SIGKILL"
          ? `${script} ${args.join(" ")} was still running after ${PROCESS_LIMIT / 1000} s and was killed; ` +
            `it had printed:\n${output}`
          : output
      }))
  })

/**
 * Run an example on a new data folder: it must exit 0 and name the fresh file it works on (`label`:
 * "database", or "store" for the custom repository), at `relative` in that folder.
 */
const runFresh = async (
  expect: ExpectStatic,
  script: string,
  args: ReadonlyArray<string>,
  label: string,
  relative: ReadonlyArray<string>
): Promise<{ readonly file: string; readonly output: string }> => {
  const data = dataFolder()
  const { code, output } = await run(script, args, { PRORCH_EXAMPLES_DATA: data })
  expect(code, output).toBe(0)
  const file = path.join(data, ...relative)
  expect(output).toContain(`${label}: ${file} (fresh)`)
  return { file, output }
}

/** The status changes printed by the drive loop (examples/shared/drive.ts), as `[step or "run", from, to]`. */
const statusChanges = (output: string): Array<[string, string, string]> =>
  [...output.matchAll(/^(?:start|pass \d+): (\S+) (\w+) -> (\w+)$/gm)].map(([, name, from, to]) => [name, from, to])

const backupChanges = [
  ["BackupGeneration", "created", "finished"],
  ["BackupTransfer", "created", "pending"],
  ["run", "created", "pending"],
  ["BackupTransfer", "pending", "finished"],
  ["ProcessCompletionNotification", "created", "finished"],
  ["run", "pending", "finished"]
]

/** `npm run example`'s script: `tsx <file>`. */
const exampleScript = (): string => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: { example: string } }
  const [runner, file, ...rest] = pkg.scripts.example.split(" ")
  if (runner !== "tsx" || file === undefined || rest.length > 0) throw new Error(`unexpected: ${pkg.scripts.example}`)
  return file
}

describe("examples", () => {
  it("backup drive (`npm run example`) on SQLite: every status change printed, the run finished", async ({ expect }) => {
    const data = dataFolder()
    const file = path.join(data, "backup", "drive.db")
    // a stale file where the fresh one goes: the script must delete it
    fs.mkdirSync(path.dirname(file))
    fs.writeFileSync(file, "not a database")
    const { code, output } = await run(exampleScript(), [], { PRORCH_EXAMPLES_DATA: data })
    expect(code, output).toBe(0)
    expect(output).toContain(`database: ${file} (fresh)`)
    expect(statusChanges(output)).toEqual(backupChanges)
    expect(output).toMatch(/^run \S+ \(BackupAutomationPipeline\): finished$/m)
    expect(output).toMatch(/^ {2}BackupTransfer +finished +output \{"location":"s3:\/\/secure-backups\/backup-\S+\.tar\.gz"\}$/m)
    expect(output).toMatch(/history \(15 events\)/)
    const db = new Database(file, { readonly: true })
    const runs = db.prepare("SELECT status FROM prorch_pipelines").all()
    db.close()
    expect(runs).toEqual([{ status: "finished" }])
  }, TIMEOUT)

  it("backup step by step on PRORCH_DB: create, then run-pending twice", async ({ expect }) => {
    const env = { PRORCH_DB: path.join(dataFolder(), "backups.db") }
    const created = await run("examples/backup/create.ts", [], env)
    expect(created.code, created.output).toBe(0)
    expect(created.output).toContain(`database: ${env.PRORCH_DB}\n`)
    expect(created.output).toMatch(/: pending, current step BackupTransfer$/m)
    const first = await run("examples/backup/run-pending.ts", [], env)
    expect(first.code, first.output).toBe(0)
    expect(first.output).toContain("pass: 1 run(s) ticked: 0 finished, 1 waiting")
    expect(first.output).toContain("runs still active: 1")
    const second = await run("examples/backup/run-pending.ts", [], env)
    expect(second.code, second.output).toBe(0)
    expect(second.output).toContain("pass: 1 run(s) ticked: 1 finished, 0 waiting")
    expect(second.output).toContain("runs still active: 0")
  }, 3 * TIMEOUT)

  it("backup cli: lists and shows the run of create.ts, and fails cleanly on a bad id or argument", async ({ expect }) => {
    const env = { PRORCH_DB: path.join(dataFolder(), "backups.db") }
    const created = await run("examples/backup/create.ts", [], env)
    expect(created.code, created.output).toBe(0)
    const runId = /^run (\S+) /m.exec(created.output)![1]

    const list = await run("examples/backup/cli.ts", ["list", "--status", "pending"], env)
    expect(list.code, list.output).toBe(0)
    expect(list.output.trim().split("\n")[1]).toMatch(new RegExp(`^${runId}  BackupAutomationPipeline  pending  BackupTransfer  `))
    const show = await run("examples/backup/cli.ts", ["show", runId], env)
    expect(show.code, show.output).toBe(0)
    expect(show.output).toMatch(/^2 {2}BackupTransfer +pending +1 +\{"jobId":"transfer-\S+"\} +- +-$/m)

    const missing = await run("examples/backup/cli.ts", ["show", "no-such-run"], env)
    expect(missing.code).toBe(1)
    // the message once, without a stack trace
    expect(missing.output.trim()).toBe("error: no run with id no-such-run")
    const bad = await run("examples/backup/cli.ts", ["list", "--status", "asleep"], env)
    expect(bad.code).toBe(1)
    expect(bad.output).toContain("Expected one of the following cases: created, pending, finished, failed, cancelled")
    expect(bad.output).not.toContain("_tag")
  }, 5 * TIMEOUT)

  it("backup worker-demo: a worker finishes 3 runs, then stops", async ({ expect }) => {
    const { output } = await runFresh(expect, "examples/backup/worker-demo.ts", [], "database", ["backup", "worker-demo.db"])
    expect(output).toContain("all 3 runs have ended:")
    expect(output.match(/^ {2}\S+ {2}finished in \d+ ms$/gm)).toHaveLength(3)
    expect(output).toContain("worker: stopped")
  }, TIMEOUT)

  it("email drive: the typed input reaches every step, SendEmail sends in batches", async ({ expect }) => {
    const { output } = await runFresh(expect, "examples/email/drive.ts", ["autumn-launch"], "database", ["email", "drive.db"])
    expect(statusChanges(output)).toEqual([
      ["GenerateAudience", "created", "finished"],
      ["GenerateCache", "created", "finished"],
      ["SendEmail", "created", "pending"],
      ["run", "created", "pending"],
      ["SendEmail", "pending", "finished"],
      ["run", "pending", "finished"]
    ])
    expect(output.match(/\[SendEmail\] AfterContinue: sent .*, \d\/5\.$/gm)).toHaveLength(3)
    expect(output).toMatch(/^ {2}SendEmail +finished +output \{"sent":5,"campaign":"autumn-launch"\}$/m)
  }, TIMEOUT)

  it("custom-repository: the backup pipeline finishes on the JSON file store", async ({ expect }) => {
    const { file, output } = await runFresh(expect, "examples/custom-repository/main.ts", [], "store", [
      "custom-repository",
      "database.json"
    ])
    expect(statusChanges(output)).toEqual(backupChanges)
    expect(output).toMatch(/Final status of run \S+: finished\./)
    const document = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, Array<Record<string, unknown>>>
    expect(document.pipelines.map((row) => row.status)).toEqual(["finished"])
    expect(document.pipeline_steps.map((row) => row.status)).toEqual(["finished", "finished", "finished"])
  }, TIMEOUT)

  for (
    const [args, status, detail] of [
      [[], "finished", /^ {2}Reimburse +finished +output \{"paymentId":"PAY-/m],
      [["--reject"], "failed", /^ {2}AwaitApproval +failed +error rejected by carla/m],
      [["--no-decision"], "cancelled", /^ {2}AwaitApproval +cancelled +error no decision within 3s$/m]
    ] as const
  ) {
    it(`approval demo ${args.join(" ") || "(approved)"}: the run ends ${status}`, async ({ expect }) => {
      const { output } = await runFresh(expect, "examples/approval/demo.ts", args, "database", ["approval", "demo.db"])
      expect(output).toContain(`run ended: ${status}`)
      expect(output).toMatch(detail)
      if (args.length === 0 || args[0] === "--reject") expect(output).toMatch(/ signalled AwaitApproval /)
      expect(output).toContain("worker: stopped")
    }, TIMEOUT)
  }

  it("polling demo: a durable timer and a retried 503, then the run finishes", async ({ expect }) => {
    const { output } = await runFresh(expect, "examples/polling/demo.ts", [], "database", ["polling", "demo.db"])
    expect(output).toContain("status: 503 on poll 2")
    expect(output).toMatch(/ retried RunExport \(attempt 1\) .*export service unavailable \(503\)/)
    expect(output).toMatch(/ waited RunExport /)
    expect(output).toContain("run ended: finished")
    expect(output).toMatch(/^ {2}PublishLink +finished/m)
  }, TIMEOUT)

  it("onboarding demo: a parallel group's members progress on their own, a conditional member is skipped or runs", async ({ expect }) => {
    const { output } = await runFresh(expect, "examples/onboarding/demo.ts", [], "database", ["onboarding", "demo.db"])
    expect(output).toContain("run ended: finished (both)")
    expect(output).toContain("subgraph g1[\"parallel\"]")
    expect(output).toMatch(/ skipped NotifySales /)
    expect(output).toMatch(/^ {2}NotifySales +finished/m)
    // the bucket is ready at the third check, after two durable waits
    expect(output).toContain("storage: check 3: ready")
    expect(output).toMatch(/, bucket s3:\/\/acct-\w+, sales told/)
  }, TIMEOUT)

  const url = inject("pgUrl")
  if (url === null) {
    it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {})
  } else {
    it("backup drive on PostgreSQL: a fresh schema of its own, printed without the password", async ({ expect }) => {
      const schema = pgSchema(inject("pgRunId"))
      const drive = `${schema}_backup_drive`
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        // something stale in the drive's schema: the script must drop it
        await client.query(`CREATE SCHEMA "${drive}"`)
        await client.query(`CREATE TABLE "${drive}".stale (x int)`)
        const { code, output } = await run(exampleScript(), [], { PRORCH_PG_URL: url, PRORCH_PG_SCHEMA: schema })
        expect(code, output).toBe(0)
        expect(output).toMatch(new RegExp(`^database: PostgreSQL postgres(ql)?://\\S+, schema ${drive} \\(fresh\\)$`, "m"))
        const password = new URL(url).password
        if (password !== "") expect(output).not.toContain(password)
        expect(output).not.toContain(".db")
        expect(statusChanges(output)).toEqual(backupChanges)
        const runs = await client.query(`SELECT status FROM "${drive}".pipelines`)
        expect(runs.rows).toEqual([{ status: "finished" }])
        const left = await client.query(`SELECT to_regclass($1) AS stale`, [`"${drive}".stale`])
        expect(left.rows).toEqual([{ stale: null }])
        // the schema of the other scripts (PRORCH_PG_SCHEMA) is left alone
        const shared = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])
        expect(shared.rowCount).toBe(0)
      } finally {
        await client.query(`DROP SCHEMA IF EXISTS "${drive}" CASCADE`)
        await client.end()
      }
    }, TIMEOUT)
  }
})
