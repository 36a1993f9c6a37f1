/**
 * @internal the library's tables, defined once and rendered as DDL for each dialect; the row
 * schemas of the runs, steps and signals, derived from `Run`'s records
 */
import type * as AST from "effect/SchemaAST"
import * as Schema from "effect/Schema"
import { RunRecord, SignalRecord, StepRecord } from "../../Run.js"
import type { Tables } from "./dialect.js"

/** `text`; `int`: a small counter; `time`: epoch milliseconds (and the revision), 64 bits */
/** @internal */
export type ColumnType = "text" | "int" | "time"

interface Column {
  readonly name: string
  readonly type: ColumnType
  readonly notNull?: boolean
  readonly default?: string
  readonly references?: { readonly table: keyof Tables; readonly column: string }
}

/** @internal */
export interface Table {
  readonly table: keyof Tables
  readonly columns: ReadonlyArray<Column>
  readonly primaryKey?: ReadonlyArray<string>
  /** its rows are read by their primary key (SQLite: `WITHOUT ROWID`) */
  readonly clustered: boolean
  /** its rows are updated often (PostgreSQL: room on each page for updates in place) */
  readonly updated: boolean
}

interface Index {
  readonly name: string
  readonly table: keyof Tables
  readonly columns: ReadonlyArray<string>
  readonly unique?: boolean
  readonly where?: string
}

const col = (name: string, type: ColumnType, notNull = false, extra: Partial<Column> = {}): Column => ({
  name,
  type,
  notNull,
  ...extra
})

/**
 * @internal the tables of the first migration, as they are created (the second renames the runs'
 * `version` to `revision`)
 */
export const tables: ReadonlyArray<Table> = [
  {
    table: "runs",
    clustered: true,
    updated: true,
    columns: [
      col("uuid", "text", false),
      col("name", "text", true),
      col("status", "text", true),
      col("metadata", "text", true),
      col("input", "text"),
      col("idempotency_key", "text"),
      col("version", "time", true),
      col("wake_at", "time", true),
      col("lease_owner", "text"),
      col("lease_expires_at", "time"),
      col("pending_signals", "int", true, { default: "0" }),
      col("error", "text"),
      col("created_at", "time", true),
      col("updated_at", "time", true),
      col("ended_at", "time"),
      col("events", "int", true, { default: "0" })
    ],
    primaryKey: ["uuid"]
  },
  {
    table: "steps",
    clustered: true,
    updated: true,
    columns: [
      col("pipeline_uuid", "text", true, { references: { table: "runs", column: "uuid" } }),
      col("position", "int", true),
      col("uuid", "text", true),
      col("name", "text", true),
      col("status", "text", true),
      col("metadata", "text", true),
      col("attempt", "int", true),
      col("state", "text"),
      col("output", "text"),
      col("error", "text"),
      col("created_at", "time", true),
      col("updated_at", "time", true),
      col("started_at", "time"),
      col("ended_at", "time")
    ],
    primaryKey: ["pipeline_uuid", "position"]
  },
  {
    table: "history",
    clustered: true,
    updated: false,
    columns: [
      col("run_uuid", "text", true),
      col("seq", "int", true),
      col("at", "time", true),
      col("type", "text", true),
      col("step", "text"),
      col("attempt", "int"),
      col("worker", "text"),
      col("data", "text")
    ],
    primaryKey: ["run_uuid", "seq"]
  },
  {
    table: "signals",
    clustered: false,
    updated: false,
    columns: [
      col("id", "text", false),
      col("run_uuid", "text", true),
      col("step", "text", true),
      col("payload", "text", true),
      col("created_at", "time", true),
      col("consumed_at", "time")
    ],
    primaryKey: ["id"]
  }
]

/** @internal the indexes of the first migration */
export const indexes: ReadonlyArray<Index> = [
  { name: "pipelines_due", table: "runs", columns: ["wake_at", "uuid"], where: "status IN ('created', 'pending')" },
  {
    name: "pipelines_idempotency",
    table: "runs",
    columns: ["name", "idempotency_key"],
    unique: true,
    where: "idempotency_key IS NOT NULL"
  },
  { name: "pipelines_created", table: "runs", columns: ["created_at", "uuid"] },
  { name: "pipelines_name_created", table: "runs", columns: ["name", "created_at"] },
  { name: "pipelines_status_created", table: "runs", columns: ["status", "created_at"] },
  { name: "signals_pending", table: "signals", columns: ["run_uuid", "created_at"], where: "consumed_at IS NULL" }
]

