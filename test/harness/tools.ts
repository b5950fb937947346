/**
 * Small helpers for integration tests: free ports, temp dirs, running real binaries, and a check of
 * a TcraneError's code. In CI (CI=true) a missing binary is a failure, never a skip.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { TcraneError } from "../../src/errors.js";

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A fresh temp directory; remove it with the returned cleanup. */
export async function tempDir(prefix = "tcrane-test-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Run fn with a fresh temp directory; the directory is removed afterwards, whether fn succeeds or throws. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>, prefix?: string): Promise<T> {
  const { dir, cleanup } = await tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

/** Throw a clear error when a binary the integration tests need is missing. */
export function requireBinary(name: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) {
    throw new Error(`integration test needs '${name}' on PATH (bash .ci/run installs it)`);
  }
  return path;
}

/** Result of running a command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion, capturing output. Never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: SpawnOptions & { input?: string | Buffer } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...opts, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on("data", (d: Buffer) => out.push(d));
    p.stderr!.on("data", (d: Buffer) => err.push(d));
    p.on("error", reject);
    p.on("close", (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    else p.stdin!.end();
  });
}

/** Path of the built CLI entry (bin/tcrane.js) from dist/test/... */
export const TCRANE_BIN = new URL("../../../bin/tcrane.js", import.meta.url).pathname;

/** Run the tcrane CLI as a child process. */
export function tcrane(args: string[], opts: SpawnOptions & { input?: string | Buffer } = {}): Promise<RunResult> {
  return run(process.execPath, [TCRANE_BIN, ...args], opts);
}

/**
 * An error validator for assert.throws / assert.rejects: the error is a TcraneError with code `c`
 * and, when `re` is given, `${what}: ${message}` matches it.
 */
export function code(c: string, re?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TcraneError, `expected TcraneError, got ${String(err)}`);
    assert.equal(err.code, c, err.message);
    if (re) assert.match(`${err.what}: ${err.message}`, re);
    return true;
  };
}

/** A tcrane command that serves until signalled (`registry serve`, `browse`), and the first stdout line it printed. */
export interface Served {
  /** The first stdout line (`HOST:PORT` for `registry serve`, the page's URL for `browse`). */
  line: string;
  proc: ChildProcess;
  /** Resolves with the exit status. */
  exit: Promise<number | null>;
  stderr: () => string;
  /** SIGTERM, then the exit status. */
  stop(): Promise<number | null>;
}

/**
 * Start `tcrane ARGS…` as users run it and wait until it serves: both serving commands print their
 * line on stdout and a human line on stderr, one after the other, before they answer; the two pipes
 * deliver in either order, so both are waited for.
 */
export async function serveTcrane(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Served> {
  const proc = spawn(process.execPath, [TCRANE_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  let err = "";
  const exit = new Promise<number | null>((r) => proc.once("exit", (c) => r(c)));
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const nl = out.indexOf("\n");
        if (nl >= 0 && err.includes("\n")) resolve(out.slice(0, nl));
      };
      proc.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        check();
      });
      proc.stderr!.on("data", check);
      void exit.then((c) => reject(new Error(`tcrane ${args.join(" ")} exited ${c}: ${err}`)));
      setTimeout(() => reject(new Error(`tcrane ${args.join(" ")} printed nothing: ${err}`)), 15000).unref();
    });
    return {
      line,
      proc,
      exit,
      stderr: () => err,
      stop: async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
        return exit;
      },
    };
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
}
