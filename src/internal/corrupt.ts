import * as ParseResult from "effect/ParseResult"
import { CorruptRecord } from "../Errors.js"

/** a stored value as a message shows it: as stored, cut to 60 characters */
const shown = (value: unknown): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/**
 * @internal a stored row that does not decode: the column and its value first, then what is wrong
 * with it (the first issue of the parse error, not the whole schema)
 */
export const corruptRow = (
  runId: string,
  record: string,
  row: unknown,
  error: ParseResult.ParseError
): CorruptRecord => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  const column = first !== undefined && first.path.length > 0 ? String(first.path[0]) : undefined
  const value = column !== undefined && typeof row === "object" && row !== null
    ? shown((row as Record<string, unknown>)[column])
    : undefined
  const reason = first === undefined ? ParseResult.TreeFormatter.formatErrorSync(error) : first.message
  const cut = reason.length > 200 ? `${reason.slice(0, 197)}...` : reason
  return new CorruptRecord({ runId, detail: `${record}: ${cut}`, column, value })
}
