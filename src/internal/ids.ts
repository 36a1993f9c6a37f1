import { randomFillSync } from "node:crypto"

const pool = new Uint8Array(4096)
let offset = pool.length
let lastMillis = 0
let sequence = 0

const hex: Array<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/**
 * @internal a UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, with a
 * counter in `rand_a` so that ids made in one millisecond still sort in the order they were made.
 * Ids that sort by time keep the rows of recent runs (and their steps and history, keyed by the run)
 * together at the end of their B-trees: fewer pages written per commit and per checkpoint than
 * with random ids.
 */
export const uuidv7 = (): string => {
  const now = Date.now()
  if (now > lastMillis) {
    lastMillis = now
    sequence = 0
  } else {
    sequence = (sequence + 1) & 0xfff
  }
  if (offset + 8 > pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const r = pool.subarray(offset, offset + 8)
  offset += 8
  const ms = lastMillis
  const timeHigh = Math.floor(ms / 0x10000)
  const timeLow = ms % 0x10000
  return (
    hex[(timeHigh >>> 24) & 0xff] + hex[(timeHigh >>> 16) & 0xff] + hex[(timeHigh >>> 8) & 0xff] +
    hex[timeHigh & 0xff] + "-" + hex[(timeLow >>> 8) & 0xff] + hex[timeLow & 0xff] + "-" +
    hex[0x70 | (sequence >>> 8)] + hex[sequence & 0xff] + "-" +
    hex[0x80 | (r[0] & 0x3f)] + hex[r[1]] + "-" +
    hex[r[2]] + hex[r[3]] + hex[r[4]] + hex[r[5]] + hex[r[6]] + hex[r[7]]
  )
}
