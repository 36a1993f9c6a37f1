import { defineConfig } from "tsup"

export default defineConfig({
  // the repositories over storage ("prorch/Sqlite", "prorch/Pg"), the command line ("prorch/Cli")
  // and the test kit ("prorch/Test") are entries of their own, so that importing "prorch" loads no
  // SQL driver and no @effect/cli, and "prorch/Sqlite" no PostgreSQL code; the modules they share
  // with the core are shared chunks, not copies
  entry: { index: "src/index.ts", Sqlite: "src/Sqlite.ts", Pg: "src/Pg.ts", Cli: "src/Cli.ts", Test: "src/Test.ts" },
  splitting: true,
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  tsconfig: "tsconfig.build.json"
})
