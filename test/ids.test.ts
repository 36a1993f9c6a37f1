/**
 * The ids of runs and steps: UUIDs of version 7 (RFC 9562) whose text sorts in the order they were
 * made, also within one millisecond (the SQL layers rely on it to keep recent rows together).
 */
import { describe, expect, it } from "@effect/vitest"
import { uuidv7 } from "../src/internal/ids.js"

const shape = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("uuidv7", () => {
  it("is a version 7, variant 1 UUID whose first 48 bits are the time in milliseconds", () => {
    const before = Date.now()
    const id = uuidv7()
    const after = Date.now()
    expect(id).toMatch(shape)
    const millis = parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
    expect(millis).toBeGreaterThanOrEqual(before)
    expect(millis).toBeLessThanOrEqual(after)
  })

  it("sorts in the order the ids were made, many to a millisecond, and never repeats", () => {
    const ids = Array.from({ length: 3_000 }, () => uuidv7())
    for (const id of ids) expect(id).toMatch(shape)
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
    // a millisecond held more than one id: the counter, not the clock, kept them in order
    const millis = ids.map((id) => id.slice(0, 13))
    expect(new Set(millis).size).toBeLessThan(ids.length)
  })

  it("stays in order past 4,096 ids in one millisecond", () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7())
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("gives strings that stand alone (not views of a shared buffer)", () => {
    const first = uuidv7()
    const copy = `${first}`
    for (let i = 0; i < 100; i++) uuidv7()
    expect(first).toBe(copy)
    expect(first).toHaveLength(36)
  })
})
