#!/usr/bin/env node
// Checks the relative links of the documentation, offline and without dependencies (Node 20).
//
//   node .ci/links.mjs [root]       (root: the repository, by default the parent of .ci/)
//
// Looks at README.md, docs/*.md, examples/**/README.md and, when it has been built,
// docs/api/generated/**/*.html. Every relative link must name a file or a directory that exists;
// a `#anchor` must name a heading of the target markdown file (as GitHub makes its id: lowercase,
// punctuation removed, spaces to hyphens, `-1`, `-2`... for repeated headings) or an explicit
// `id`/`name` in it, an `id`/`name` of the target HTML file, or a line (`#L12`, `#L12-L20`) of
// another file. A link to a directory with an anchor points into its README.md, as on GitHub.
// External links (any scheme: http, https, mailto...) are not fetched.
//
// Prints each broken link as `file:line: target: reason` and exits 1 if there is any; else
// prints how many links it checked and exits 0.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, extname, join, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."))

// --- the files to check ------------------------------------------------------------------------

const walk = (dir, keep, out = []) => {
  if (!existsSync(dir)) return out
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) walk(path, keep, out)
    else if (entry.isFile() && keep(entry.name)) out.push(path)
  }
  return out
}

const files = [
  ...[join(root, "README.md")].filter((path) => existsSync(path)),
  ...(existsSync(join(root, "docs"))
    ? readdirSync(join(root, "docs"), { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".md"))
      .map((entry) => join(root, "docs", entry.name))
    : []),
  ...walk(join(root, "examples"), (name) => name === "README.md"),
  ...walk(join(root, "docs", "api", "generated"), (name) => name.endsWith(".html"))
].sort()

// --- markdown ----------------------------------------------------------------------------------

