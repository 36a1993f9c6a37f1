/**
 * @internal the rows of the tables, decoded into records and encoded as statement parameters
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CorruptRecord } from "../../Errors.js"
import type { HistoryEvent, RunRecord, SignalRecord, StepRecord } from "../../Run.js"
import { EventType } from "../../Run.js"
import { corruptRow } from "../corrupt.js"
import { RunRow, SignalRow, StepRow } from "./schema.js"

const Num = Schema.Union(Schema.Number, Schema.NumberFromString)

const EventRow = Schema.Struct({
  seq: Num,
  run_uuid: Schema.String,
  at: Num,
  type: EventType,
  step: Schema.NullOr(Schema.String),
  attempt: Schema.NullOr(Num),
  worker: Schema.NullOr(Schema.String),
  data: Schema.NullOr(Schema.String)
})

const decodeRunRow = Schema.decodeUnknownEither(RunRow)
const decodeStepRow = Schema.decodeUnknownEither(StepRow)
const decodeSignalRow = Schema.decodeUnknownEither(SignalRow)
/** @internal */
export const decodeEventRow = Schema.decodeUnknownEither(EventRow)

/** @internal */
export const describe = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error)

/** @internal */
export const decodeRun = (row: any): Either.Either<RunRecord, CorruptRecord> =>
  Either.mapLeft(
    decodeRunRow(row),
    (error) => corruptRow(String(row?.uuid), "the run record", row, error)
  )

/** @internal */
export const decodeSteps = (runId: string, rows: ReadonlyArray<any>): Either.Either<Array<StepRecord>, CorruptRecord> => {
  const steps: Array<StepRecord> = []
  for (const row of rows) {
    const step = decodeStepRow(row)
    if (Either.isLeft(step)) {
      return Either.left(corruptRow(runId, "a step record", row, step.left))
    }
    steps.push(step.right)
  }
  steps.sort((a, b) => a.position - b.position)
  return Either.right(steps)
}

/** @internal */
export const decodeSignals = (runId: string, rows: ReadonlyArray<any>): Either.Either<Array<SignalRecord>, CorruptRecord> => {
  const signals: Array<SignalRecord> = []
  for (const row of rows) {
    const signal = decodeSignalRow(row)
    if (Either.isLeft(signal)) {
      return Either.left(corruptRow(runId, "a signal record", row, signal.left))
    }
    signals.push(signal.right)
  }
  return Either.right(signals)
}

/** @internal */
export const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value))

// The parameters of the statements, appended to one array: the hot paths build them for every
// write, and building them with `flatMap` and spreads of small arrays showed in its profile.

/** @internal */
export const pushRun = (params: Array<unknown>, run: RunRecord, events: number): Array<unknown> => {
  params.push(
    run.uuid,
    run.name,
    run.status,
    JSON.stringify(run.metadata),
    run.input,
    run.idempotency_key,
    run.revision,
    run.wake_at,
    run.lease_owner,
    run.lease_expires_at,
    run.pending_signals,
    json(run.error),
    run.created_at,
    run.updated_at,
    run.ended_at,
    events
  )
  return params
}

/** a step's columns that its transitions change, encoded, in the table's order */
const pushStepState = (params: Array<unknown>, step: StepRecord): void => {
  params.push(step.status, JSON.stringify(step.metadata), step.attempt, step.state, step.output, json(step.error))
}

/** @internal */
export const pushSteps = (params: Array<unknown>, steps: ReadonlyArray<StepRecord>): Array<unknown> => {
  for (const step of steps) {
    params.push(step.uuid, step.pipeline_uuid, step.position, step.name)
    pushStepState(params, step)
    params.push(step.created_at, step.updated_at, step.started_at, step.ended_at)
  }
  return params
}

/** the columns a commit writes for a step, then its key (`pipeline_uuid`, `position`) */
/** @internal */
export const pushChangedStep = (params: Array<unknown>, step: StepRecord): Array<unknown> => {
  pushStepState(params, step)
  params.push(step.updated_at, step.started_at, step.ended_at, step.pipeline_uuid, step.position)
  return params
}

/** events numbered from `first` on */
/** @internal */
export const pushEvents = (params: Array<unknown>, events: ReadonlyArray<HistoryEvent>, first: number): Array<unknown> => {
  for (let i = 0; i < events.length; i++) {
    const event = events[i]
    params.push(event.run_uuid, first + i, event.at, event.type, event.step, event.attempt, event.worker, json(event.data))
  }
  return params
}
