/**
 * The onboarding example in one command: two sign-ups (a "team" plan and an "enterprise" one) run
 * by a worker in the background of this program until both have ended; their steps and
 * histories are printed, with the pipeline's picture.
 *
 * What happens (about 2 seconds): CreateAccount finishes; its tick starts the three members of
 * the group together: SendWelcome finishes, NotifySales finishes (enterprise) or is skipped
 * (team), ProvisionStorage checks its bucket and waits; two checks later the bucket is ready, and
 * Activate runs in that tick.
 *
 * Exits with 0 only if both runs finished, the team run's NotifySales was skipped and the
 * enterprise run's finished. Each invocation starts from an empty store of its own (see
 * ../shared/store.ts): `examples/onboarding/data/demo.db`, deleted first, or with `PRORCH_PG_URL`
 * set the schema `prorch_onboarding_demo`, dropped first.
 *
 *   npx tsx examples/onboarding/demo.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Effect, Layer } from "effect"
import { Mermaid, Orchestrator } from "prorch"
import { report } from "../shared/drive.js"
import { freshStore, repositoryOn, where } from "../shared/store.js"
import { withWorker } from "../shared/worker.js"
import { onboarding } from "./pipelines.js"

const store = freshStore("onboarding", "demo")

/** The run did not go as the demo expects. */
class UnexpectedRun extends Data.TaggedError("UnexpectedRun")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

const program = Effect.gen(function*() {
  yield* Console.log(`database: ${where(yield* store)}\n`)
  yield* Console.log(`${Mermaid.pipeline(onboarding)}\n`)
  const team = yield* Orchestrator.create(onboarding, { input: { email: "ada@example.com", plan: "team" } })
  const enterprise = yield* Orchestrator.create(onboarding, { input: { email: "grace@example.com", plan: "enterprise" } })
  yield* Console.log(`created runs ${team} (team) and ${enterprise} (enterprise)`)

  const [teamEnded, enterpriseEnded] = yield* withWorker(
    Effect.all([Orchestrator.await(team), Orchestrator.await(enterprise)], { concurrency: 2 }),
    { pollInterval: "100 millis" }
  )
  for (const id of [team, enterprise]) yield* report(id)
  const sales = (view: typeof teamEnded) => view.steps.find((s) => s.name === "NotifySales")?.status
  if (teamEnded.status !== "finished" || enterpriseEnded.status !== "finished") {
    return yield* new UnexpectedRun({ detail: `the runs ended ${teamEnded.status} and ${enterpriseEnded.status}` })
  }
  if (sales(teamEnded) !== "skipped" || sales(enterpriseEnded) !== "finished") {
    return yield* new UnexpectedRun({ detail: `NotifySales was ${sales(teamEnded)} and ${sales(enterpriseEnded)}` })
  }
  yield* Console.log(`\n${Mermaid.run(enterpriseEnded, { pipeline: onboarding })}`)
  yield* Console.log(`\nrun ended: finished (both)`)
})

const layer = Layer.unwrapEffect(
  Effect.map(store, (s) => Orchestrator.layer([onboarding]).pipe(Layer.provide(repositoryOn(s))))
)

NodeRuntime.runMain(program.pipe(Effect.provide(layer)))
