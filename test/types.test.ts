/**
 * Type-level tests: checked by `tsc --noEmit -p .` (the `expectTypeOf` assertions and every
 * `// @ts-expect-error`, which fails the type check when the line below it compiles), and run by
 * vitest too (the runtime parts check that the typed values are the values handlers receive).
 *
 * Lines that must not compile are kept inside functions that are never called, so that nothing
 * ill-typed runs.
 */
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { child, type Errors, forEach, Orchestrator, parallel, type Parallel, Pipeline, pipeline, Repository, type Run, Step, step, when } from "prorch"

// -----------------------------------------------------------------------------
// fixtures
// -----------------------------------------------------------------------------

class Mailer extends Context.Tag("test/Mailer")<Mailer, { readonly send: (to: string) => Effect.Effect<void> }>() {}

class Storage extends Context.Tag("test/Storage")<Storage, { readonly put: (path: string) => Effect.Effect<string> }>() {}

class StorageError extends Schema.TaggedError<StorageError>()("StorageError", { path: Schema.String }) {}

const BackupInput = Schema.Struct({ path: Schema.String, size: Schema.Number })
type BackupInput = typeof BackupInput.Type

const JobState = Schema.Struct({ jobId: Schema.String, polls: Schema.Number })
type JobState = typeof JobState.Type

const Location = Schema.Struct({ location: Schema.String })
type Location = typeof Location.Type

const Approval = Schema.Struct({ approvedBy: Schema.String })
type Approval = typeof Approval.Type

const generation = step("Generation", {
  input: BackupInput,
  state: JobState,
  onStart: (ctx) => {
    expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
    expectTypeOf(ctx.outputs).toEqualTypeOf<{}>()
    expectTypeOf(ctx.stepRunId).toEqualTypeOf<string>()
    expectTypeOf(ctx.attempt).toEqualTypeOf<number>()
    return Effect.succeed({ jobId: `job-${ctx.input.path}`, polls: 0 })
  },
  onContinue: (ctx) => {
    expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
    expectTypeOf(ctx.state).toEqualTypeOf<JobState>()
    expectTypeOf(ctx.continuations).toEqualTypeOf<number>()
    return Effect.succeed(
      ctx.state.polls < 1 ? Step.wait({ state: { ...ctx.state, polls: ctx.state.polls + 1 } }) : Step.finish()
    )
  }
})

const transfer = step("Transfer", {
  input: BackupInput,
  output: Location,
  onStart: (ctx) => Effect.flatMap(Storage, (storage) => Effect.asVoid(storage.put(ctx.input.path))),
  onContinue: (ctx) =>
    Effect.gen(function*() {
      const storage = yield* Storage
      const location = yield* storage.put(ctx.input.path)
      if (location === "") return yield* new StorageError({ path: ctx.input.path })
      return Step.finish({ location })
    })
})

const notification = step("Notification", {
  needs: { transfer, generation },
  onStart: (ctx) => {
    expectTypeOf(ctx.outputs.transfer).toEqualTypeOf<Location>()
    expectTypeOf(ctx.outputs.generation).toEqualTypeOf<void>()
    return Effect.flatMap(Mailer, (mailer) => mailer.send(ctx.outputs.transfer.location))
  }
})

const backup = pipeline("Backup", { input: BackupInput }, generation, transfer, notification)

const approval = step("Approval", {
  signal: Approval,
  onContinue: (ctx) => {
    expectTypeOf(ctx.signals).toEqualTypeOf<ReadonlyArray<Approval>>()
    expectTypeOf(ctx.input).toEqualTypeOf<unknown>()
    return Effect.succeed(ctx.signals.length > 0 ? Step.finish() : Step.wait())
  }
})

const plain = pipeline("Plain", approval)

// -----------------------------------------------------------------------------
// tests
// -----------------------------------------------------------------------------

