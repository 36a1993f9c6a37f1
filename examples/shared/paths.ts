/** Path helpers shared by the examples. */
import { isAbsolute, relative } from "node:path"

/** A path as it reads from the current directory when it is inside it, else absolute (for messages). */
export const shown = (path: string): string => {
  if (path === ":memory:") return path
  const rel = relative(process.cwd(), path)
  return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? path : rel
}
