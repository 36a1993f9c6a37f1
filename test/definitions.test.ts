/**
 * Definitions: invalid steps and pipelines fail with a typed `DefinitionError` that names the
 * problem; valid ones are immutable values.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Layer, Schedule, Schema } from "effect"
import { child, Errors, forEach, Orchestrator, parallel, type Parallel, Pipeline, pipeline, Repository, Step, step, when } from "prorch"

const a = step("A")
const b = step("B")
const c = step("C")

/** the DefinitionError that `f` throws (fails the test when it throws something else, or nothing) */
const definitionError = (f: () => unknown): Errors.DefinitionError => {
  let thrown: unknown = undefined
  let threw = false
  try {
    f()
  } catch (error) {
    threw = true
    thrown = error
  }
  expect(threw, "expected the definition to throw").toBe(true)
  expect(thrown).toBeInstanceOf(Errors.DefinitionError)
  const error = thrown as Errors.DefinitionError
  expect(error._tag).toBe("DefinitionError")
  return error
}

// the checks below bypass the compile-time checks on purpose (definitions built at run time)
const untypedPipeline = pipeline as unknown as (name: unknown, ...rest: ReadonlyArray<unknown>) => Pipeline.Any
const untypedStep = step as unknown as (name: unknown, options?: unknown) => Step.Any

