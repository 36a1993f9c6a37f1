import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { ErrorInfo } from "../Run.js"

/** @internal a schema-backed JSON text codec; without a schema nothing is stored; `null` is nothing */
export interface Codec {
  readonly encode: (value: unknown) => Either.Either<string | null, string>
  readonly decode: (text: string | null) => Either.Either<unknown, string>
}

const encodedNothing = Either.right(null)
const decodedNothing = Either.right(undefined)

const nothing: Codec = {
  encode: () => encodedNothing,
  decode: () => decodedNothing
}

/** @internal */
export const make = (schema: Schema.Schema<any, any> | undefined): Codec => {
  if (schema === undefined) return nothing
  const encode = Schema.encodeUnknownEither(schema)
  const decode = Schema.decodeUnknownEither(schema)
  return {
    encode: (value) => {
      const encoded = encode(value)
      if (Either.isLeft(encoded)) return Either.left(ParseResult.TreeFormatter.formatErrorSync(encoded.left))
      try {
        const text = JSON.stringify(encoded.right)
        return Either.right(text === undefined ? null : text)
      } catch (error) {
        return Either.left(`the encoded value is not JSON: ${error instanceof Error ? error.message : String(error)}`)
      }
    },
    decode: (text) => {
      // nothing stored (a step not started or not finished, or a value that encodes to undefined)
      if (text === null) return decodedNothing
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch (error) {
        return Either.left(`not JSON: ${error instanceof Error ? error.message : String(error)}`)
      }
      const decoded = decode(json)
      return Either.isLeft(decoded)
        ? Either.left(ParseResult.TreeFormatter.formatErrorSync(decoded.left))
        : Either.right(decoded.right)
    }
  }
}

/** @internal JSON-safe copy of any value (bigints as strings, cycles cut, functions dropped) */
export const toJson = (value: unknown): unknown => {
  const seen = new WeakSet<object>()
  try {
    const text = JSON.stringify(value, (_key, v) => {
      if (typeof v === "bigint") return v.toString()
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[Circular]"
        seen.add(v)
      }
      return v
    })
    return text === undefined ? null : JSON.parse(text)
  } catch {
    return String(value)
  }
}

const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === "object" && error !== null) {
    if ("message" in error && typeof error.message === "string" && error.message !== "") return error.message
    if ("_tag" in error && typeof error._tag === "string") return error._tag
  }
  return String(error)
}

/** @internal the persisted form of a handler's failure */
export const errorInfo = (cause: Cause.Cause<unknown>): ErrorInfo => ({
  message: messageOf(Cause.squash(cause)),
  pretty: Cause.pretty(cause, { renderErrorCause: true }),
  cause: toJson(cause.toJSON())
})
