import { describe, inject, it } from "vitest"
import { postgres } from "./support/backends.js"
import { runtime } from "./support/runtimeSuite.js"
import { corruption, retriedWrites } from "./support/sqlSuite.js"
import { behaviour } from "./support/suite.js"

const url = inject("pgUrl")

if (url === null) {
  describe("PostgreSQL", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
} else {
  const backend = postgres(url, inject("pgRunId"))
  behaviour(backend)
  runtime(backend)
  corruption({ ...backend, sql: backend.sql! }, (name) => name)
  retriedWrites(backend)
}
