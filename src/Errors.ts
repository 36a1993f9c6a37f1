/**
 * The typed errors of prorch. Every error is a `Data.TaggedError` marked with `TypeId`: match on
 * `_tag` with `Effect.catchTag`, read its `message`, or tell it with the guards (`isProrchError`,
 * `isRunNotFound`, `isCorruptRecord`, ...), which check the mark as well as the tag.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * The mark of prorch's errors: `isProrchError` tells them from any other value.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("prorch/Errors")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What is wrong with a step or pipeline definition.
 *
 * @since 0.1.0
 * @category models
 */
export type DefinitionProblem =
  | "BlankPipelineName"
  | "BlankStepName"
  | "NoSteps"
  | "DuplicateStepName"
  | "NotAStep"
  | "MissingNeed"
  | "EmptyGroup"
  | "StateWithoutOnStart"
  | "OutputWithoutOnContinue"
  | "DuplicatePipelineName"
  | "InvalidOption"

/**
 * An invalid step or pipeline definition: a blank name, a pipeline without steps, two steps with
 * the same name in one pipeline, a step that needs the output of a step that does not come before
 * it, two registered pipelines with the same name.
 *
 * `step(...)` and `pipeline(...)` throw it (definitions are module-level values, and a bad one
 * should stop the program at once); `Pipeline.makeEffect` and `Orchestrator.layer` return it in
 * the error channel.
 *
 * @since 0.1.0
 * @category errors
 */
export class DefinitionError extends Data.TaggedError("DefinitionError")<{
  readonly problem: DefinitionProblem
  readonly pipeline: string | undefined
  readonly step: string | undefined
  readonly detail: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const where = [
      this.pipeline === undefined ? undefined : `pipeline ${JSON.stringify(this.pipeline)}`,
      this.step === undefined ? undefined : `step ${JSON.stringify(this.step)}`
    ].filter((_) => _ !== undefined).join(", ")
    return `${this.problem}${where === "" ? "" : ` (${where})`}: ${this.detail}`
  }
}

/**
 * The storage failed (a SQL error, a broken connection, a failing custom store). The operation
 * did not happen, or, for a commit, it happened entirely or not at all.
 *
 * @since 0.1.0
 * @category errors
 */
export class RepositoryError extends Data.TaggedError("RepositoryError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    // the driver's own words are often a level or two down (`SqlError` "Failed to execute
    // statement", caused by the database's "UNIQUE constraint failed: ...")
    const messages: Array<string> = []
    let cause: unknown = this.cause
    for (let depth = 0; depth < 4 && cause !== undefined && cause !== null; depth++) {
      const text = cause instanceof Error ? cause.message : typeof cause === "object" ? undefined : String(cause)
      if (text !== undefined && text !== "" && !messages.includes(text)) messages.push(text)
      cause = typeof cause === "object" ? (cause as { cause?: unknown }).cause : undefined
    }
    const words = messages.length === 0 ? String(this.cause) : messages.join(": ")
    return `repository operation ${this.operation} failed: ${words}`
  }
}

/**
 * A commit was refused because the run changed since it was loaded (another worker claimed it
 * after this one's lease expired, or an operator cancelled it). Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly runId: string
  readonly expected: number
  readonly actual: number | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `run ${this.runId} changed concurrently: expected revision ${this.expected}, found ${
      this.actual === undefined ? "no run" : this.actual
    }`
  }
}

/**
 * A stored record no longer decodes (a column changed by hand, a status that does not exist).
 * Nothing is changed: the run stays as it is stored, for an operator to look at.
 *
 * @since 0.1.0
 * @category errors
 */
export class CorruptRecord extends Data.TaggedError("CorruptRecord")<{
  readonly runId: string
  readonly detail: string
  /** the stored column (or field) that does not decode, when the storage can say */
  readonly column?: string | undefined
  /** the value stored there, as stored (cut to 60 characters) */
  readonly value?: string | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return this.column === undefined
      ? `run ${this.runId} has a record that does not decode: ${this.detail}`
      : `${this.column} = ${this.value} does not decode (run ${this.runId}, ${this.detail})`
  }
}

