// An idle worker on a SQLite file, as a user's worker script would be written: Effect imported by
// its module paths, prorch from its built entries. It prints "ready" once the worker polls, then
// waits to be measured and killed. Usage: node bench/idleWorker.mjs <file.db>
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Orchestrator, pipeline, step, Step } from "prorch"
import { SqliteRepository } from "prorch/Sqlite"

const p = pipeline("Idle", step("Only", { onContinue: () => Effect.succeed(Step.finish()) }))
const program = Effect.gen(function*() {
  yield* Effect.forkScoped(Orchestrator.worker({ concurrency: 4 }))
  yield* Effect.sleep("200 millis")
  console.log("ready")
  yield* Effect.never
})
Effect.runFork(
  Effect.scoped(program).pipe(
    Effect.provide(Orchestrator.layer([p]).pipe(Layer.provide(SqliteRepository.layer({ filename: process.argv[2] }))))
  )
)
