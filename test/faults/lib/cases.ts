/**
 * The fault suite's shared harness: a case table (case | expected | outcome) printed as markdown at
 * the end of each file, a CLI runner that gives every run a private TMPDIR and docker config and
 * checks that no canary secret ever reaches its output, and assertions on the state afterwards
 * (one `tcrane:` line with the right exit status, no temp or partial file left behind).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { TCRANE_BIN, tcrane, type RunResult } from "../../harness/tools.js";

/** The canary credentials every fault file uses: none of them may ever be printed or leave the registry's host. */
export const CANARY_USER = "canary-user";
export const CANARY_PASSWORD = "canary-pw-Zq7Lx2Vt9Kp4";

const secrets = new Set<string>([CANARY_PASSWORD, Buffer.from(`${CANARY_USER}:${CANARY_PASSWORD}`).toString("base64")]);

/** Register another secret (e.g. a bearer token seen on the wire) that no output may contain. */
export function addSecret(s: string): void {
  if (s.length >= 8) secrets.add(s);
}

/** Every secret registered so far. */
export function knownSecrets(): string[] {
  return [...secrets];
}

/** The secrets found in `text` (empty when clean). */
export function leakedIn(text: string): string[] {
  return [...secrets].filter((s) => text.includes(s));
}

/** One row of the table. */
export interface CaseRow {
  name: string;
  expected: string;
  outcome: string;
}

/** The table of one test file; `print()` writes it as markdown. */
export class CaseTable {
  readonly rows: CaseRow[] = [];
  constructor(readonly title: string) {}

  /** Record a case (call it after the assertions passed, or with the failure text). */
  add(name: string, expected: string, outcome: string): void {
    this.rows.push({ name, expected, outcome: outcome.replace(/\|/g, "\\|").replace(/\n/g, " ") });
  }

  /** Run `fn` (which returns the outcome text) and record it; a thrown assertion is recorded as FAILED and rethrown. */
  async case(name: string, expected: string, fn: () => Promise<string>): Promise<void> {
    try {
      this.add(name, expected, await fn());
    } catch (err) {
      this.add(name, expected, `FAILED: ${(err as Error).message.split("\n")[0]}`);
      throw err;
    }
  }

  /** The markdown table. */
  markdown(): string {
    const lines = [`### ${this.title}`, "", "| case | expected | outcome |", "|---|---|---|"];
    for (const r of this.rows) lines.push(`| ${r.name} | ${r.expected} | ${r.outcome} |`);
    return lines.join("\n");
  }

  /** Print the table on stdout (shows in the test output). */
  print(): void {
    console.log("\n" + this.markdown() + "\n");
  }
}

/** A private environment for CLI runs: TMPDIR and DOCKER_CONFIG of its own. */
export interface CliEnv {
  tmp: string;
  dockerConfig: string;
  env: NodeJS.ProcessEnv;
}

/** Make a CLI environment under `dir`; `auths` maps host → [user, password] written to config.json. */
export async function cliEnv(dir: string, auths: Record<string, [string, string]> = {}): Promise<CliEnv> {
  const tmp = join(dir, "tmp");
  const dockerConfig = join(dir, "docker");
  await mkdir(tmp, { recursive: true });
  await mkdir(dockerConfig, { recursive: true });
  const cfg: Record<string, { auth: string }> = {};
  for (const [host, [u, p]] of Object.entries(auths)) cfg[host] = { auth: Buffer.from(`${u}:${p}`).toString("base64") };
  await writeFile(join(dockerConfig, "config.json"), JSON.stringify({ auths: cfg }));
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, DOCKER_CONFIG: dockerConfig, HOME: dir, CI: "true" };
  delete env.REGISTRY_AUTH_FILE;
  delete env.XDG_RUNTIME_DIR;
  return { tmp, dockerConfig, env };
}

/** A CLI run with its elapsed time. */
export interface Run extends RunResult {
  ms: number;
  args: string[];
}

