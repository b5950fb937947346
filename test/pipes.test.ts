/**
 * tcrane in shell pipelines, against the real distribution registry: a reader that goes away
 * (`| head -c 10`, `| tar t | head`) ends the command quietly with status 141 (what a shell reports
 * for cat or tar killed by SIGPIPE), while a real write error (stdout on /dev/full) fails with one
 * line naming stdout and status 1.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { TCRANE_BIN, requireBinary, run, tcrane, tempDir } from "./harness/tools.js";

let reg: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let image: string;
let layerRef: string;

before(async () => {
  for (const b of ["bash", "tar", "head"]) requireBinary(b);
  reg = await startDistribution();
  work = await tempDir("tcrane-pipes-");
  // 3000 files of 1 KiB: a 4.6 MiB layer (far more than a pipe holds) whose listing is 3000 lines
  const root = join(work.dir, "root");
  await mkdir(root);
  for (let i = 0; i < 3000; i++) await writeFile(join(root, `f${i}`), randomBytes(1024));
  const layer = join(work.dir, "layer.tar");
  const t = await run("tar", ["-cf", layer, "-C", root, "."]);
  assert.equal(t.code, 0, t.stderr);
  image = `${reg.host}/pipes/app:1`;
  const a = await tcrane(["append", "-f", layer, "-t", image]);
  assert.equal(a.code, 0, a.stderr);
  const m = await tcrane(["manifest", image]);
  assert.equal(m.code, 0, m.stderr);
  layerRef = `${reg.host}/pipes/app@${(JSON.parse(m.stdout) as { layers: Array<{ digest: string }> }).layers[0]!.digest}`;
});

after(async () => {
  await reg?.stop();
  await work?.cleanup();
});

/** Run `tcrane ARGS 2>ERR | READER` in bash; the statuses of every stage, tcrane's stderr, and the reader's output. */
async function pipeline(args: string[], reader: string): Promise<{ statuses: number[]; stderr: string; out: string }> {
  const errFile = join(work.dir, `err-${randomBytes(4).toString("hex")}`);
  const quoted = [process.execPath, TCRANE_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const r = await run("bash", ["-c", `${quoted} 2>'${errFile}' | ${reader}; echo "\${PIPESTATUS[*]}" >&2`]);
  const statuses = r.stderr.trim().split("\n").pop()!.split(" ").map(Number);
  return { statuses, stderr: await readFile(errFile, "utf8"), out: r.stdout };
}

test("pipes: blob | head -c 10 ends quietly (141, no error line); the reader got the first bytes", async () => {
  const r = await pipeline(["blob", layerRef], "head -c 10 | od -An -tx1");
  assert.equal(r.stderr, "");
  assert.deepEqual(r.statuses, [141, 0, 0]);
  // append gzipped the layer: the ten bytes are a gzip header
  assert.match(r.out.trim(), /^1f 8b 08( [0-9a-f]{2}){7}$/);
});

test("pipes: export IMG - | tar t | head ends quietly: tar dies of SIGPIPE, tcrane ends 141 without a line", async () => {
  const r = await pipeline(["export", image, "-"], "tar t | head -n 3");
  assert.equal(r.stderr, "");
  assert.deepEqual(r.statuses, [141, 141, 0]);
  assert.equal(r.out.trim().split("\n").length, 3);
  // and --verbose logs its requests but no error line and no stack
  const v = await pipeline(["export", "--verbose", image, "-"], "head -c 100 >/dev/null");
  assert.match(v.stderr, /<-- 200 GET /);
  assert.doesNotMatch(v.stderr, /tcrane:|Error|EPIPE|\n\s+at /);
  assert.equal(v.statuses[0], 141);
});

test("pipes: the whole stream through a pipe is exit 0 (nothing cut)", async () => {
  const r = await pipeline(["export", image, "-"], "tar t | wc -l");
  assert.equal(r.stderr, "");
  assert.deepEqual(r.statuses, [0, 0, 0]);
  assert.ok(Number(r.out.trim()) >= 3000, r.out);
});

test("pipes: a real write error on stdout (/dev/full) fails with one line naming stdout, status 1", async () => {
  for (const args of [["blob", layerRef], ["export", image, "-"], ["manifest", image], ["digest", image]]) {
    const r = await run("bash", ["-c", `'${process.execPath}' '${TCRANE_BIN}' ${args.map((a) => `'${a}'`).join(" ")} >/dev/full`]);
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stderr, "tcrane: stdout: no space left on device\n", args[0]);
  }
});
