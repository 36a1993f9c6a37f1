/**
 * How many Effect operations one W1 run executes, on the memory layer and on a SQLite file: the
 * fiber asks its scheduler whether to yield before each operation, and a scheduler that counts
 * those questions counts the operations. A diagnostic of the runtime's share of a run (see
 * docs/benchmarks.md), not a timing.
 *
 *   npx tsx bench/ops.ts
 */
import { Effect, Layer, ManagedRuntime, Scheduler } from "effect"
import * as path from "node:path"
import { Orchestrator, Repository } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"
import { removeDatabase, tmp } from "./lib.js"
import { threeSteps } from "./pipelines.js"

let operations = 0
const counting: Scheduler.Scheduler = {
  scheduleTask: (task, priority) => Scheduler.defaultScheduler.scheduleTask(task, priority),
  shouldYield: (fiber) => {
    operations++
    return Scheduler.defaultScheduler.shouldYield(fiber)
  }
}

const count = async (name: string, repository: Layer.Layer<Repository.Repository, unknown>, runs = 1_000) => {
  const runtime = ManagedRuntime.make(Orchestrator.layer([threeSteps]).pipe(Layer.provide(repository)))
  const start = (n: number) =>
    runtime.runPromise(
      Effect.forEach(Array.from({ length: n }), () => Orchestrator.start(threeSteps), { discard: true }).pipe(
        Effect.withScheduler(counting)
      )
    )
  await start(100)
  operations = 0
  await start(runs)
  console.log(`${name}: ${(operations / runs).toFixed(0)} Effect operations per run`)
  await runtime.dispose()
}

const main = async () => {
  const dir = tmp()
  const file = path.join(dir, "ops.db")
  removeDatabase(file)
  await count("memory layer", Repository.layerMemory)
  await count("SQLite file", SqliteRepository.layer({ filename: file }))
  removeDatabase(file)
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
