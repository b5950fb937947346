/**
 * Node built-ins that most commands never use, loaded on first use: a registry copy that compresses
 * nothing and runs no credential helper does not pay for loading zlib and child_process at start
 * (~4 ms of a CLI start on the 2-core machine).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** node:zlib (cached by require after the first call). */
export const zlib = (): typeof import("node:zlib") => require("node:zlib") as typeof import("node:zlib");

/** node:child_process (cached by require after the first call). */
export const childProcess = (): typeof import("node:child_process") => require("node:child_process") as typeof import("node:child_process");