describe("types: steps", () => {
  it("the step type carries name, state, output, input, needs, signal, errors and services", () => {
    expectTypeOf<Step.Name<typeof generation>>().toEqualTypeOf<"Generation">()
    expectTypeOf<Step.State<typeof generation>>().toEqualTypeOf<JobState>()
    expectTypeOf<Step.Output<typeof generation>>().toEqualTypeOf<void>()
    expectTypeOf<Step.Output<typeof transfer>>().toEqualTypeOf<Location>()
    expectTypeOf<Step.Input<typeof transfer>>().toEqualTypeOf<BackupInput>()
    expectTypeOf<Step.Signal<typeof approval>>().toEqualTypeOf<Approval>()
    expectTypeOf<Step.Error<typeof transfer>>().toEqualTypeOf<StorageError>()
    expectTypeOf<Step.Error<typeof generation>>().toEqualTypeOf<never>()
    expectTypeOf<Step.Context<typeof transfer>>().toEqualTypeOf<Storage>()
    expectTypeOf<Step.Context<typeof notification>>().toEqualTypeOf<Mailer>()
    expectTypeOf<Step.Context<typeof generation>>().toEqualTypeOf<never>()
    expectTypeOf(notification.needs.transfer).toEqualTypeOf(transfer)
    // the runtime value agrees with the type
    expect(generation.name).toBe("Generation")
    expect(notification.needs.transfer).toBe(transfer)
  })

  it("onStart must return the step's state", () => {
    const wrongState = () =>
      step("WrongState", {
        state: JobState,
        // @ts-expect-error polls must be a number
        onStart: () => Effect.succeed({ jobId: "a", polls: "1" })
      })
    const missingState = () =>
      step("MissingState", {
        state: JobState,
        // @ts-expect-error onStart must return a JobState, not void
        onStart: () => Effect.void
      })
    const wrongWaitState = () =>
      step("WrongWaitState", {
        state: JobState,
        onStart: () => Effect.succeed({ jobId: "a", polls: 0 }),
        // @ts-expect-error the state given to Step.wait must be a JobState
        onContinue: () => Effect.succeed(Step.wait({ state: { jobId: 1, polls: 0 } }))
      })
    const stateOfOtherType = () =>
      step("ReadsState", {
        state: JobState,
        onStart: () => Effect.succeed({ jobId: "a", polls: 0 }),
        onContinue: (ctx) => {
          // @ts-expect-error ctx.state.jobId is a string
          const n: number = ctx.state.jobId
          return Effect.succeed(n > 0 ? Step.finish() : Step.wait())
        }
      })
    expectTypeOf(wrongState).toBeFunction()
    expectTypeOf(missingState).toBeFunction()
    expectTypeOf(wrongWaitState).toBeFunction()
    expectTypeOf(stateOfOtherType).toBeFunction()
  })

  it("Step.finish must carry the step's output", () => {
    const wrongOutput = () =>
      step("WrongOutput", {
        output: Location,
        // @ts-expect-error location must be a string
        onContinue: () => Effect.succeed(Step.finish({ location: 42 }))
      })
    const noOutput = () =>
      step("NoOutput", {
        output: Location,
        // @ts-expect-error a step with an output schema must finish with an output
        onContinue: () => Effect.succeed(Step.finish())
      })
    // a step without an output schema finishes without one
    const noSchema = step("NoSchema", { onContinue: () => Effect.succeed(Step.finish()) })
    expectTypeOf<Step.Output<typeof noSchema>>().toEqualTypeOf<void>()
    expectTypeOf(Step.finish({ location: "x" })).toEqualTypeOf<Step.Finish<{ location: string }>>()
    expectTypeOf(wrongOutput).toBeFunction()
    expectTypeOf(noOutput).toBeFunction()
    expect(Step.finish({ location: "x" })).toEqual({ _tag: "Finish", output: { location: "x" } })
  })

  it("a handler may not require a Scope; one that scopes its resources itself compiles", () => {
    const leaky = () =>
      // @ts-expect-error a step handler may not require Scope (its finalizer would outlive the call)
      step("Leaky", {
        onStart: () => Effect.addFinalizer(() => Effect.void)
      })
    const leakyContinue = () =>
      // @ts-expect-error the same for onContinue
      step("LeakyContinue", {
        onContinue: () => Effect.as(Effect.addFinalizer(() => Effect.void), Step.finish())
      })
    const scoped = step("Scoped", {
      onStart: () => Effect.scoped(Effect.addFinalizer(() => Effect.void)),
      onContinue: () => Effect.as(Mailer.pipe(Effect.flatMap((mailer) => mailer.send("ops"))), Step.finish())
    })
    expectTypeOf<Step.Context<typeof scoped>>().toEqualTypeOf<Mailer>()
    expectTypeOf(leaky).toBeFunction()
    expectTypeOf(leakyContinue).toBeFunction()
  })

  it("when: the predicate sees the input and the needed outputs; a step needing a conditional step reads an Option", () => {
    const conditional = when(
      (ctx) => {
        expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
        expectTypeOf(ctx.outputs.transfer).toEqualTypeOf<Location>()
        return ctx.input.size > 0
      },
      step("Conditional", {
        input: BackupInput,
        needs: { transfer },
        output: Schema.Number,
        onContinue: (ctx) => Effect.succeed(Step.finish(ctx.input.size))
      })
    )
    expectTypeOf<Step.Output<typeof conditional>>().toEqualTypeOf<Option.Option<number>>()
    const reader = step("Reader", {
      needs: { conditional },
      onContinue: (ctx) => {
        expectTypeOf(ctx.outputs.conditional).toEqualTypeOf<Option.Option<number>>()
        return Effect.succeed(Step.finish())
      }
    })
    expect(reader.needs.conditional).toBe(conditional)
    const wrongPredicate = () =>
      // @ts-expect-error the predicate must return a boolean
      when(() => "yes", step("W", { onContinue: () => Effect.succeed(Step.finish()) }))
    const unknownOutput = () =>
      when(
        // @ts-expect-error generation is not in the step's needs
        (ctx) => ctx.outputs.generation !== undefined,
        step("U", { needs: { transfer }, onContinue: () => Effect.succeed(Step.finish()) })
      )
    expectTypeOf(wrongPredicate).toBeFunction()
    expectTypeOf(unknownOutput).toBeFunction()
  })

  it("parallel: a later element needs any member, typed; members' services join the pipeline's; the steps are flattened", () => {
    const mail = step("Mail", {
      output: Schema.String,
      onContinue: () => Effect.as(Mailer.pipe(Effect.flatMap((m) => m.send("ops"))), Step.finish("sent"))
    })
    const store = step("Store", {
      input: BackupInput,
      output: Schema.Number,
      onContinue: (ctx) => Effect.as(Storage.pipe(Effect.flatMap((s) => s.put(ctx.input.path))), Step.finish(1))
    })
    const maybe = when(() => true, step("Maybe", { output: Schema.Boolean, onContinue: () => Effect.succeed(Step.finish(true)) }))
    const group = parallel(mail, parallel(store, maybe))
    expectTypeOf<Parallel.Names<typeof group>>().toEqualTypeOf<"Mail" | "Store" | "Maybe">()
    const after = step("After", {
      needs: { mail, store, maybe },
      onContinue: (ctx) => {
        expectTypeOf(ctx.outputs.mail).toEqualTypeOf<string>()
        expectTypeOf(ctx.outputs.store).toEqualTypeOf<number>()
        expectTypeOf(ctx.outputs.maybe).toEqualTypeOf<Option.Option<boolean>>()
        return Effect.succeed(Step.finish())
      }
    })
    const p = pipeline("Grouped", { input: BackupInput }, step("Before", {}), group, after)
    expectTypeOf<Pipeline.Context<typeof p>>().toEqualTypeOf<Mailer | Storage>()
    expectTypeOf<Pipeline.Steps<typeof p>[1]>().toEqualTypeOf<typeof mail>()
    expectTypeOf<Pipeline.Steps<typeof p>["length"]>().toEqualTypeOf<5>()
    expect(p.steps.map((s) => s.name)).toEqual(["Before", "Mail", "Store", "Maybe", "After"])
    expect(p.group(2)).toEqual([1, 4])
    expect(p.group(4)).toBeUndefined()

    const reads = step("Reads", { needs: { mail }, onContinue: () => Effect.succeed(Step.finish()) })
    const sibling = () =>
      // @ts-expect-error a member may not need a member of its own group
      parallel(mail, reads)
    const early = parallel(step("Early", { needs: { mail }, onContinue: () => Effect.succeed(Step.finish()) }))
    const later = () =>
      // @ts-expect-error a member may not need an element that comes after its group
      pipeline("Later", early, mail)
    const wrongInput = () =>
      // @ts-expect-error a member expects the pipeline's input, which this pipeline does not have
      pipeline("NoInput", parallel(store))
    // @ts-expect-error a group needs a member
    const empty = () => parallel()
    expectTypeOf(sibling).toBeFunction()
    expectTypeOf(later).toBeFunction()
    expectTypeOf(wrongInput).toBeFunction()
    expectTypeOf(empty).toBeFunction()
  })

  it("when(predicate, group): the predicate sees the members' input; each member's output reads as an Option", () => {
    const stored = step("Stored", { input: BackupInput, output: Schema.Number, onContinue: (ctx) => Effect.succeed(Step.finish(ctx.input.size)) })
    const mailed = step("Mailed", { output: Schema.String, onContinue: () => Effect.succeed(Step.finish("sent")) })
    const group = when((ctx) => {
      expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
      return ctx.input.size > 0
    }, parallel(stored, parallel(mailed)))
    const reader = step("Reader", {
      needs: { stored: group.members[0], mailed: group.members[1].members[0] },
      onContinue: (ctx) => {
        expectTypeOf(ctx.outputs.stored).toEqualTypeOf<Option.Option<number>>()
        expectTypeOf(ctx.outputs.mailed).toEqualTypeOf<Option.Option<string>>()
        return Effect.succeed(Step.finish())
      }
    })
    const p = pipeline("Conditional", { input: BackupInput }, group, reader)
    expect(p.steps).toHaveLength(3)
    const wrong = () =>
      // @ts-expect-error the group's predicate must return a boolean
      when(() => 1, parallel(mailed))
    expectTypeOf(wrong).toBeFunction()
  })

  it("child: its input is checked against the child pipeline's input; its output is the child's last step's", () => {
    const Job = Schema.Struct({ path: Schema.String })
    const inner = pipeline(
      "Inner",
      { input: Job },
      step("First", { input: Job }),
      step("Last", { output: Location, onContinue: () => Effect.succeed(Step.finish({ location: "s3://x" })) })
    )
    const run = child("RunInner", inner, {
      parentInput: BackupInput,
      needs: { transfer },
      input: (ctx) => {
        expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
        expectTypeOf(ctx.outputs.transfer).toEqualTypeOf<Location>()
        return { path: ctx.input.path }
      }
    })
    expectTypeOf<Step.Output<typeof run>>().toEqualTypeOf<Location>()
    const reader = step("Reader", {
      needs: { run },
      onContinue: (ctx) => {
        expectTypeOf(ctx.outputs.run).toEqualTypeOf<Location>()
        return Effect.succeed(Step.finish())
      }
    })
    expect(reader.needs.run).toBe(run)
    const noInputChild = child("Plain", pipeline("Plain", step("Only")))
    expectTypeOf<Step.Output<typeof noInputChild>>().toEqualTypeOf<void>()
    const wrongInput = () =>
      child("Wrong", inner, {
        // @ts-expect-error the child's input must be the child pipeline's
        input: () => ({ size: 1 })
      })
    const missing = () =>
      // @ts-expect-error a child pipeline with an input schema needs an input
      child("Missing", inner, {})
    expectTypeOf(wrongInput).toBeFunction()
    expectTypeOf(missing).toBeFunction()
  })

  it("forEach: items sees the input and needs; members see their item, index, state and the needs; the output is an array", () => {
    const each = forEach("Each", {
      input: BackupInput,
      needs: { transfer },
      item: Schema.Number,
      items: (ctx) => {
        expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
        expectTypeOf(ctx.outputs.transfer).toEqualTypeOf<Location>()
        return [ctx.input.size]
      },
      concurrency: 2,
      step: {
        state: Schema.Struct({ tries: Schema.Number }),
        output: Schema.String,
        onStart: (ctx) => {
          expectTypeOf(ctx.item).toEqualTypeOf<number>()
          expectTypeOf(ctx.index).toEqualTypeOf<number>()
          return Effect.succeed({ tries: 0 })
        },
        onContinue: (ctx) => {
          expectTypeOf(ctx.item).toEqualTypeOf<number>()
          expectTypeOf(ctx.state).toEqualTypeOf<{ readonly tries: number }>()
          expectTypeOf(ctx.outputs.transfer).toEqualTypeOf<Location>()
          return Effect.as(Storage.pipe(Effect.flatMap((s) => s.put(ctx.outputs.transfer.location))), Step.finish(`${ctx.item}`))
        }
      }
    })
    expectTypeOf<Step.Output<typeof each>>().toEqualTypeOf<ReadonlyArray<string>>()
    expectTypeOf<Step.Context<typeof each>>().toEqualTypeOf<Storage>()
    const reader = step("Reader", {
      needs: { each },
      onContinue: (ctx) => {
        expectTypeOf(ctx.outputs.each).toEqualTypeOf<ReadonlyArray<string>>()
        return Effect.succeed(Step.finish())
      }
    })
    const p = pipeline("Fan", { input: BackupInput }, transfer, each, reader)
    expectTypeOf<Pipeline.Context<typeof p>>().toEqualTypeOf<Storage>()
    const wrongItem = () =>
      forEach("Wrong", {
        item: Schema.Number,
        // @ts-expect-error the items must be of the item schema's type
        items: () => ["a"],
        step: {}
      })
    const wrongOutput = () =>
      forEach("WrongOutput", {
        item: Schema.Number,
        items: () => [1],
        step: {
          output: Schema.String,
          // @ts-expect-error a member finishes with its output schema's type
          onContinue: (ctx) => Effect.succeed(Step.finish(ctx.item))
        }
      })
    const needsLater = () =>
      // @ts-expect-error a forEach may only need steps that come before it
      pipeline("Later", { input: BackupInput }, each, transfer)
    expectTypeOf(wrongItem).toBeFunction()
    expectTypeOf(wrongOutput).toBeFunction()
    expectTypeOf(needsLater).toBeFunction()
  })

  it("Step.poll: check sees the input, needs and signals; its Option's value is the step's output", () => {
    const sensor = step(
      "Sensor",
      Step.poll({
        input: BackupInput,
        needs: { transfer },
        signal: Schema.Literal("nudge"),
        output: Schema.Number,
        check: (ctx) => {
          expectTypeOf(ctx.input).toEqualTypeOf<BackupInput>()
          expectTypeOf(ctx.outputs.transfer).toEqualTypeOf<Location>()
          expectTypeOf(ctx.signals).toEqualTypeOf<ReadonlyArray<"nudge">>()
          expectTypeOf(ctx.checks).toEqualTypeOf<number>()
          return Effect.succeed(ctx.checks > 2 ? Option.some(ctx.input.size) : Option.none())
        },
        every: Schedule.spaced("1 minute")
      })
    )
    expectTypeOf<Step.Output<typeof sensor>>().toEqualTypeOf<number>()
    expectTypeOf<Step.State<typeof sensor>>().toEqualTypeOf<Step.PollState>()
    // without an output, booleans will do
    const flag = step("Flag", Step.poll({ check: () => Effect.succeed(true), every: Schedule.spaced("1 minute") }))
    expectTypeOf<Step.Output<typeof flag>>().toEqualTypeOf<void>()
    const wrongValue = () =>
      step(
        "Wrong",
        Step.poll({
          output: Schema.Number,
          // @ts-expect-error the Option must hold the output's type
          check: () => Effect.succeed(Option.some("seven")),
          every: Schedule.spaced("1 minute")
        })
      )
    const booleanWithOutput = () =>
      step(
        "Bool",
        Step.poll({
          output: Schema.Number,
          // @ts-expect-error a step with an output answers an Option, not a boolean
          check: () => Effect.succeed(true),
          every: Schedule.spaced("1 minute")
        })
      )
    expectTypeOf(wrongValue).toBeFunction()
    expectTypeOf(booleanWithOutput).toBeFunction()
  })

  it("ctx.outputs only has the keys named in needs", () => {
    const unknownKey = () =>
      step("UnknownKey", {
        needs: { transfer },
        onStart: (ctx) => {
          // @ts-expect-error generation is not in needs
          const g = ctx.outputs.generation
          return Effect.succeed(g)
        }
      })
    expectTypeOf(unknownKey).toBeFunction()
  })
})