/** the lines of a markdown file, with fenced code blocks blanked (line numbers kept) */
const proseLines = (text) => {
  const lines = text.split(/\r?\n/)
  let fence = null
  return lines.map((line) => {
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line)
    if (fence === null) {
      if (open !== null) {
        fence = open[1]
        return ""
      }
      return line
    }
    if (open !== null && open[1][0] === fence[0] && open[1].length >= fence.length && /^ {0,3}[`~]+\s*$/.test(line)) {
      fence = null
    }
    return ""
  })
}

/** a line with its code spans replaced by spaces (so that links inside code are not links) */
const withoutCode = (line) => line.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, (span) => " ".repeat(span.length))

const decodeEntities = (text) =>
  text
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, "\"")
    .replace(/&apos;|&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")

/** the destination of an inline link that starts at `text[at]` (just after `](`), or undefined */
const destinationAt = (text, at) => {
  let i = at
  while (text[i] === " ") i++
  if (text[i] === "<") {
    const end = text.indexOf(">", i)
    return end < 0 ? undefined : text.slice(i + 1, end)
  }
  let depth = 0
  let j = i
  for (; j < text.length; j++) {
    const c = text[j]
    if (c === "\\") {
      j++
      continue
    }
    if (c === "(") depth++
    else if (c === ")") {
      if (depth === 0) break
      depth--
    } else if (c === " " || c === "\t") break
  }
  if (j >= text.length) return undefined
  return text.slice(i, j)
}

/** the links of a markdown file: `[text](target)`, `![alt](target)`, `[ref]: target`, `<a href>` */
const markdownLinks = (text) => {
  const links = []
  proseLines(text).forEach((raw, index) => {
    const line = withoutCode(raw)
    const number = index + 1
    const reference = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(line)
    if (reference !== null) links.push({ line: number, target: reference[1] })
    for (let at = line.indexOf("]("); at >= 0; at = line.indexOf("](", at + 2)) {
      if (at > 0 && line[at - 1] === "\\") continue
      const target = destinationAt(line, at + 2)
      if (target !== undefined && target !== "") links.push({ line: number, target })
    }
    for (const match of line.matchAll(/<(?:a|img|source)\s[^>]*?\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
      links.push({ line: number, target: decodeEntities(match[1] ?? match[2]) })
    }
  })
  return links
}

/** a heading's text as GitHub renders it, then its id (github-slugger) */
const slug = (heading) => {
  const parts = heading.split(/(`+)((?:(?!\1)[\s\S])*?)\1/)
  // split with two groups: [text, ticks, code, text, ticks, code, ...]
  let rendered = ""
  for (let i = 0; i < parts.length; i += 3) {
    let prose = parts[i]
    prose = prose
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1") // images: their alt text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1") // links: their text
      .replace(/\[([^\]]*)\]\[[^\]]*\]/g, "$1") // reference links
      .replace(/<[^>]+>/g, "") // HTML tags
      .replace(/\\([!-/:-@[-`{-~])/g, "$1") // escapes
      .replace(/[*~]+/g, "") // emphasis, strikethrough
      .replace(/(^|[^\p{L}\p{N}])_+|_+(?=[^\p{L}\p{N}]|$)/gu, "$1") // emphasis with underscores
    rendered += decodeEntities(prose)
    if (i + 2 < parts.length) rendered += parts[i + 2].replace(/^ (.*) $/, "$1")
  }
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-")
}

/** the anchors of a markdown file: its headings' ids, and explicit `id`/`name` attributes */
const markdownAnchors = (text) => {
  const anchors = new Set()
  const seen = new Map()
  const add = (id) => {
    const count = seen.get(id) ?? 0
    seen.set(id, count + 1)
    anchors.add(count === 0 ? id : `${id}-${count}`)
  }
  const lines = proseLines(text)
  lines.forEach((line, index) => {
    const atx = /^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$/.exec(line)
    if (atx !== null) {
      add(slug(atx[1] ?? ""))
      return
    }
    const previous = index > 0 ? lines[index - 1] : ""
    if (/^ {0,3}(=+|-+)\s*$/.test(line) && previous.trim() !== "" && !/^ {0,3}([-*+]|\d+[.)]|#|>|\|)/.test(previous)) {
      add(slug(previous.trim()))
    }
    for (const match of withoutCode(line).matchAll(/<[a-z][^>]*?\b(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
      anchors.add(match[1] ?? match[2])
    }
  })
  return anchors
}

// --- HTML --------------------------------------------------------------------------------------

const htmlLinks = (text) => {
  const links = []
  const lineStarts = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1)
  const lineOf = (offset) => {
    let low = 0
    let high = lineStarts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (lineStarts[mid] <= offset) low = mid
      else high = mid - 1
    }
    return low + 1
  }
  for (const match of text.matchAll(/<(?:a|link|script|img|source|iframe|area)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    links.push({ line: lineOf(match.index), target: decodeEntities(match[1] ?? match[2] ?? match[3]) })
  }
  return links
}

const htmlAnchors = (text) => {
  const anchors = new Set()
  for (const match of text.matchAll(/\s(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    anchors.add(decodeEntities(match[1] ?? match[2] ?? match[3]))
  }
  return anchors
}

// --- checking ----------------------------------------------------------------------------------

const texts = new Map()
const read = (path) => {
  let text = texts.get(path)
  if (text === undefined) {
    text = readFileSync(path, "utf8")
    texts.set(path, text)
  }
  return text
}

const anchorCache = new Map()
const anchorsOf = (path) => {
  let anchors = anchorCache.get(path)
  if (anchors === undefined) {
    const ext = extname(path).toLowerCase()
    anchors = ext === ".md" || ext === ".markdown"
      ? markdownAnchors(read(path))
      : ext === ".html" || ext === ".htm"
      ? htmlAnchors(read(path))
      : null
    anchorCache.set(path, anchors)
  }
  return anchors
}

const isExternal = (target) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")

const decode = (text) => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** why a relative link of `from` is broken, or undefined when it is fine */
const problem = (from, target) => {
  const hashAt = target.indexOf("#")
  const pathPart = (hashAt < 0 ? target : target.slice(0, hashAt)).replace(/\?.*$/, "")
  const anchor = hashAt < 0 ? undefined : decode(target.slice(hashAt + 1))
  let path = pathPart === ""
    ? from
    : pathPart.startsWith("/")
    ? join(root, decode(pathPart))
    : resolve(dirname(from), decode(pathPart))
  if (!existsSync(path)) return "no such file or directory"
  if (statSync(path).isDirectory()) {
    if (anchor === undefined || anchor === "") return undefined
    const readme = readdirSync(path).find((name) => /^readme(\.md|\.markdown)?$/i.test(name))
    if (readme === undefined) return `a directory without a README, so no #${anchor} in it`
    path = join(path, readme)
  }
  if (anchor === undefined || anchor === "" || anchor === "top") return undefined
  const anchors = anchorsOf(path)
  if (anchors === null) {
    return /^L\d+(C\d+)?(-L\d+(C\d+)?)?$/.test(anchor) ? undefined : `#${anchor}: not a line (#L12) of this file`
  }
  if (anchors.has(anchor) || anchors.has(anchor.toLowerCase())) return undefined
  return `no heading or id #${anchor} in ${relative(root, path).split(sep).join("/")}`
}

let checked = 0
const broken = []
for (const file of files) {
  const html = file.endsWith(".html")
  const links = html ? htmlLinks(read(file)) : markdownLinks(read(file))
  for (const { line, target } of links) {
    const trimmed = target.trim()
    if (trimmed === "" || isExternal(trimmed)) continue
    checked++
    const why = problem(file, trimmed)
    if (why !== undefined) broken.push(`${relative(root, file).split(sep).join("/")}:${line}: ${trimmed}: ${why}`)
  }
}

if (broken.length > 0) {
  for (const line of broken) console.log(line)
  console.log(`${broken.length} broken link(s) out of ${checked} relative link(s) in ${files.length} file(s)`)
  process.exit(1)
}
console.log(`${checked} relative link(s) in ${files.length} file(s): none broken`)