/** Run the built CLI in `e` (no progress output); asserts no known secret appears in stdout/stderr. */
export async function cli(e: CliEnv, args: string[], opts: { input?: string | Buffer; cwd?: string } = {}): Promise<Run> {
  const t0 = Date.now();
  const r = await tcrane(["--progress", "none", ...args], { env: e.env, input: opts.input, cwd: opts.cwd });
  const run = { ...r, ms: Date.now() - t0, args };
  const leaks = leakedIn(r.stdout + r.stderr);
  assert.deepEqual(leaks.length, 0, `a secret leaked into the output of tcrane ${args.join(" ")}`);
  return run;
}

/** Spawn the CLI without waiting (for signals); output collected on the returned object. */
export function spawnCli(e: CliEnv, args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [TCRANE_BIN, "--progress", "none", ...args], { env: e.env, stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (d: Buffer) => out.push(d));
  child.stderr!.on("data", (d: Buffer) => err.push(d));
  const done = new Promise<Run>((resolve) => {
    child.on("close", (code, sig) =>
      resolve({ code: code ?? (sig ? 128 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: Date.now() - t0, args }),
    );
  });
  return { child, done };
}

/** Assert success; returns a short outcome text. */
export function ok(r: Run): string {
  assert.equal(r.code, 0, `tcrane ${r.args.join(" ")} failed: ${r.stderr}`);
  assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("tcrane:")).length, 0, r.stderr);
  return `exit 0 (${r.ms} ms)`;
}

/**
 * Assert a failure told in ONE clear line: exit `code`, stderr is exactly one line `tcrane: …`
 * matching `re`, nothing on stdout. Returns the outcome text (`exit N: <line>`).
 */
export function failsWith(r: Run, code: number, re?: RegExp): string {
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^tcrane: \S/, `not a tcrane: line: ${lines[0]}`);
  assert.ok(lines[0]!.length < 400, `error line too long (${lines[0]!.length})`);
  assert.ok(!/\bat .*\.js:\d+/.test(lines[0]!), "stack trace in the error line");
  if (re) assert.match(lines[0]!, re);
  return `exit ${code}: ${lines[0]!.replace(/127\.0\.0\.1:\d+/g, "HOST").slice(0, 160)}`;
}

/** Every path under `dir` (relative), recursively; [] when `dir` does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      out.push(relative(dir, p));
      if (ent.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

const TEMPISH = /(\.tmp-|\.tmp$|tcrane-|\.partial|\.part$|\.lock$|~$)/;

/** Assert that no temp, partial or lock file is left anywhere under `dir`. */
export async function assertNoTemp(dir: string): Promise<void> {
  const bad = (await listTree(dir)).filter((p) => TEMPISH.test(p.split("/").pop()!));
  assert.deepEqual(bad, [], `temp/partial files left in ${dir}`);
}

/** Assert that `dir` holds exactly `names` (top level). */
export async function assertOnly(dir: string, names: string[]): Promise<void> {
  const have = existsSync(dir) ? (await readdir(dir)).sort() : [];
  assert.deepEqual(have, [...names].sort(), `unexpected contents of ${dir}`);
}

/** Assert that the CLI's private TMPDIR is empty again. */
export async function assertTmpClean(e: CliEnv): Promise<void> {
  assert.deepEqual(await listTree(e.tmp), [], "temp files left in TMPDIR");
}

/** Bytes and mtime of a file, to prove it untouched later. */
export async function snapshot(path: string): Promise<{ bytes: Buffer; mtimeMs: number }> {
  return { bytes: await readFile(path), mtimeMs: (await stat(path)).mtimeMs };
}

/** Assert a file still has the snapshot's bytes and mtime. */
export async function assertUntouched(path: string, snap: { bytes: Buffer; mtimeMs: number }): Promise<void> {
  const now = await snapshot(path);
  assert.ok(now.bytes.equals(snap.bytes), `${path} changed`);
  assert.equal(now.mtimeMs, snap.mtimeMs, `${path} was rewritten`);
}

/** Wait until `cond()` holds (polling), or throw after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
