import { sqliteFile } from "./support/backends.js"
import { runtime } from "./support/runtimeSuite.js"
import { behaviour } from "./support/suite.js"

behaviour(sqliteFile())
runtime(sqliteFile())