describe("invalid definitions", () => {
  it.each([
    ["empty", ""],
    ["blank", "   "],
    ["tab and newline", "\t\n"]
  ])("a pipeline with an %s name: BlankPipelineName", (_, name) => {
    const error = definitionError(() => pipeline(name, a))
    expect(error.problem).toBe("BlankPipelineName")
    expect(error.message).toMatch(/^BlankPipelineName/)
  })

  it("a pipeline name that is not a string: BlankPipelineName", () => {
    expect(definitionError(() => untypedPipeline(undefined, a)).problem).toBe("BlankPipelineName")
    expect(definitionError(() => untypedPipeline(42, a)).problem).toBe("BlankPipelineName")
  })

  it.each([
    ["empty", ""],
    ["blank", "  "]
  ])("a step with an %s name: BlankStepName", (_, name) => {
    const error = definitionError(() => step(name))
    expect(error.problem).toBe("BlankStepName")
    expect(error.pipeline).toBeUndefined()
  })

  it("a step name that is not a string: BlankStepName", () => {
    expect(definitionError(() => untypedStep(undefined)).problem).toBe("BlankStepName")
  })

  it("a pipeline without steps: NoSteps", () => {
    const error = definitionError(() => untypedPipeline("Empty"))
    expect(error.problem).toBe("NoSteps")
    expect(error.pipeline).toBe("Empty")
    // an options object is not a step
    const withOptions = definitionError(() => untypedPipeline("EmptyWithInput", { input: Schema.String }))
    expect(withOptions.problem).toBe("NoSteps")
  })

  it("two steps with the same name: DuplicateStepName, naming the step", () => {
    const error = definitionError(() => untypedPipeline("Dup", a, b, step("A")))
    expect(error.problem).toBe("DuplicateStepName")
    expect(error.pipeline).toBe("Dup")
    expect(error.step).toBe("A")
    expect(error.message).toContain("\"Dup\"")
    // the same step value twice is a duplicate too
    expect(definitionError(() => untypedPipeline("Twice", a, a)).problem).toBe("DuplicateStepName")
  })

  it("needs a step that does not come before it: MissingNeed", () => {
    const reader = step("Reader", { needs: { source: a } })
    const after = definitionError(() => untypedPipeline("After", reader, a))
    expect(after.problem).toBe("MissingNeed")
    expect(after.step).toBe("Reader")
    expect(after.detail).toContain("\"A\"")
    const absent = definitionError(() => untypedPipeline("Absent", b, reader))
    expect(absent.problem).toBe("MissingNeed")
    const itself = step("Self", { needs: { me: step("Self") } })
    expect(definitionError(() => untypedPipeline("Itself", itself)).problem).toBe("MissingNeed")
    // before it, it is fine
    expect(untypedPipeline("Before", a, reader).steps.map((s) => s.name)).toEqual(["A", "Reader"])
  })

  it("state without onStart: StateWithoutOnStart", () => {
    const error = definitionError(() =>
      untypedStep("Stateful", { state: Schema.String, onContinue: () => Effect.succeed(Step.finish()) })
    )
    expect(error.problem).toBe("StateWithoutOnStart")
    expect(error.step).toBe("Stateful")
  })

  it("output without onContinue: OutputWithoutOnContinue", () => {
    const error = definitionError(() => untypedStep("Producer", { output: Schema.String, onStart: () => Effect.void }))
    expect(error.problem).toBe("OutputWithoutOnContinue")
    expect(error.step).toBe("Producer")
  })

  it("a non-step argument: NotAStep", () => {
    expect(definitionError(() => untypedPipeline("Odd", a, "B")).problem).toBe("NotAStep")
    expect(definitionError(() => untypedPipeline("Odd", a, null)).problem).toBe("NotAStep")
    expect(definitionError(() => untypedPipeline("Odd", a, { name: "B" })).problem).toBe("NotAStep")
    expect(definitionError(() => untypedPipeline("Odd", a, 42)).problem).toBe("NotAStep")
    // a non-step in needs
    expect(definitionError(() => untypedStep("Needy", { needs: { x: { name: "A" } } })).problem).toBe("NotAStep")
  })

  it("when(predicate, step): a non-step is NotAStep; a predicate that is not a function, or a step already conditional, InvalidOption", () => {
    const untypedWhen = when as unknown as (predicate: unknown, step: unknown) => unknown
    expect(definitionError(() => untypedWhen(() => true, "A")).problem).toBe("NotAStep")
    expect(definitionError(() => untypedWhen(() => true, undefined)).problem).toBe("NotAStep")
    const notFunction = definitionError(() => untypedWhen(true, a))
    expect(notFunction).toMatchObject({ problem: "InvalidOption", step: "A" })
    const twice = definitionError(() => when(() => true, when(() => true, a)))
    expect(twice).toMatchObject({ problem: "InvalidOption", step: "A" })
    // a conditional step is a step: the pipeline checks its needs as any other's
    expect(definitionError(() => untypedPipeline("P", when(() => true, step("N", { needs: { b }, onContinue: () => Effect.succeed(Step.finish()) })), b)).problem).toBe("MissingNeed")
    // and the original step is left as it was
    const conditional = when(() => false, a)
    expect(a.condition).toBeUndefined()
    expect(typeof conditional.condition).toBe("function")
  })

  it("parallel: an empty group is EmptyGroup; a non-element NotAStep; duplicate names across members DuplicateStepName; a need on a sibling or a later element MissingNeed", () => {
    const untypedParallel = parallel as unknown as (...members: ReadonlyArray<unknown>) => Parallel.Any
    expect(definitionError(() => untypedParallel()).problem).toBe("EmptyGroup")
    expect(definitionError(() => untypedParallel(a, "B")).problem).toBe("NotAStep")
    expect(definitionError(() => untypedParallel(a, parallel(b, a)))).toMatchObject({ problem: "DuplicateStepName", step: "A" })
    // a name shared by a member and a step of the pipeline
    expect(definitionError(() => untypedPipeline("P", a, parallel(b, a)))).toMatchObject({ problem: "DuplicateStepName", step: "A" })
    const reader = step("Reader", { needs: { a }, onContinue: () => Effect.succeed(Step.finish()) })
    const sibling = definitionError(() => untypedParallel(a, reader))
    expect(sibling).toMatchObject({ problem: "MissingNeed", step: "Reader" })
    expect(sibling.detail).toContain("same group")
    // built apart, the group is fine; the pipeline finds the need on a later element
    const group = parallel(b, reader)
    expect(definitionError(() => untypedPipeline("P", group, a))).toMatchObject({ problem: "MissingNeed", step: "Reader" })
    // what comes before the group is read
    expect(untypedPipeline("P", a, group).steps.map((s) => s.name)).toEqual(["A", "B", "Reader"])
    expect(untypedPipeline("P", a, group).elements[1]).toBe(group)
    // a pipeline of groups is checked like one of steps when built at run time
    expect(definitionError(() => untypedPipeline("P", parallel(c, reader), a)).problem).toBe("MissingNeed")
  })

  it("when(predicate, group): a predicate that is not a function, or a member conditional already, InvalidOption; the group is left as it was", () => {
    const untypedWhen = when as unknown as (predicate: unknown, element: unknown) => unknown
    const group = parallel(a, b)
    expect(definitionError(() => untypedWhen(true, group)).problem).toBe("InvalidOption")
    expect(definitionError(() => when(() => true, parallel(a, when(() => false, c))))).toMatchObject({ problem: "InvalidOption", step: "C" })
    const conditional = when(() => false, parallel(a, parallel(b, c)))
    expect(conditional.steps.map((s) => typeof s.condition)).toEqual(["function", "function", "function"])
    expect(group.steps.map((s) => s.condition)).toEqual([undefined, undefined])
  })

  it("forEach: a missing item schema, items that is no function, a bad concurrency, bad member options, a forEach inside a group", () => {
    const untypedForEach = forEach as unknown as (name: unknown, options: unknown) => Step.Any
    const items = () => [1]
    expect(definitionError(() => untypedForEach("", { item: Schema.Number, items, step: {} })).problem).toBe("BlankStepName")
    expect(definitionError(() => untypedForEach("E", undefined))).toMatchObject({ problem: "InvalidOption", step: "E" })
    expect(definitionError(() => untypedForEach("E", { items, step: {} })).detail).toContain("item")
    expect(definitionError(() => untypedForEach("E", { item: Schema.Number, items: [1], step: {} })).detail).toContain("items")
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      expect(definitionError(() => untypedForEach("E", { item: Schema.Number, items, step: {}, concurrency })).detail)
        .toContain("concurrency")
    }
    expect(definitionError(() => untypedForEach("E", { item: Schema.Number, items })).detail).toContain("step")
    // the member's options are checked as a step's
    expect(definitionError(() => untypedForEach("E", { item: Schema.Number, items, step: { state: Schema.Number } })).problem)
      .toBe("StateWithoutOnStart")
    const each = forEach("Each", { item: Schema.Number, items, step: {} })
    expect(definitionError(() => parallel(a, each))).toMatchObject({ problem: "InvalidOption", step: "Each" })
    // a forEach is a step: the pipeline checks its name and needs as any other's
    expect(definitionError(() => untypedPipeline("P", each, forEach("Each", { item: Schema.Number, items, step: {} }))).problem)
      .toBe("DuplicateStepName")
    expect(definitionError(() => untypedPipeline("P", forEach("Needy", { needs: { b }, item: Schema.Number, items, step: {} }), b)).problem)
      .toBe("MissingNeed")
  })

  it("Step.poll: a missing check or every, an unknown onDeadline, a negative deadline: InvalidOption", () => {
    const untypedPoll = Step.poll as unknown as (options: unknown) => unknown
    const every = Schedule.spaced("1 minute")
    const check = () => Effect.succeed(true)
    expect(definitionError(() => untypedPoll({ every })).detail).toBe("Step.poll: check is not a function")
    expect(definitionError(() => untypedPoll({ check })).detail).toBe("Step.poll: every (a Schedule) is required")
    expect(definitionError(() => untypedPoll({ check, every, onDeadline: "ignore" }))).toMatchObject({
      problem: "InvalidOption",
      detail: "Step.poll: onDeadline is \"ignore\", not \"fail\" or \"cancel\""
    })
    expect(definitionError(() => untypedPoll({ check, every, deadline: -5 })).problem).toBe("InvalidOption")
    expect(definitionError(() => untypedPoll({ check, every, deadline: "soon" })).problem).toBe("InvalidOption")
    expect(definitionError(() => untypedPoll(undefined)).problem).toBe("InvalidOption")
  })

  it("Pipeline.append checks like pipeline(...)", () => {
    const p = pipeline("P", a, b)
    expect(definitionError(() => Pipeline.append(p, step("A"))).problem).toBe("DuplicateStepName")
    const late = step("Late", { needs: { x: c } })
    // a compile error too (the appended step needs a step that is not in the pipeline)
    // @ts-expect-error
    expect(definitionError(() => p.pipe(Pipeline.append(late))).problem).toBe("MissingNeed")
    // @ts-expect-error
    expect(definitionError(() => Pipeline.append(p, late)).problem).toBe("MissingNeed")
  })

  it("Pipeline.rename checks the new name", () => {
    expect(definitionError(() => Pipeline.rename(pipeline("P", a), " ")).problem).toBe("BlankPipelineName")
  })
})

