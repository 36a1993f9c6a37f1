/**
 * W1 on the memory layer (a child process of its own, as an application using that layer would
 * be): `warmup` runs on a throwaway store so that the JIT settles, then `rounds` measurements of
 * `runs` runs, each on a fresh store (W1 is 5,000 runs started and driven to their end one at a
 * time). Prints one line of JSON: the rate of each round, and the p50 and p99 of all the runs.
 *
 *   node --import tsx bench/w1memory.ts <runs> <warmup> <rounds>
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import { Orchestrator, Repository } from "prorch"
import { percentile } from "./lib.js"
import { threeSteps } from "./pipelines.js"

const [runs, warmup, rounds] = process.argv.slice(2).map(Number)

const fresh = () => ManagedRuntime.make(Orchestrator.layer([threeSteps]).pipe(Layer.provide(Repository.layerMemory)))

const drive = (runtime: ReturnType<typeof fresh>, n: number, latencies: Array<number>) =>
  runtime.runPromise(Effect.gen(function*() {
    const started = performance.now()
    let last = ""
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      last = yield* Orchestrator.start(threeSteps)
      latencies.push(performance.now() - t0)
    }
    const ms = performance.now() - started
    const status = (yield* Orchestrator.get(last)).status
    if (status !== "finished") throw new Error(`a W1 run ended ${status}`)
    return ms
  }))

const main = async () => {
  const warm = fresh()
  await drive(warm, warmup, [])
  await warm.dispose()
  const rates: Array<number> = []
  const latencies: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const runtime = fresh()
    const ms = await drive(runtime, runs, latencies)
    rates.push((runs / ms) * 1000)
    await runtime.dispose()
  }
  const line = JSON.stringify({ rates, p50: percentile(latencies, 50), p99: percentile(latencies, 99) })
  // a pipe is written asynchronously: exit once the line is out
  await new Promise<void>((resolve) => process.stdout.write(line + "\n", () => resolve()))
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
