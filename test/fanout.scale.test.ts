/**
 * A fan-out of 10,000 members on the memory layer (the same on a SQLite file and on PostgreSQL in
 * test/slow/fanout.scale.test.ts): it finishes with every member's output in order, each member
 * called once, in ticks of at most 500 members.
 */
import { describe, it } from "vitest"
import { memory } from "./support/backends.js"
import { fanOutOf } from "./support/fanoutScale.js"

describe("forEach at scale", () => {
  it("10,000 members on the memory layer", () => fanOutOf(memory, 10_000), 60_000)
})