describe("Pipeline.makeEffect", () => {
  it.effect("returns a valid pipeline", () =>
    Effect.gen(function*() {
      const p = yield* Pipeline.makeEffect("Dynamic", {}, [a, b])
      expect(p.name).toBe("Dynamic")
      expect(p.steps).toEqual([a, b])
      expect(p.input).toBeUndefined()
      const typed = yield* Pipeline.makeEffect("Typed", { input: Schema.String }, [a])
      expect(typed.input).toBe(Schema.String)
    }))

  it.effect.each([
    ["BlankPipelineName", "", [a]],
    ["NoSteps", "Dynamic", []],
    ["DuplicateStepName", "Dynamic", [a, b, a]],
    ["MissingNeed", "Dynamic", [step("R", { needs: { a } }), a]],
    ["NotAStep", "Dynamic", [a, "b" as unknown as Step.Any]]
  ] as const)("returns %s in the error channel", ([problem, name, steps]) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Pipeline.makeEffect(name, {}, steps))
      // a typed failure, not a defect
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Pipeline.makeEffect(name, {}, steps))
      expect(error).toBeInstanceOf(Errors.DefinitionError)
      expect(error.problem).toBe(problem)
      // catchable by tag
      const caught = yield* Pipeline.makeEffect(name, {}, steps).pipe(
        Effect.as("built"),
        Effect.catchTag("DefinitionError", (e) => Effect.succeed(e.problem))
      )
      expect(caught).toBe(problem)
    }))
})

