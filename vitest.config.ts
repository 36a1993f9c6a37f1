import * as path from "node:path"
import { defineConfig } from "vitest/config"

/**
 * Two projects: `fast` is `npm test` (every behaviour test on every backend, and short SIGKILL runs);
 * `slow` is `npm run test:slow` (the full crash harnesses, scale-out, PostgreSQL disturbed, the
 * example scripts as processes). CI runs both.
 */
export default defineConfig({
  resolve: {
    alias: [
      { find: /^prorch\/Cli$/, replacement: path.resolve(__dirname, "src/Cli.ts") },
      { find: /^prorch\/Test$/, replacement: path.resolve(__dirname, "src/Test.ts") },
      { find: /^prorch\/Sqlite$/, replacement: path.resolve(__dirname, "src/Sqlite.ts") },
      { find: /^prorch\/Pg$/, replacement: path.resolve(__dirname, "src/Pg.ts") },
      { find: /^prorch$/, replacement: path.resolve(__dirname, "src/index.ts") }
    ]
  },
  test: {
    globalSetup: ["test/setup/postgres.ts"],
    // the process tests start real workers and time leases: on small machines, files that run
    // side by side would starve each other of CPU
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: "fast", include: ["test/**/*.test.ts"], exclude: ["test/slow/**"] }
      },
      {
        extends: true,
        test: { name: "slow", include: ["test/slow/**/*.test.ts"] }
      }
    ]
  }
})
