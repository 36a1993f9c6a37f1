/**
 * The backend matrix: every concept suite (test/support/concepts/) on every backend: the memory
 * layer, SQLite files, the four-operation adapter, and PostgreSQL (when a server answers; see
 * test/setup/postgres.ts).
 */
import { describe, inject, it } from "vitest"
import { crudMaps, memory, postgres, sqliteFile } from "./support/backends.js"
import { conditions } from "./support/concepts/conditions.js"
import { children } from "./support/concepts/children.js"
import { fanout } from "./support/concepts/fanout.js"
import { parallelGroups } from "./support/concepts/parallel.js"
import { polling } from "./support/concepts/polling.js"
import { leases } from "./support/concepts/leases.js"
import { lifecycle } from "./support/concepts/lifecycle.js"
import { manage } from "./support/concepts/manage.js"
import { retries } from "./support/concepts/retries.js"
import { signals } from "./support/concepts/signals.js"
import { timers } from "./support/concepts/timers.js"
import { views } from "./support/concepts/views.js"
import { worker } from "./support/concepts/worker.js"

const concepts = [lifecycle, timers, retries, signals, conditions, polling, parallelGroups, fanout, children, manage, leases, worker, views]
const url = inject("pgUrl")

for (const backend of [memory, sqliteFile(), crudMaps(), ...(url === null ? [] : [postgres(url, inject("pgRunId"))])]) {
  for (const concept of concepts) concept(backend)
}
if (url === null) describe("PostgreSQL", () => it.skip(inject("pgSkipReason") ?? "PostgreSQL tests skipped", () => {}))
