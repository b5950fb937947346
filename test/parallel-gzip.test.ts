import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import { ParallelGzip, levelFor, storedBlocks } from "../src/image/parallel-gzip.js";
import { run, withTempDir } from "./harness/tools.js";

async function gz(data: Buffer, chunk: number): Promise<Buffer> {
  const out: Buffer[] = [];
  const src = Readable.from((function* () {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  })());
  await pipeline(src, new ParallelGzip(), new Writable({ write(c, _e, cb) { out.push(c); cb(); } }));
  return Buffer.concat(out);
}

const text = Buffer.from(Array.from({ length: 60000 }, (_, i) => `line ${i} of a very compressible layer\n`).join(""));
const cases: Array<[string, Buffer]> = [
  ["empty", Buffer.alloc(0)],
  ["tiny", Buffer.from("hello")],
  ["text (several windows)", text],
  ["random (stored)", randomBytes(3 * 1024 * 1024 + 17)],
  ["mixed", Buffer.concat([randomBytes(1 << 20), text, randomBytes(5000)])],
];

test("parallel gzip: round-trips, compresses text, stores random data", async () => {
  for (const [name, data] of cases) {
    const out = await gz(data, 65536);
    assert.deepEqual(gunzipSync(out), data, name);
    if (name.startsWith("text")) assert.ok(out.length < data.length / 4, `${name}: ${out.length}`);
    if (name.startsWith("random")) assert.ok(out.length < data.length * 1.01, `${name}: ${out.length}`);
  }
  assert.equal(levelFor(randomBytes(1 << 20)), 0);
  assert.equal(levelFor(text.subarray(0, 1 << 20)), 1);
  assert.equal(storedBlocks(Buffer.alloc(70000)).length, 70000 + 10);
});

test("parallel gzip: the output depends only on the bytes (same digest for any input chunking)", async () => {
  const data = cases[4]![1];
  const digests = new Set<string>();
  for (const chunk of [1000, 65536, 1 << 20, 3 << 20]) digests.add(createHash("sha256").update(await gz(data, chunk)).digest("hex"));
  assert.equal(digests.size, 1);
});

test("parallel gzip: GNU gzip accepts the stream", async () => {
  await withTempDir(async (dir) => {
    const data = cases[4]![1];
    const f = join(dir, "x.gz");
    await writeFile(f, await gz(data, 65536));
    const t = await run("gzip", ["-t", f]);
    assert.equal(t.code, 0, t.stderr);
    const d = await run("sh", ["-c", `gzip -dc ${f} | sha256sum`]);
    assert.equal(d.stdout.split(" ")[0], createHash("sha256").update(data).digest("hex"));
  });
});
