/**
 * W6 (a child process): a worker of the three-step pipeline on PostgreSQL, until SIGTERM.
 *
 *   node --import tsx bench/w6worker.ts <url> <schema> <concurrency>
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, Redacted } from "effect"
import { Orchestrator } from "prorch"
import { PgRepository } from "prorch/Pg"
import { threeSteps } from "./pipelines.js"

const [url, schema, concurrency] = process.argv.slice(2)

NodeRuntime.runMain(
  Effect.scoped(Orchestrator.worker({ concurrency: Number(concurrency), pollInterval: "100 millis" })).pipe(
    Effect.provide(
      Orchestrator.layer([threeSteps]).pipe(
        Layer.provide(
          PgRepository.layer({ url: Redacted.make(url), schema, maxConnections: Math.min(20, Number(concurrency) + 2) })
        )
      )
    )
  )
)
