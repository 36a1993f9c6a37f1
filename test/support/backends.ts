import Database from "better-sqlite3"
import { Effect, Layer, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { Repository } from "prorch"
import { PgRepository } from "prorch/Pg"
import { SqliteRepository } from "prorch/Sqlite"

/** A repository backend that the behavioural suite runs against. */
export interface Backend {
  readonly name: string
  /** a fresh, empty repository */
  readonly fresh: () => Layer.Layer<Repository.Repository, unknown>
  /** a repository over the same storage as the last `fresh()` (a restart), when the backend is durable */
  readonly reopen?: () => Layer.Layer<Repository.Repository, unknown>
  /** run raw SQL on the storage of the last `fresh()` (to corrupt rows), when the backend is SQL */
  readonly sql?: (statement: string) => Effect.Effect<void, unknown>
  /**
   * the storage answers over a network, in real time: under the TestClock, how its replies
   * interleave with the fibers of one instant changes from run to run
   */
  readonly realTime?: boolean
}

let dir: string | undefined
/** a temporary directory for this test process */
export const tmpDir = (): string => {
  if (dir === undefined) dir = fs.mkdtempSync(path.join(os.tmpdir(), "prorch-test-"))
  return dir
}

let counter = 0
/** a new SQLite file name in the temporary directory */
export const tmpFile = (name = "db"): string => path.join(tmpDir(), `${name}-${process.pid}-${++counter}.sqlite`)

export const memory: Backend = {
  name: "memory",
  fresh: () => Repository.layerMemory
}

export const sqliteFile = (): Backend => {
  let file = tmpFile()
  return {
    name: "sqlite file",
    fresh: () => {
      file = tmpFile()
      return SqliteRepository.layer({ filename: file })
    },
    reopen: () => SqliteRepository.layer({ filename: file }),
    sql: (statement) =>
      Effect.sync(() => {
        // a separate connection, as an operator's sqlite3 shell would be
        const db = new Database(file)
        try {
          db.pragma("busy_timeout = 5000")
          db.exec(statement)
        } finally {
          db.close()
        }
      })
  }
}

/** the original's four-operation contract over in-memory maps */
export const makeMapStore = () => {
  const collections = new Map<string, Map<string, Record<string, unknown>>>()
  const table = (name: string) => {
    let t = collections.get(name)
    if (t === undefined) {
      t = new Map()
      collections.set(name, t)
    }
    return t
  }
  const copy = <A>(value: A): A => structuredClone(value)
  const store: Repository.CrudStore<never> = {
    get: (collection, uuid) => Effect.sync(() => copy(table(collection).get(uuid))),
    save: (collection, data) => Effect.sync(() => table(collection).set(String(data.uuid), copy({ ...data }))),
    update: (collection, uuid, data) =>
      Effect.sync(() => {
        const current = table(collection).get(uuid)
        if (current !== undefined) table(collection).set(uuid, copy({ ...current, ...data }))
      }),
    search: (collection, [field, value]) =>
      Effect.sync(() => [...table(collection).values()].filter((row) => row[field] === value).map(copy))
  }
  return { store, collections }
}

export const crudMaps = (): Backend => {
  let current = makeMapStore()
  return {
    name: "four-operation adapter",
    fresh: () => {
      current = makeMapStore()
      return Repository.layerCrud(current.store)
    },
    reopen: () => Repository.layerCrud(current.store)
  }
}

let pgCounter = 0
/** a schema of its own for a PostgreSQL test */
export const pgSchema = (runId: string) =>
  `prorch_t_${runId}_${process.pid.toString(36)}_${(++pgCounter).toString(36)}`

/**
 * PostgreSQL, a fresh schema per `fresh()`. Under the TestClock suites, NOTIFY wake-ups (which
 * arrive in real time) are off; `test/pg.process.test.ts` tests them with real workers.
 */
export const postgres = (url: string, runId: string, listen = false): Backend & { schema: () => string } => {
  let schema = pgSchema(runId)
  const layer = () => PgRepository.layer({ url: Redacted.make(url), schema, maxConnections: 5, listen })
  return {
    name: "postgres",
    realTime: true,
    schema: () => schema,
    fresh: () => {
      schema = pgSchema(runId)
      return layer()
    },
    reopen: layer,
    sql: (statement) =>
      Effect.promise(async () => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        try {
          await client.query(`SET search_path TO "${schema}"`)
          await client.query(statement)
        } finally {
          await client.end()
        }
      })
  }
}
