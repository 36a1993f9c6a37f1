#!/usr/bin/env bash
# prorch as a user's application gets it: the packed tarball (`npm pack` of the build in dist/),
# installed into a new scratch application from the registry, beside Effect 3, without the
# repository's node_modules. Checks:
#   - one copy of effect; Effect 4 beside prorch is refused by npm at install time (ERESOLVE)
#   - a SQLite-only application: `prorch` and `prorch/Sqlite` need no PostgreSQL package, and a
#     strict tsc (skipLibCheck false) over the README's tour passes; the tour prints what the README says
#   - with the optional peers installed: ESM and CJS imports of every entry
# Usage: .ci/consumer.sh (after `npm run build`)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
app="$(mktemp -d)"
trap 'rm -rf "$app"' EXIT
npm_install() { npm install --no-audit --no-fund --loglevel=error "$@"; }

tarball="$(cd "$root" && npm pack --silent --pack-destination "$app" | tail -1)"
cd "$app"
cat > package.json <<'EOF'
{ "name": "scratch-app", "version": "1.0.0", "private": true, "type": "module" }
EOF

echo "consumer: Effect 4 beside prorch is refused at install time"
if npm install --dry-run --no-audit --no-fund "./$tarball" effect@4 > effect4.log 2>&1; then
  echo "consumer: npm accepted effect@4 beside prorch"; cat effect4.log; exit 1
fi
grep -q "ERESOLVE" effect4.log || { echo "consumer: effect@4 failed, but not with ERESOLVE:"; cat effect4.log; exit 1; }

echo "consumer: a SQLite-only application"
npm_install "./$tarball" effect@3 @effect/sql-sqlite-node@0.53 typescript@5.9 @types/node@20
copies="$(npm ls effect --all --parseable | sort -u | wc -l)"
[ "$copies" = "1" ] || { echo "consumer: $copies copies of effect"; npm ls effect --all; exit 1; }
if [ -d node_modules/pg ] || [ -d node_modules/@effect/sql-pg ]; then
  echo "consumer: a SQLite-only install brought PostgreSQL packages"; exit 1
fi
# the README's tour, as printed
node -e '
  const readme = require("fs").readFileSync(process.argv[1], "utf8")
  const tour = readme.slice(readme.indexOf("## A short tour"))
  require("fs").writeFileSync("tour.ts", /```ts\n([\s\S]*?)```/.exec(tour)[1])
  require("fs").writeFileSync("tour.expected", /It prints:\n\n```text\n([\s\S]*?)```/.exec(tour)[1])
' "$root/README.md"
cat > tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022"], "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "skipLibCheck": false, "types": ["node"], "outDir": "out"
  },
  "files": ["tour.ts"]
}
EOF
npx tsc -p tsconfig.json
node out/tour.js > tour.log 2>&1 || { cat tour.log; exit 1; }
diff tour.expected tour.log || { echo "consumer: the tour printed something else than the README says"; exit 1; }

echo "consumer: every entry, ESM and CJS, with the optional peers"
npm_install @effect/sql-pg@0.53 @effect/cli@0.77 @effect/printer@0.51 @effect/printer-ansi@0.51
copies="$(npm ls effect --all --parseable | sort -u | wc -l)"
[ "$copies" = "1" ] || { echo "consumer: $copies copies of effect"; npm ls effect --all; exit 1; }
for check in \
  "prorch pipeline" "prorch/Sqlite SqliteRepository" "prorch/Pg PgRepository" "prorch/Cli run" "prorch/Test TestOrchestrator"; do
  set -- $check
  node -e "import('$1').then((m) => { if (m['$2'] === undefined) { console.error('$1 (ESM) has no $2'); process.exit(1) } })"
  node -e "const m = require('$1'); if (m['$2'] === undefined) { console.error('$1 (CJS) has no $2'); process.exit(1) }"
done
echo "consumer: passed"
