/**
 * The persisted shape of a run: the records every repository stores, their schemas, and the
 * decoded view that the orchestrator hands to users.
 *
 * Records keep the names of the Python original readable: a run (collection `pipelines`) has
 * `uuid, name, metadata.current_step, status`; a step (collection `pipeline_steps`) has
 * `uuid, name, pipeline_uuid, metadata, status`. Everything production needs is added beside them.
 * User values (pipeline input, step state and output, signal payloads) are stored as JSON text,
 * encoded with the schema that the pipeline or step declares.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The five statuses of runs and steps: `created`, `pending`, `finished`, `failed`, `cancelled`.
 *
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Literal("created", "pending", "finished", "failed", "cancelled")

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * The statuses of a step: the five of a run, and `skipped` (a conditional step whose condition was
 * false when it became current: it never ran). A run's statuses stay the original's five.
 *
 * @since 0.2.0
 * @category models
 */
export const StepStatus = Schema.Literal("created", "pending", "finished", "failed", "cancelled", "skipped")

/**
 * @since 0.2.0
 * @category models
 */
export type StepStatus = typeof StepStatus.Type

/**
 * The statuses after which nothing changes any more (unless an operator retries a failed run).
 *
 * @since 0.1.0
 * @category models
 */
export type TerminalStatus = "finished" | "failed" | "cancelled"

/**
 * Whether a status is terminal: `finished`, `failed` or `cancelled` (and, for a step, `skipped`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTerminal = <S extends StepStatus>(status: S): status is Extract<S, TerminalStatus | "skipped"> =>
  status === "finished" || status === "failed" || status === "cancelled" || status === "skipped"

/**
 * An error as it is persisted: a message, the cause pretty-printed, and the cause as structured
 * JSON (the `toJSON` of Effect's `Cause`, or `null` for a plain `Step.fail(reason)`).
 *
 * @since 0.1.0
 * @category models
 */