describe("Pipeline.makeEffect with malformed arguments", () => {
  it.effect("an error that is not a DefinitionError becomes InvalidOption, not a defect", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pipeline.makeEffect("Broken", {}, undefined as unknown as Array<Step.Any>))
      expect(error).toBeInstanceOf(Errors.DefinitionError)
      expect(error.problem).toBe("InvalidOption")
      expect(error.pipeline).toBe("Broken")
    }))
})

describe("Orchestrator.layer", () => {
  it.effect("two pipelines with the same name: DuplicatePipelineName when the layer is built", () =>
    Effect.gen(function*() {
      const first = pipeline("Same", a)
      const second = pipeline("Same", b, c)
      const layer = Orchestrator.layer([first, second]).pipe(Layer.provide(Repository.layerMemory))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(layer)))
      expect(error).toBeInstanceOf(Errors.DefinitionError)
      expect(error.problem).toBe("DuplicatePipelineName")
      expect(error.pipeline).toBe("Same")
      // one pipeline under two names is fine
      const renamed = Pipeline.rename(first, "Other")
      const orchestrator = yield* Orchestrator.Orchestrator.pipe(
        Effect.provide(Orchestrator.layer([first, renamed]).pipe(Layer.provide(Repository.layerMemory)))
      )
      expect([...orchestrator.pipelines.keys()].sort()).toEqual(["Other", "Same"])
    }))

  it.effect("a child step whose pipeline the layer does not register: a DefinitionError naming it, when the layer is built", () =>
    Effect.gen(function*() {
      const inner = pipeline("Inner", a)
      const outer = pipeline("Outer", child("Run", inner), b)
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(Orchestrator.layer([outer]).pipe(Layer.provide(Repository.layerMemory))))
      )
      expect(error).toMatchObject({ problem: "InvalidOption", pipeline: "Outer", step: "Run" })
      expect(error.detail).toContain(`"Inner"`)
      // registered beside it, the layer builds
      yield* Effect.scoped(Layer.build(Orchestrator.layer([outer, inner]).pipe(Layer.provide(Repository.layerMemory))))
    }))

  it("child: a pipeline that is none, a missing input for a child with an input schema, an input that is no function: InvalidOption", () => {
    const untypedChild = child as unknown as (name: string, p: unknown, options?: unknown) => unknown
    expect(definitionError(() => untypedChild("C", "Inner")).problem).toBe("InvalidOption")
    const typed = pipeline("Typed", { input: Schema.Struct({ n: Schema.Number }) }, a)
    expect(definitionError(() => untypedChild("C", typed)).detail).toContain("give input")
    expect(definitionError(() => untypedChild("C", typed, { input: 42 })).detail).toContain("input must be a function")
  })

  it.effect("the same pipeline value registered twice is a duplicate too", () =>
    Effect.gen(function*() {
      const p = pipeline("Once", a)
      const result = yield* Effect.either(
        Effect.scoped(Layer.build(Orchestrator.layer([p, p]).pipe(Layer.provide(Repository.layerMemory))))
      )
      expect(Either.isLeft(result) && result.left.problem).toBe("DuplicatePipelineName")
    }))
})