describe("types: pipelines", () => {
  it("the pipeline input type is the input schema's type, void without one", () => {
    expectTypeOf<Pipeline.Input<typeof backup>>().toEqualTypeOf<BackupInput>()
    expectTypeOf<Pipeline.Input<typeof plain>>().toEqualTypeOf<void>()
    expectTypeOf<Pipeline.Name<typeof backup>>().toEqualTypeOf<"Backup">()
    expectTypeOf(backup.steps).toEqualTypeOf<readonly [typeof generation, typeof transfer, typeof notification]>()
    expect(backup.steps.map((s) => s.name)).toEqual(["Generation", "Transfer", "Notification"])
  })

  it("Pipeline.Context is the union of the services that the steps' handlers require", () => {
    expectTypeOf<Pipeline.Context<typeof backup>>().toEqualTypeOf<Storage | Mailer>()
    expectTypeOf<Pipeline.Context<typeof plain>>().toEqualTypeOf<never>()
  })

  it("a step may only need steps that come before it", () => {
    const reversed = () =>
      // @ts-expect-error notification needs transfer and generation, which come after it
      pipeline("Reversed", { input: BackupInput }, notification, generation, transfer)
    const missing = () =>
      // @ts-expect-error notification needs generation, which is not in the pipeline
      pipeline("Missing", { input: BackupInput }, transfer, notification)
    // in order, it compiles
    const ordered = pipeline("Ordered", { input: BackupInput }, transfer, generation, notification)
    expectTypeOf(reversed).toBeFunction()
    expectTypeOf(missing).toBeFunction()
    expect(ordered.steps).toHaveLength(3)
  })

  it("a step that expects a pipeline input the pipeline does not have does not compile", () => {
    const noInput = () =>
      // @ts-expect-error generation expects a BackupInput, the pipeline has no input
      pipeline("NoInput", generation)
    const otherInput = () =>
      // @ts-expect-error generation expects { path, size }, the pipeline gives { path }
      pipeline("OtherInput", { input: Schema.Struct({ path: Schema.String }) }, generation)
    // a wider pipeline input is accepted by a step that expects less
    const wider = pipeline(
      "Wider",
      { input: Schema.Struct({ path: Schema.String, size: Schema.Number, owner: Schema.String }) },
      generation
    )
    // a step that expects no input fits in any pipeline
    const any = pipeline("Any", { input: BackupInput }, approval)
    expectTypeOf(noInput).toBeFunction()
    expectTypeOf(otherInput).toBeFunction()
    expect(wider.name).toBe("Wider")
    expect(any.name).toBe("Any")
  })

  it("Pipeline.append makes the same checks as pipeline(...)", () => {
    const base = pipeline("Base", approval)
    const wrongInput = () =>
      // @ts-expect-error generation expects a BackupInput, the pipeline has no input
      Pipeline.append(base, generation)
    const wrongInputPiped = () =>
      // @ts-expect-error the same, in a pipe
      base.pipe(Pipeline.append(generation))
    const typed = pipeline("Typed", { input: BackupInput }, approval)
    const fine = Pipeline.append(typed, generation)
    expectTypeOf(fine).toEqualTypeOf<
      Pipeline.Pipeline<"Typed", BackupInput, readonly [typeof approval, typeof generation]>
    >()
    expectTypeOf(wrongInput).toBeFunction()
    expectTypeOf(wrongInputPiped).toBeFunction()
    expect(fine.steps.map((s) => s.name)).toEqual(["Approval", "Generation"])
  })
})