export const ErrorInfo = Schema.Struct({
  message: Schema.String,
  pretty: Schema.NullOr(Schema.String),
  cause: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ErrorInfo extends Schema.Schema.Type<typeof ErrorInfo> {}

/**
 * The `metadata` of a run record, as in the original: the step that the run is on (its name; the
 * original stored the step's uuid, but names are unique within a pipeline and readable).
 *
 * @since 0.1.0
 * @category models
 */
export const RunMetadata = Schema.Struct({
  current_step: Schema.NullOr(Schema.String)
})

/**
 * A run (one execution of a pipeline), as stored in the `pipelines` collection.
 *
 * - `revision` grows by one with every write that changes the run (a commit, a claim, a cancel); a
 *   commit names the revision it loaded and is refused if another write came in between.
 * - `wake_at` is when the run is due next (epoch milliseconds); `lease_owner` and
 *   `lease_expires_at` say which worker holds it and until when.
 * - `input` is the pipeline input as JSON text, encoded with the pipeline's input schema.
 * - `pending_signals` counts signals stored for the run and not yet handed to a step.
 *
 * @since 0.1.0
 * @category models
 */
export const RunRecord = Schema.Struct({
  uuid: Schema.String,
  name: Schema.String,
  status: Status,
  metadata: RunMetadata,
  input: Schema.NullOr(Schema.String),
  idempotency_key: Schema.NullOr(Schema.String),
  revision: Schema.Number,
  wake_at: Schema.Number,
  lease_owner: Schema.NullOr(Schema.String),
  lease_expires_at: Schema.NullOr(Schema.Number),
  pending_signals: Schema.Number,
  error: Schema.NullOr(ErrorInfo),
  created_at: Schema.Number,
  updated_at: Schema.Number,
  ended_at: Schema.NullOr(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RunRecord extends Schema.Schema.Type<typeof RunRecord> {}

/**
 * The `metadata` of a step record: free-form, as in the original. prorch keeps in it how many
 * times `onContinue` was called for the step (`continuations`).
 *
 * @since 0.1.0
 * @category models
 */
export const StepMetadata = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * One step of a run, as stored in the `pipeline_steps` collection.
 *
 * - `uuid` is the step run id: stable across retries and crashes, the idempotency key for the
 *   external work that the step starts.
 * - `attempt` is the number of the next (or current) handler call, from 1; it grows when a
 *   handler fails and the step's retry policy schedules another attempt, and goes back to 1 after
 *   a call succeeds (retries count consecutive failures).
 * - `started_at` is set when the result of `onStart` is committed.
 * - `state` and `output` are JSON text, encoded with the step's schemas.
 *
 * @since 0.1.0
 * @category models
 */
export const StepRecord = Schema.Struct({
  uuid: Schema.String,
  name: Schema.String,
  pipeline_uuid: Schema.String,
  position: Schema.Number,
  status: StepStatus,
  metadata: StepMetadata,
  attempt: Schema.Number,
  state: Schema.NullOr(Schema.String),
  output: Schema.NullOr(Schema.String),
  error: Schema.NullOr(ErrorInfo),
  created_at: Schema.Number,
  updated_at: Schema.Number,
  started_at: Schema.NullOr(Schema.Number),
  ended_at: Schema.NullOr(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface StepRecord extends Schema.Schema.Type<typeof StepRecord> {}

/**
 * A signal stored for a step of a run and not yet handed to it.
 *
 * @since 0.1.0
 * @category models
 */
export const SignalRecord = Schema.Struct({
  id: Schema.String,
  run_uuid: Schema.String,
  step: Schema.String,
  payload: Schema.String,
  created_at: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export interface SignalRecord extends Schema.Schema.Type<typeof SignalRecord> {}

/**
 * The kinds of history events.
 *
 * @since 0.1.0
 * @category models
 */
export const EventType = Schema.Literal(
  "created",
  "started",
  "continued",
  "waited",
  "finished",
  "failed",
  "retried",
  "cancelled",
  "signalled",
  "lease_lost",
  "skipped"
)

/**
 * @since 0.1.0
 * @category models
 */
export type EventType = typeof EventType.Type

/**
 * One entry of a run's append-only history. `step` is `null` for events of the run itself (its
 * creation, its end); `worker` is the owner id of the worker (or orchestrator) that wrote it.
 *
 * @since 0.1.0
 * @category models
 */
export const HistoryEvent = Schema.Struct({
  run_uuid: Schema.String,
  at: Schema.Number,
  type: EventType,
  step: Schema.NullOr(Schema.String),
  attempt: Schema.NullOr(Schema.Number),
  worker: Schema.NullOr(Schema.String),
  data: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category models
 */
export interface HistoryEvent extends Schema.Schema.Type<typeof HistoryEvent> {}

/**
 * A run with its steps (in pipeline order) and its signals not yet handed to a step: what a
 * repository loads and what the interpreter looks at.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly run: RunRecord
  readonly steps: ReadonlyArray<StepRecord>
  readonly signals: ReadonlyArray<SignalRecord>
}

/**
 * A run's new state, written atomically by `Repository.commit`: the run record (whose `revision`
 * is `expectedRevision + 1`), the step records that changed, the step records that are new (`added`:
 * the members of a `forEach`, created when it starts; absent or empty for most commits), the
 * history events that record the change, and the signals that the tick handed to a step. `previous` is the run record as it was
 * loaded, when the writer has it: a store may use it to write only the columns that changed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Commit {
  readonly run: RunRecord
  readonly previous?: RunRecord | undefined
  readonly steps: ReadonlyArray<StepRecord>
  readonly added?: ReadonlyArray<StepRecord> | undefined
  readonly events: ReadonlyArray<HistoryEvent>
  readonly expectedRevision: number
  readonly consumedSignals: ReadonlyArray<string>
}

/**
 * The view of one step of a run, with its state and output decoded.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepView {
  readonly id: string
  readonly name: string
  readonly status: StepStatus
  readonly attempt: number
  readonly state: unknown
  readonly output: unknown
  readonly error: ErrorInfo | null
  readonly metadata: Readonly<Record<string, unknown>>
  readonly startedAt: Date | null
  readonly endedAt: Date | null
}

/**
 * The view of a run that `Orchestrator.get` returns: its records, with the pipeline input and the
 * steps' state and output decoded with their schemas.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunView {
  readonly id: string
  readonly pipeline: string
  readonly status: Status
  readonly currentStep: string | null
  readonly input: unknown
  readonly steps: ReadonlyArray<StepView>
  readonly error: ErrorInfo | null
  /** the run whose `child` step started this run, and that step's name; `null` for a run of its own */
  readonly parent?: { readonly runId: string; readonly step: string } | null | undefined
  /** the runs that this run's `child` steps started, by step */
  readonly children?: ReadonlyArray<{ readonly step: string; readonly runId: string }> | undefined
  readonly idempotencyKey: string | null
  readonly revision: number
  readonly wakeAt: Date
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly endedAt: Date | null
}

/**
 * A run as `Orchestrator.list` returns it: the run record without its steps.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSummary {
  readonly id: string
  readonly pipeline: string
  readonly status: Status
  readonly currentStep: string | null
  readonly idempotencyKey: string | null
  readonly error: ErrorInfo | null
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly endedAt: Date | null
}

/**
 * The summary view of a run record.
 *
 * @since 0.1.0
 * @category constructors
 */
export const summary = (run: RunRecord): RunSummary => ({
  id: run.uuid,
  pipeline: run.name,
  status: run.status,
  currentStep: run.metadata.current_step,
  idempotencyKey: run.idempotency_key,
  error: run.error,
  createdAt: new Date(run.created_at),
  updatedAt: new Date(run.updated_at),
  endedAt: run.ended_at === null ? null : new Date(run.ended_at)
})
