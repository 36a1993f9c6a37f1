import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    alias: [
      { find: /^prorch\/Cli$/, replacement: path.resolve(__dirname, "src/Cli.ts") },
      { find: /^prorch$/, replacement: path.resolve(__dirname, "src/index.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/postgres.ts"],
    // the process tests start real workers and time leases: on small machines, files that run
    // side by side would starve each other of CPU
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
