import { randomFillSync } from "node:crypto"
import { Buffer } from "node:buffer"

const pool = new Uint8Array(4096)
let offset = pool.length
let lastMillis = 0
let sequence = 0

const digits = "0123456789abcdef"
const chars = Buffer.alloc(36)
// the dashes never move
chars[8] = chars[13] = chars[18] = chars[23] = 0x2d

/** write `byte` as two hex digits at `at` */
const put = (at: number, byte: number) => {
  chars[at] = digits.charCodeAt(byte >>> 4)
  chars[at + 1] = digits.charCodeAt(byte & 0xf)
}

/**
 * @internal a UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, with a
 * counter in `rand_a` so that ids made in one millisecond still sort in the order they were made.
 * Ids that sort by time keep the rows of recent runs (and their steps and history, keyed by the run)
 * together at the end of their B-trees: fewer pages written per commit and per checkpoint than
 * with random ids. The id is written into a buffer and read as one flat string: a string built by
 * `+` is a tree of a dozen string parts, which the in-memory repository would keep for every id.
 */
export const uuidv7 = (): string => {
  const now = Date.now()
  if (now > lastMillis) {
    lastMillis = now
    sequence = 0
  } else if (sequence < 0xfff) {
    sequence++
  } else {
    // 4,096 ids in one millisecond: borrow the next millisecond rather than break the order
    lastMillis++
    sequence = 0
  }
  if (offset + 8 > pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const r = offset
  offset += 8
  const ms = lastMillis
  const timeHigh = Math.floor(ms / 0x10000)
  const timeLow = ms % 0x10000
  put(0, (timeHigh >>> 24) & 0xff)
  put(2, (timeHigh >>> 16) & 0xff)
  put(4, (timeHigh >>> 8) & 0xff)
  put(6, timeHigh & 0xff)
  put(9, (timeLow >>> 8) & 0xff)
  put(11, timeLow & 0xff)
  put(14, 0x70 | (sequence >>> 8))
  put(16, sequence & 0xff)
  put(19, 0x80 | (pool[r] & 0x3f))
  put(21, pool[r + 1])
  for (let i = 0; i < 6; i++) put(24 + 2 * i, pool[r + 2 + i])
  return chars.toString("latin1", 0, 36)
}
