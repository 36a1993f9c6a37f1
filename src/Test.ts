/**
 * `prorch/Test`: a test kit for users' own pipelines. `TestOrchestrator` is the orchestrator over
 * the memory layer under the `TestClock`, with `runUntilSettled`; `TestRepository` injects faults
 * (failing operations, crashes before or after a commit). See docs/testing.md.
 *
 * Its own entry, so that importing `prorch` loads none of it.
 *
 * @module prorch/Test
 * @since 0.1.0
 */

/**
 * The orchestrator for tests: `TestOrchestrator.layer(pipelines)` and `runUntilSettled(runId)`.
 *
 * @since 0.1.0
 */
export * as TestOrchestrator from "./TestOrchestrator.js"

/**
 * Fault injection: failing operations, crashes before or after a commit.
 *
 * @since 0.1.0
 */
export * as TestRepository from "./TestRepository.js"
