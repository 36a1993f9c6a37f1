/**
 * W5 (a child process, started with --expose-gc): one long-lived worker on a SQLite file,
 * processing `total` runs of the three-step pipeline fed in batches; RSS and heap after a full GC
 * once `first` runs are done and once all are. Prints one line of JSON.
 *
 *   node --expose-gc --import tsx bench/w5.ts <file> <first> <total>
 */
import { Effect, Layer } from "effect"
import { Orchestrator, pipeline, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"

const [file, firstArg, totalArg] = process.argv.slice(2)
const first = Number(firstArg)
const total = Number(totalArg)

let processed = 0
const instant = (name: string, last = false) =>
  step(name, {
    onContinue: () =>
      Effect.sync(() => {
        if (last) processed++
        return Step.finish()
      })
  })
const p = pipeline("W5", instant("A"), instant("B"), instant("C", true))

const gc = (globalThis as { gc?: () => void }).gc
const sample = () => {
  gc?.()
  gc?.()
  const usage = process.memoryUsage()
  return { rss: usage.rss, heapUsed: usage.heapUsed, processed }
}

const program = Effect.gen(function*() {
  yield* Effect.forkScoped(Orchestrator.worker({ concurrency: 20, pollInterval: "20 millis", waitInterval: "0 millis" }))
  const samples: Array<ReturnType<typeof sample>> = []
  let created = 0
  const started = Date.now()
  while (processed < total) {
    // keep about 500 runs waiting for the worker
    while (created < total && created - processed < 500) {
      yield* Orchestrator.create(p)
      created++
    }
    yield* Effect.sleep("1 millis")
    if (samples.length === 0 && processed >= first) samples.push(sample())
  }
  samples.push(sample())
  return { samples, seconds: (Date.now() - started) / 1000 }
})

Effect.runPromise(
  Effect.scoped(program).pipe(
    Effect.provide(
      Orchestrator.layer([p]).pipe(Layer.provide(SqliteRepository.layer({ filename: file, synchronous: "NORMAL" })))
    )
  )
).then((result) => {
  console.log(JSON.stringify(result))
  process.exit(0)
}, (error) => {
  console.error(error)
  process.exit(1)
})
