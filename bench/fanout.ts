/**
 * W8 and W9, control flow (issue 16): what a member of a `forEach` costs against a step of a
 * sequence, the heap while a fan-out of 10,000 members runs, and what a `child` step costs against
 * the same steps inline.
 *
 *   npx tsx bench/fanout.ts [rounds] [runs per round]
 *
 * - Members against steps: a pipeline of one `forEach` of 100 members that finish at once, against
 *   a pipeline of 100 sequential steps that finish at once, each run by `Orchestrator.start` (and
 *   passes until it ends), on the memory layer and on a SQLite file (`synchronous = FULL`). The two
 *   are interleaved round by round (default 6 rounds of 10 runs each); printed: the median time per
 *   member and per step, and their ratio (target ≤ 1: a member costs at most what a step costs).
 * - W9, children: a parent whose one step is a `child` of a 3-step pipeline, against a pipeline of
 *   the same 3 steps inline, each run to its end by `start` and passes, interleaved as above, on the
 *   memory layer and on a SQLite file (target ≤ 2×).
 * - Heap: one fan-out of 10,000 members on the memory layer, the heap sampled by the members'
 *   handlers (every 100th call) while it runs, against the heap before it starts (after a forced
 *   GC: run with `node --expose-gc --import tsx bench/fanout.ts`).
 */
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import * as path from "node:path"
import { child, forEach, Orchestrator, pipeline, Repository, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { median, removeDatabase, tmp } from "./lib.js"

const rounds = Number(process.argv[2] ?? 6)
const perRound = Number(process.argv[3] ?? 10)
const width = 100

const members = pipeline(
  "Members",
  forEach("Each", {
    item: Schema.Number,
    items: () => Array.from({ length: width }, (_, i) => i),
    step: { onContinue: () => Effect.succeed(Step.finish()) }
  })
)
const instant = (name: string) => step(name, { onContinue: () => Effect.succeed(Step.finish()) })
const sequence = pipeline(
  "Sequence",
  ...(Array.from({ length: width }, (_, i) => instant(`S${i}`)) as [ReturnType<typeof instant>])
)

const three = [instant("A"), instant("B"), instant("C")] as const
const inline = pipeline("Inline", ...three)
const inner = pipeline("Inner", ...three)
const parent = pipeline("Parent", child("RunInner", inner))

const runToEnd = (p: { readonly name: string }) =>
  Effect.gen(function*() {
    const id = yield* Orchestrator.start(p as typeof members)
    let view = yield* Orchestrator.get(id)
    while (view.status === "pending" || view.status === "created") {
      yield* Orchestrator.executePending()
      view = yield* Orchestrator.get(id)
    }
    if (view.status !== "finished") throw new Error(`${p.name} ended ${view.status}`)
  })

/**
 * The medians of `a` and `b` (each a round's time per unit), after a warm-up of each, over
 * `rounds` rounds in alternating order, so that a slow moment hurts both alike
 */
const interleaved = async (a: () => Promise<number>, b: () => Promise<number>) => {
  await a()
  await b()
  const as: Array<number> = []
  const bs: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      as.push(await a())
      bs.push(await b())
    } else {
      bs.push(await b())
      as.push(await a())
    }
  }
  return { a: median(as), b: median(bs) }
}

/** a round: `runs` runs of `p`, each to its end, on `runtime`; milliseconds per `per` */
const round = (
  runtime: ManagedRuntime.ManagedRuntime<Orchestrator.Orchestrator, unknown>,
  p: { readonly name: string },
  runs: number,
  per: number
) =>
async () => {
  const t0 = performance.now()
  await runtime.runPromise(Effect.forEach(Array.from({ length: runs }), () => runToEnd(p), { discard: true }))
  return (performance.now() - t0) / per
}

const compare = async (name: string, repository: Layer.Layer<Repository.Repository, unknown>) => {
  const runtime = ManagedRuntime.make(Orchestrator.layer([members, sequence]).pipe(Layer.provide(repository)))
  const { a: member, b: stepCost } = await interleaved(
    round(runtime, members, perRound, perRound * width),
    round(runtime, sequence, perRound, perRound * width)
  )
  await runtime.dispose()
  console.log(
    `${name}: a member ${(member * 1000).toFixed(1)} µs, a step ${(stepCost * 1000).toFixed(1)} µs; ` +
      `member/step ${(member / stepCost).toFixed(3)} (target ≤ 1)`
  )
}

const children = async (name: string, repository: Layer.Layer<Repository.Repository, unknown>) => {
  const runtime = ManagedRuntime.make(Orchestrator.layer([inline, inner, parent]).pipe(Layer.provide(repository)))
  const runs = perRound * 10
  const { a, b } = await interleaved(round(runtime, parent, runs, runs), round(runtime, inline, runs, runs))
  await runtime.dispose()
  console.log(
    `${name}: a parent with a child of 3 steps ${(a * 1000).toFixed(0)} µs, the 3 steps inline ` +
      `${(b * 1000).toFixed(0)} µs; parent/inline ${(a / b).toFixed(2)} (target ≤ 2)`
  )
}

const heap = async () => {
  const gc = (globalThis as { gc?: () => void }).gc
  let calls = 0
  let peak = 0
  const sample = () => {
    if (++calls % 100 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed)
  }
  const wide = pipeline(
    "Wide",
    forEach("Each", {
      item: Schema.Number,
      items: () => Array.from({ length: 10_000 }, (_, i) => i),
      step: { output: Schema.Number, onContinue: (ctx) => Effect.sync(() => (sample(), Step.finish(ctx.item))) }
    })
  )
  const runtime = ManagedRuntime.make(Orchestrator.layer([wide]).pipe(Layer.provide(Repository.layerMemory)))
  await runtime.runPromise(Effect.void)
  gc?.()
  const before = process.memoryUsage().heapUsed
  peak = before
  const t0 = performance.now()
  await runtime.runPromise(runToEnd(wide as never))
  const took = performance.now() - t0
  gc?.()
  const after = process.memoryUsage().heapUsed
  await runtime.dispose()
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`
  console.log(
    `10,000 members on memory: ${(took / 1000).toFixed(2)} s; heap before ${mib(before)}, peak while running ` +
      `${mib(peak)} (${(peak / before).toFixed(2)}×, ${calls} samples taken), after ${mib(after)} (the run's 10,001 records kept by the memory layer)`
  )
}

const main = async () => {
  await compare("memory", Repository.layerMemory)
  const file = path.join(tmp(), "fanout.db")
  removeDatabase(file)
  await compare("SQLite", SqliteRepository.layer({ filename: file }))
  removeDatabase(file)
  await children("W9 memory", Repository.layerMemory)
  await children("W9 SQLite", SqliteRepository.layer({ filename: file }))
  removeDatabase(file)
  await heap()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
