/** A fan-out of 10,000 members on a SQLite file and on PostgreSQL (see test/fanout.scale.test.ts). */
import { describe, inject, it } from "vitest"
import { postgres, sqliteFile } from "../support/backends.js"
import { fanOutOf } from "../support/fanoutScale.js"

describe("forEach at scale", () => {
  it("10,000 members on a SQLite file", () => fanOutOf(sqliteFile(), 10_000), 180_000)
  const url = inject("pgUrl")
  if (url === null) it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {})
  else it("10,000 members on PostgreSQL", () => fanOutOf(postgres(url, inject("pgRunId")), 10_000), 180_000)
})
