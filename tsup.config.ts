import { defineConfig } from "tsup"

export default defineConfig({
  // the command line is an entry of its own ("prorch/Cli"), so that importing "prorch" does not
  // load @effect/cli; the modules both use are shared chunks, not copies
  entry: { index: "src/index.ts", Cli: "src/Cli.ts" },
  splitting: true,
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  tsconfig: "tsconfig.build.json"
})
