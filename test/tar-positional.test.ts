import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { PositionalTarWriter, ustarHeader } from "../src/transports/tar-positional.js";
import { TarIndex } from "../src/transports/tar-index.js";
import { run, tempDir } from "./harness/tools.js";

function slowStream(b: Buffer, pieces: number): Readable {
  const step = Math.ceil(b.length / pieces);
  return Readable.from(
    (async function* () {
      for (let i = 0; i < b.length; i += step) {
        await new Promise((r) => setTimeout(r, 2));
        yield b.subarray(i, i + step);
      }
    })(),
  );
}

test("positional tar: concurrent entries land whole; GNU tar and our index read them back", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const target = join(dir, "out.tar");
    const w = new PositionalTarWriter(target);
    const files = Array.from({ length: 6 }, (_, i) => ({ name: `blobs/sha256/${String(i).repeat(64)}`, data: randomBytes(1000 + i * 777) }));
    await Promise.all([...files.map((f) => w.add(f.name, f.data.length, slowStream(f.data, 7))), w.add("index.json", 2, Buffer.from("{}"))]);
    assert.equal(existsSync(target), false, "nothing at the target before commit");
    await w.commit();
    const listing = await run("tar", ["-tvf", target]);
    assert.equal(listing.code, 0, listing.stderr);
    assert.equal(listing.stdout.trim().split("\n").length, 7);
    const idx = await TarIndex.build(target, target);
    for (const f of files) assert.deepEqual(await idx.readFile(f.name), f.data);
    assert.deepEqual(await readdir(dir), ["out.tar"]);
  } finally {
    await cleanup();
  }
});

test("positional tar: a short member fails, abort leaves nothing; long names use the ustar prefix", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const target = join(dir, "bad.tar");
    const w = new PositionalTarWriter(target);
    await assert.rejects(w.add("x", 10, Buffer.from("short")), /declared 10/);
    await assert.rejects(w.commit());
    assert.deepEqual(await readdir(dir), []);
    const long = `${"d".repeat(120)}/${"f".repeat(90)}`;
    const h = ustarHeader(long, 5);
    assert.equal(h.subarray(345, 345 + 120).toString(), "d".repeat(120));
    assert.throws(() => ustarHeader("x".repeat(300), 1), /too long/);
  } finally {
    await cleanup();
  }
});
