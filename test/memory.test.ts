import { memory } from "./support/backends.js"
import { runtime } from "./support/runtimeSuite.js"
import { behaviour } from "./support/suite.js"

behaviour(memory)
runtime(memory)