describe("definitions are immutable values", () => {
  it("a pipeline exposes its name and its steps in order, in a frozen array", () => {
    const p = pipeline("Ordered", c, a, b)
    expect(p.name).toBe("Ordered")
    expect(p.steps.map((s) => s.name)).toEqual(["C", "A", "B"])
    expect(p.steps[0]).toBe(c)
    expect(Object.isFrozen(p.steps)).toBe(true)
    expect(() => (p.steps as unknown as Array<Step.Any>).push(a)).toThrow(TypeError)
    expect(() => {
      ;(p.steps as unknown as Array<Step.Any>)[0] = b
    }).toThrow(TypeError)
    expect(p.steps.map((s) => s.name)).toEqual(["C", "A", "B"])
    expect(p.indexOf("A")).toBe(1)
    expect(p.indexOf("Nope")).toBe(-1)
  })

  it("a pipeline's fields cannot be reassigned", () => {
    const p = pipeline("Fixed", a)
    expect(Object.isFrozen(p)).toBe(true)
    expect(() => {
      ;(p as { name: string }).name = "Changed"
    }).toThrow(TypeError)
    expect(p.name).toBe("Fixed")
  })

  it("a step's fields cannot be reassigned, and its needs are a frozen copy of the object given", () => {
    const needs: Record<string, Step.Any> = { a }
    const s = step("Needy", { needs, onContinue: () => Effect.succeed(Step.finish()) })
    const p = pipeline("WithNeedy", a, s)
    expect(Object.isFrozen(s)).toBe(true)
    expect(() => {
      ;(s as { name: string }).name = "Changed"
    }).toThrow(TypeError)
    expect(p.steps[1].name).toBe("Needy")
    needs.b = b
    expect(Object.keys(s.needs)).toEqual(["a"])
    expect(() => {
      ;(s.needs as Record<string, Step.Any>).c = c
    }).toThrow(TypeError)
    const retried = Step.withRetry(s, Schedule.recurs(1))
    expect(Object.isFrozen(retried)).toBe(true)
    expect(retried.name).toBe("Needy")
    expect(s.retry).toBeUndefined()
  })

  it("the array given to makeEffect is copied, not kept", () =>
    Effect.runPromise(Effect.gen(function*() {
      const steps: Array<Step.Any> = [a, b]
      const p = yield* Pipeline.makeEffect("Copied", {}, steps)
      steps.push(c)
      expect(p.steps.map((s) => s.name)).toEqual(["A", "B"])
    })))

  it("Pipeline.append returns a new pipeline and leaves the original unchanged", () => {
    const p = pipeline("Grow", a, b)
    const q = Pipeline.append(p, c)
    const r = p.pipe(Pipeline.append(c))
    expect(q).not.toBe(p)
    expect(q.name).toBe("Grow")
    expect(q.steps.map((s) => s.name)).toEqual(["A", "B", "C"])
    expect(r.steps.map((s) => s.name)).toEqual(["A", "B", "C"])
    expect(p.steps.map((s) => s.name)).toEqual(["A", "B"])
    expect(p.indexOf("C")).toBe(-1)
    expect(q.indexOf("C")).toBe(2)
    expect(Object.isFrozen(q.steps)).toBe(true)
  })

  it("Pipeline.append keeps the input schema", () => {
    const p = pipeline("WithInput", { input: Schema.Number }, a)
    const q = Pipeline.append(p, b)
    expect(q.input).toBe(Schema.Number)
  })

  it("Pipeline.rename returns a new pipeline with the same steps", () => {
    const p = pipeline("Before", a, b)
    const q = Pipeline.rename(p, "After")
    expect(q.name).toBe("After")
    expect(p.name).toBe("Before")
    expect(q.steps).toEqual(p.steps)
  })

  it("Step.withRetry returns a new step and leaves the original unchanged", () => {
    const policy = Schedule.recurs(3)
    const s = step("S", { onContinue: () => Effect.succeed(Step.finish()) })
    const retried = Step.withRetry(s, policy)
    const piped = s.pipe(Step.withRetry(policy))
    expect(retried).not.toBe(s)
    expect(retried.retry).toBe(policy)
    expect(piped.retry).toBe(policy)
    expect(s.retry).toBeUndefined()
    expect(retried.name).toBe("S")
    expect(retried.onContinue).toBe(s.onContinue)
    expect(Step.isStep(retried)).toBe(true)
  })

  it("Step.withTimeout returns a new step and leaves the original unchanged", () => {
    const s = step("T", { timeout: "1 second" })
    const t = Step.withTimeout(s, "5 seconds")
    expect(t).not.toBe(s)
    expect(Duration.toMillis(t.timeout!)).toBe(5000)
    expect(Duration.toMillis(s.timeout!)).toBe(1000)
    expect(step("U").timeout).toBeUndefined()
    expect(Duration.toMillis(step("U").pipe(Step.withTimeout(Duration.minutes(1))).timeout!)).toBe(60_000)
  })

  it("a step without onContinue finishes right after onStart", async () => {
    const s = step("Quick")
    expect(s.onStart).toBeUndefined()
    const outcome = await Effect.runPromise(s.onContinue({} as never) as Effect.Effect<Step.Outcome>)
    expect(outcome._tag).toBe("Finish")
  })

  it("a pipeline built with an input schema exposes it; the options object is not a step", () => {
    const p = pipeline("Typed", { input: Schema.String }, a)
    expect(p.input).toBe(Schema.String)
    expect(p.steps).toHaveLength(1)
    expect(pipeline("Untyped", a).input).toBeUndefined()
  })
})