describe("types: orchestrator", () => {
  it("Orchestrator.layer requires the repository and every service of the handlers", () => {
    const layer = Orchestrator.layer([backup])
    expectTypeOf(layer).toEqualTypeOf<
      Layer.Layer<Orchestrator.Orchestrator, Errors.DefinitionError, Repository.Repository | Storage | Mailer>
    >()
    expectTypeOf(Orchestrator.layer([plain])).toEqualTypeOf<
      Layer.Layer<Orchestrator.Orchestrator, Errors.DefinitionError, Repository.Repository>
    >()
    expectTypeOf(Orchestrator.layer([plain, backup])).toEqualTypeOf<
      Layer.Layer<Orchestrator.Orchestrator, Errors.DefinitionError, Repository.Repository | Storage | Mailer>
    >()
  })

  it("providing only the repository leaves the handlers' services missing", () => {
    const program = Orchestrator.start(backup, { input: { path: "/data", size: 1 } }).pipe(
      Effect.provide(Orchestrator.layer([backup])),
      Effect.provide(Repository.layerMemory)
    )
    expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<Storage | Mailer>()
    const missingServices = () =>
      // @ts-expect-error Storage and Mailer are not provided
      Effect.runPromise(program)
    const missingMailer = () =>
      // @ts-expect-error Mailer is not provided
      Effect.runPromise(program.pipe(Effect.provideService(Storage, { put: (path) => Effect.succeed(path) })))
    expectTypeOf(missingServices).toBeFunction()
    expectTypeOf(missingMailer).toBeFunction()
  })

  it("start requires { input } for a pipeline with an input schema, and no options for one without", () => {
    expectTypeOf(Orchestrator.start(backup, { input: { path: "/a", size: 1 } })).toEqualTypeOf<
      Effect.Effect<string, Orchestrator.StartError, Orchestrator.Orchestrator>
    >()
    expectTypeOf(Orchestrator.start(plain)).toEqualTypeOf<
      Effect.Effect<string, Orchestrator.StartError, Orchestrator.Orchestrator>
    >()
    expectTypeOf(Orchestrator.start(plain, { idempotencyKey: "k" })).toEqualTypeOf<
      Effect.Effect<string, Orchestrator.StartError, Orchestrator.Orchestrator>
    >()
    const noOptions = () =>
      // @ts-expect-error the pipeline has an input schema: { input } is required
      Orchestrator.start(backup)
    const noInput = () =>
      // @ts-expect-error the options must carry the input
      Orchestrator.start(backup, { idempotencyKey: "k" })
    const wrongInput = () =>
      // @ts-expect-error size must be a number
      Orchestrator.start(backup, { input: { path: "/a", size: "1" } })
    const createWithoutInput = () =>
      // @ts-expect-error create checks the input like start
      Orchestrator.create(backup)
    expectTypeOf(noOptions).toBeFunction()
    expectTypeOf(noInput).toBeFunction()
    expectTypeOf(wrongInput).toBeFunction()
    expectTypeOf(createWithoutInput).toBeFunction()
  })

  it("signal checks the payload against the step's signal schema", () => {
    expectTypeOf(Orchestrator.signal("run", approval, { approvedBy: "ops" })).toEqualTypeOf<
      Effect.Effect<
        void,
        Orchestrator.ManageError | Errors.EncodeError | Errors.UnknownPipeline,
        Orchestrator.Orchestrator
      >
    >()
    const wrongPayload = () =>
      // @ts-expect-error approvedBy must be a string
      Orchestrator.signal("run", approval, { approvedBy: 1 })
    const missingField = () =>
      // @ts-expect-error the payload needs approvedBy
      Orchestrator.signal("run", approval, {})
    expectTypeOf(wrongPayload).toBeFunction()
    expectTypeOf(missingField).toBeFunction()
  })

  it.effect("the typed values are the values that the handlers receive", () =>
    Effect.gen(function*() {
      const runId = yield* Orchestrator.start(backup, { input: { path: "/data", size: 3 } })
      const view: Run.RunView = yield* Orchestrator.get(runId)
      // Generation waits once (plain wait), so the first tick stops there
      expect(view.status).toBe("pending")
      expect(view.input).toEqual({ path: "/data", size: 3 })
      expect(view.steps[0].state).toEqual({ jobId: "job-/data", polls: 1 })
      yield* Orchestrator.tick(runId)
      const done = yield* Orchestrator.get(runId)
      expect(done.status).toBe("finished")
      expect(done.steps[1].output).toEqual({ location: "s3:/data" })
    }).pipe(
      Effect.provide(Orchestrator.layer([backup])),
      Effect.provide(Repository.layerMemory),
      Effect.provideService(Storage, { put: (path) => Effect.succeed(`s3:${path}`) }),
      Effect.provideService(Mailer, { send: () => Effect.void })
    ))

  it.effect("the handlers' services come from the orchestrator's layer, not from the caller", () => {
    const sent: Array<string> = []
    const notify = step("Notify", {
      onStart: () => Effect.flatMap(Mailer, (mailer) => mailer.send("start")),
      onContinue: (ctx) =>
        ctx.continuations < 1
          ? Effect.succeed(Step.wait())
          : Effect.as(Effect.flatMap(Mailer, (mailer) => mailer.send("continue")), Step.finish())
    })
    const notifying = pipeline("Notifying", notify)
    // the mailer is given to the orchestrator's layer only: the calling fiber has none
    const orchestrator = Orchestrator.layer([notifying]).pipe(
      Layer.provide(Layer.succeed(Mailer, { send: (to) => Effect.sync(() => void sent.push(to)) })),
      Layer.provideMerge(Repository.layerMemory)
    )
    return Effect.gen(function*() {
      expect(Option.isNone(yield* Effect.serviceOption(Mailer))).toBe(true)
      const runId = yield* Orchestrator.start(notifying)
      yield* Orchestrator.executePending()
      expect(sent).toEqual(["start", "continue"])
      expect((yield* Orchestrator.get(runId)).status).toBe("finished")
    }).pipe(Effect.provide(orchestrator))
  })

  it.effect("ctx.outputs holds the decoded output of the needed step", () => {
    const sent: Array<string> = []
    return Effect.gen(function*() {
      const runId = yield* Orchestrator.start(backup, { input: { path: "/x", size: 1 } })
      yield* Orchestrator.tick(runId)
      const view = yield* Orchestrator.get(runId)
      expect(view.status).toBe("finished")
      expect(sent).toEqual(["s3:/x"])
    }).pipe(
      Effect.provide(Orchestrator.layer([backup])),
      Effect.provide(Repository.layerMemory),
      Effect.provideService(Storage, { put: (path) => Effect.succeed(`s3:${path}`) }),
      Effect.provideService(Mailer, { send: (to) => Effect.sync(() => void sent.push(to)) })
    )
  })
})