/** @internal how a dialect writes what differs: column types, table options, index names */
export interface Ddl {
  readonly type: (type: ColumnType) => string
  /** what follows the closing parenthesis of a table (`clustered`, `updated`) */
  readonly tableOptions: (table: Pick<Table, "clustered" | "updated">) => string
  readonly indexName: (name: string) => string
}

/** @internal `CREATE TABLE` and `CREATE INDEX` statements of the tables, in the dialect */
export const render = (ddl: Ddl, names: Tables): ReadonlyArray<string> => {
  const table = (t: Table): string => {
    const columns = t.columns.map((c) => {
      const key = t.primaryKey?.length === 1 && t.primaryKey[0] === c.name ? " PRIMARY KEY" : ""
      const notNull = c.notNull === true ? " NOT NULL" : ""
      const references = c.references === undefined ? "" : ` REFERENCES ${names[c.references.table]} (${c.references.column})`
      const fallback = c.default === undefined ? "" : ` DEFAULT ${c.default}`
      return `  ${c.name} ${ddl.type(c.type)}${key}${notNull}${references}${fallback}`
    })
    if (t.primaryKey !== undefined && t.primaryKey.length > 1) columns.push(`  PRIMARY KEY (${t.primaryKey.join(", ")})`)
    return `CREATE TABLE ${names[t.table]} (\n${columns.join(",\n")}\n)${ddl.tableOptions(t)}`
  }
  const index = (i: Index): string =>
    `CREATE ${i.unique === true ? "UNIQUE " : ""}INDEX ${ddl.indexName(i.name)} ON ${names[i.table]} ` +
    `(${i.columns.join(", ")})${i.where === undefined ? "" : ` WHERE ${i.where}`}`
  const statements: Array<string> = []
  for (const t of tables) {
    statements.push(table(t))
    for (const i of indexes) if (i.table === t.table) statements.push(index(i))
  }
  return statements
}

// --- rows ------------------------------------------------------------------------------------

/** a number as a driver returns it: a number, or a string (PostgreSQL's BIGINT) */
const Num = Schema.Union(Schema.Number, Schema.NumberFromString)
/** a value stored as JSON text (or already parsed by the driver) */
const Json = <A, I>(schema: Schema.Schema<A, I>) => Schema.Union(Schema.parseJson(schema), schema)

const isNumber = (ast: AST.AST) => ast._tag === "NumberKeyword"
const isNull = (ast: AST.AST) => ast._tag === "Literal" && ast.literal === null
/** a struct or a record: stored as JSON text */
const isObject = (ast: AST.AST) => ast._tag === "TypeLiteral"

/**
 * @internal the schema of a table's rows from the schema of its records: numbers may come as
 * strings, objects are JSON text; a field added to a record is a column of the row at once
 */
export const rowOf = <F extends Schema.Struct.Fields>(
  record: Schema.Struct<F>
): Schema.Schema<Schema.Struct.Type<F>, unknown> => {
  const fields: Record<string, Schema.Schema.Any> = {}
  for (const [key, field] of Object.entries(record.fields as Record<string, Schema.Schema.Any>)) {
    const ast = field.ast
    const nullable = ast._tag === "Union" && ast.types.length === 2 && ast.types.some(isNull)
    const inner = nullable ? (ast as AST.Union).types.find((t) => !isNull(t))! : ast
    const base = isNumber(inner)
      ? Num
      : isObject(inner)
      ? Json(Schema.make(inner) as Schema.Schema<unknown, unknown>)
      : Schema.make(inner)
    fields[key] = nullable ? Schema.NullOr(base) : base
  }
  return Schema.Struct(fields) as unknown as Schema.Schema<Schema.Struct.Type<F>, unknown>
}

/** @internal */
export const RunRow = rowOf(RunRecord)
/** @internal */
export const StepRow = rowOf(StepRecord)
/** @internal */
export const SignalRow = rowOf(SignalRecord)