/**
 * A stored pipeline input, step state, step output or signal payload no longer decodes with the
 * schema that the pipeline or step declares (the schema changed, or the data was edited).
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Data.TaggedError("DecodeError")<{
  readonly runId: string
  readonly what: string
  readonly detail: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `run ${this.runId}: the stored ${this.what} does not decode: ${this.detail}`
  }
}

/**
 * A value given to prorch (a pipeline input, a step's state or output, a signal payload) does not
 * encode with its schema, or does not become JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class EncodeError extends Data.TaggedError("EncodeError")<{
  readonly what: string
  readonly detail: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `cannot encode the ${this.what}: ${this.detail}`
  }
}

/**
 * No run has that id.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotFound extends Data.TaggedError("RunNotFound")<{
  readonly runId: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `no run with id ${this.runId}`
  }
}

/**
 * A stored run names a pipeline that this orchestrator does not know (it was not given to
 * `Orchestrator.layer`): the run is left as it is.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownPipeline extends Data.TaggedError("UnknownPipeline")<{
  readonly runId: string | undefined
  readonly pipeline: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `pipeline ${JSON.stringify(this.pipeline)} is not registered with this orchestrator${
      this.runId === undefined ? "" : ` (run ${this.runId})`
    }`
  }
}

/**
 * A management operation does not apply to the run as it is (cancelling a run that has ended,
 * retrying a run that has not failed, signalling a step that has ended or that has no signal
 * schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOperation extends Data.TaggedError("InvalidOperation")<{
  readonly runId: string
  readonly operation: string
  readonly detail: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `cannot ${this.operation} run ${this.runId}: ${this.detail}`
  }
}

/**
 * A `cursor` given to `Orchestrator.list` is not one that `list` returned (garbage, or cut short).
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidCursor extends Data.TaggedError("InvalidCursor")<{
  readonly cursor: string
}> {
  /** @since 0.2.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${JSON.stringify(this.cursor)} is not a cursor that list returned`
  }
}

/**
 * The worker's lease on a run was taken by another worker (the lease expired while a handler was
 * running). The tick stopped without writing.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{
  readonly runId: string
  readonly owner: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `worker ${this.owner} lost its lease on run ${this.runId}`
  }
}

/**
 * A handler call took longer than the step's `timeout`.
 *
 * @since 0.1.0
 * @category errors
 */
export class HandlerTimeout extends Data.TaggedError("HandlerTimeout")<{
  readonly step: string
  readonly handler: "onStart" | "onContinue"
  readonly timeout: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${this.handler} of step ${JSON.stringify(this.step)} timed out after ${this.timeout}`
  }
}

/**
 * The errors that ticking one run can end with. They are reported per run (in a pass summary or
 * by `Orchestrator.tick`); none of them stops a pass or a worker.
 *
 * @since 0.1.0
 * @category models
 */
export type TickError =
  | RepositoryError
  | VersionConflict
  | CorruptRecord
  | DecodeError
  | EncodeError
  | UnknownPipeline
  | LeaseLost

/**
 * Every error of prorch's core.
 *
 * @since 0.1.0
 * @category models
 */
export type ProrchError = DefinitionError | RepositoryError | VersionConflict | CorruptRecord | DecodeError | EncodeError | RunNotFound | UnknownPipeline | InvalidOperation | InvalidCursor | LeaseLost | HandlerTimeout

/**
 * Whether a value is one of prorch's errors.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isProrchError = (u: unknown): u is ProrchError => Predicate.hasProperty(u, TypeId)

const is = <A extends ProrchError>(tag: A["_tag"]) => (u: unknown): u is A => isProrchError(u) && u._tag === tag

/**
 * Whether a value is a `DefinitionError`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isDefinitionError: (u: unknown) => u is DefinitionError = is<DefinitionError>("DefinitionError")

/**
 * Whether a value is an `InvalidCursor`.
 *
 * @since 0.2.0
 * @category refinements
 */
export const isInvalidCursor: (u: unknown) => u is InvalidCursor = is<InvalidCursor>("InvalidCursor")

/**
 * Whether a value is a `RepositoryError`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRepositoryError: (u: unknown) => u is RepositoryError = is<RepositoryError>("RepositoryError")

/**
 * Whether a value is a `VersionConflict`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isVersionConflict: (u: unknown) => u is VersionConflict = is<VersionConflict>("VersionConflict")

/**
 * Whether a value is a `CorruptRecord`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isCorruptRecord: (u: unknown) => u is CorruptRecord = is<CorruptRecord>("CorruptRecord")

/**
 * Whether a value is a `DecodeError`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isDecodeError: (u: unknown) => u is DecodeError = is<DecodeError>("DecodeError")

/**
 * Whether a value is a `EncodeError`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isEncodeError: (u: unknown) => u is EncodeError = is<EncodeError>("EncodeError")

/**
 * Whether a value is a `RunNotFound`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isRunNotFound: (u: unknown) => u is RunNotFound = is<RunNotFound>("RunNotFound")

/**
 * Whether a value is a `UnknownPipeline`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isUnknownPipeline: (u: unknown) => u is UnknownPipeline = is<UnknownPipeline>("UnknownPipeline")

/**
 * Whether a value is a `InvalidOperation`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isInvalidOperation: (u: unknown) => u is InvalidOperation = is<InvalidOperation>("InvalidOperation")

/**
 * Whether a value is a `LeaseLost`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isLeaseLost: (u: unknown) => u is LeaseLost = is<LeaseLost>("LeaseLost")

/**
 * Whether a value is a `HandlerTimeout`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isHandlerTimeout: (u: unknown) => u is HandlerTimeout = is<HandlerTimeout>("HandlerTimeout")
