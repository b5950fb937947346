/**
 * Node built-ins that most commands never use, loaded on first use: a registry copy that compresses
 * nothing and runs no credential helper does not pay for loading zlib and child_process at start
 * (~4 ms of a CLI start on the 2-core machine).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

let zlibModule: typeof import("node:zlib") | undefined;
let childProcessModule: typeof import("node:child_process") | undefined;

/** node:zlib (loaded by the first call; the gzip path calls this per chunk). */
export const zlib = (): typeof import("node:zlib") => (zlibModule ??= require("node:zlib") as typeof import("node:zlib"));

/** node:child_process (loaded by the first call). */
export const childProcess = (): typeof import("node:child_process") =>
  (childProcessModule ??= require("node:child_process") as typeof import("node:child_process"));
