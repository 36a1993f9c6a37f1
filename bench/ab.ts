/**
 * W1 on a SQLite file for two builds of the library in one process, against the floor: how the
 * A/B figures of docs/benchmarks.md are measured. Build each version with `npm run build` and copy
 * its `dist` folder (the entry and the chunks it imports) somewhere under the repository (its
 * imports resolve from `node_modules`), for instance `bench/.builds/a/` and `bench/.builds/b/`; then
 *
 *   npx tsx bench/ab.ts bench/.builds/a/index.js bench/.builds/b/index.js [chunks] [chunk size]
 *
 * Each build and the floor warm up with 1,000 runs, then run `chunks` chunks (default 12) of
 * `chunk size` runs (default 250) each, the three interleaved in rotating order, each on a file of
 * its own. Prints each one's pipelines/s, its ratio to the floor, and B against A.
 * `PRORCH_AB_SYNCHRONOUS=OFF` compares the runtimes alone (the default is `FULL`, the library's).
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { sqliteFloor } from "./floors.js"
import { removeDatabase, tmp } from "./lib.js"

const [a, b, chunksArg, sizeArg] = process.argv.slice(2)
const chunks = Number(chunksArg ?? 12)
const size = Number(sizeArg ?? 250)
const synchronous = (process.env.PRORCH_AB_SYNCHRONOUS ?? "FULL") as "FULL" | "OFF"

/** a build's W1: its own pipeline (made with its own constructors) on a fresh file */
const load = async (build: string, name: string) => {
  const core = await import(pathToFileURL(path.resolve(build)).href)
  // builds since the split into entries have the SQLite repository in Sqlite.js, beside index.js
  const m = core.SqliteRepository !== undefined
    ? core
    : { ...core, ...(await import(pathToFileURL(path.join(path.dirname(path.resolve(build)), "Sqlite.js")).href)) }
  const instant = (step: string) =>
    m.step(step, { onStart: () => Effect.void, onContinue: () => Effect.succeed(m.Step.finish()) })
  const w1 = m.pipeline("W1", instant("A"), instant("B"), instant("C"))
  const file = path.join(tmp(), `ab-${name}.db`)
  removeDatabase(file)
  const runtime = ManagedRuntime.make(
    m.Orchestrator.layer([w1]).pipe(Layer.provide(m.SqliteRepository.layer({ filename: file, synchronous })))
  )
  return {
    m,
    run: (n: number) =>
      runtime.runPromise(Effect.forEach(Array.from({ length: n }), () => m.Orchestrator.start(w1), { discard: true }))
  }
}

const main = async () => {
  if (a === undefined || b === undefined) throw new Error("usage: npx tsx bench/ab.ts <build A> <build B> [chunks] [chunk size]")
  const A = await load(a, "a")
  const B = await load(b, "b")
  // the floor writes the library's tables: build A's migrations make them
  const floorFile = path.join(tmp(), "ab-floor.db")
  removeDatabase(floorFile)
  await Effect.runPromise(Effect.scoped(Effect.asVoid(Layer.build(A.m.SqliteRepository.layer({ filename: floorFile })))))
  const floor = sqliteFloor(floorFile, synchronous)
  const subjects: Record<string, (n: number) => Promise<unknown>> = {
    A: A.run,
    B: B.run,
    floor: async (n) => {
      for (let i = 0; i < n; i++) floor.one()
    }
  }
  const ms: Record<string, number> = { A: 0, B: 0, floor: 0 }
  for (const run of Object.values(subjects)) await run(1_000)
  const orders = [["A", "B", "floor"], ["B", "floor", "A"], ["floor", "A", "B"], ["A", "floor", "B"], ["B", "A", "floor"], [
    "floor",
    "B",
    "A"
  ]]
  for (let chunk = 0; chunk < chunks; chunk++) {
    for (const name of orders[chunk % orders.length]) {
      const t = performance.now()
      await subjects[name](size)
      ms[name] += performance.now() - t
    }
  }
  floor.close()
  const rate = (name: string) => (chunks * size) / ms[name] * 1000
  console.log(
    `synchronous ${synchronous}: A ${rate("A").toFixed(0)}/s (${(rate("A") / rate("floor")).toFixed(3)}× the floor), ` +
      `B ${rate("B").toFixed(0)}/s (${(rate("B") / rate("floor")).toFixed(3)}×), floor ${rate("floor").toFixed(0)}/s; ` +
      `B/A ${(rate("B") / rate("A")).toFixed(3)}`
  )
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
