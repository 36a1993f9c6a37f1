/**
 * A custom repository over one plain JSON file, through the four-operation contract of the
 * Python original (its TinyDB example): `get`, `save`, `update`, `search`, each an Effect.
 * `Repository.layerCrud(store)` builds the whole Repository service from them.
 *
 * What this adapter cannot guarantee (four such operations cannot express it; see the JSDoc of
 * `Repository.layerCrud`):
 * - atomicity across records: a state change of a run is several writes (the run, then its
 *   steps, then its history), and the version check is a read followed by a write; a crash in
 *   between leaves a partly written change;
 * - several workers or processes on one file: two of them can claim the same run, and two
 *   processes can overwrite each other's writes. Run one orchestrator per file, or use the SQLite
 *   or PostgreSQL layers;
 * - an indexed due query: finding the due runs is a `search` by status filtered in memory, and
 *   every operation here reads and rewrites the whole file.
 *
 * Within one process, each operation is atomic: it reads, changes and writes the file with
 * synchronous I/O, so no other fiber runs in between; and a write goes to a temporary file that
 * is then renamed over the database, so that a crash never leaves half a JSON document.
 */
import { Data, Effect } from "effect"
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import type { Repository } from "prorch"

/** A record of a collection, as stored. */
type Row = Readonly<Record<string, unknown>>

/** The JSON document: one array of records per collection (like TinyDB's tables). */
type Document = Partial<Record<Repository.Collection, Array<Row>>>

/** The JSON file could not be read, parsed or written. */
export class JsonFileStoreError extends Data.TaggedError("JsonFileStoreError")<{
  readonly operation: "read" | "write"
  readonly path: string
  readonly cause: unknown
}> {
  override get message() {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `cannot ${this.operation} ${this.path}: ${reason}`
  }
}

/** The four operations over the JSON file at `path` (created at the first write). */
export class JsonFileStore implements Repository.CrudStore<JsonFileStoreError> {
  constructor(readonly path: string) {}

  private read(): Effect.Effect<Document, JsonFileStoreError> {
    return Effect.try({
      try: () => (existsSync(this.path) ? (JSON.parse(readFileSync(this.path, "utf8")) as Document) : {}),
      catch: (cause) => new JsonFileStoreError({ operation: "read", path: this.path, cause })
    })
  }

  private write(document: Document): Effect.Effect<void, JsonFileStoreError> {
    return Effect.try({
      try: () => {
        mkdirSync(dirname(this.path), { recursive: true })
        const temporary = `${this.path}.${process.pid}.tmp`
        writeFileSync(temporary, JSON.stringify(document, null, 2))
        renameSync(temporary, this.path)
      },
      catch: (cause) => new JsonFileStoreError({ operation: "write", path: this.path, cause })
    })
  }

  /** Read the document, change one collection in place, write it back: one synchronous step. */
  private change(collection: Repository.Collection, f: (rows: Array<Row>) => void) {
    return Effect.flatMap(this.read(), (document) => {
      const rows = document[collection] ?? []
      f(rows)
      return this.write({ ...document, [collection]: rows })
    })
  }

  /** The record with this uuid, or `undefined` (TinyDB's `table.get(where("uuid") == uuid)`). */
  readonly get = (collection: Repository.Collection, uuid: string) =>
    Effect.map(this.read(), (document) => document[collection]?.find((row) => row.uuid === uuid))

  /** Insert a record (TinyDB's `table.insert(data)`). */
  readonly save = (collection: Repository.Collection, data: Row) =>
    this.change(collection, (rows) => {
      rows.push(data)
    })

  /** Replace the given fields of the record with this uuid (TinyDB's `table.update(data, ...)`). */
  readonly update = (collection: Repository.Collection, uuid: string, data: Row) =>
    this.change(collection, (rows) => {
      const index = rows.findIndex((row) => row.uuid === uuid)
      if (index >= 0) rows[index] = { ...rows[index], ...data }
    })

  /** The records whose `field` equals `value` (TinyDB's `table.search(where(field) == value)`). */
  readonly search = (collection: Repository.Collection, [field, value]: readonly [string, unknown]) =>
    Effect.map(this.read(), (document) => (document[collection] ?? []).filter((row) => row[field] === value))
}
