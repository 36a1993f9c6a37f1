import { describe, inject, it } from "vitest"
import { postgres } from "./support/backends.js"
import { corruption, retriedWrites } from "./support/sqlSuite.js"

const url = inject("pgUrl")

if (url === null) {
  describe("PostgreSQL", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  const backend = postgres(url, inject("pgRunId"))
  corruption({ ...backend, sql: backend.sql! }, (name) => name)
  retriedWrites(backend)
}
