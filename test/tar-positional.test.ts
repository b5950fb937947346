import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { PositionalTarWriter, ustarHeader } from "../src/transports/tar-positional.js";
import { TarIndex } from "../src/transports/tar-index.js";
import { run, withTempDir } from "./harness/tools.js";

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
  await withTempDir(async (dir) => {
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
  });
});

test("positional tar: a short member fails, abort leaves nothing; long names use the ustar prefix", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "bad.tar");
    const w = new PositionalTarWriter(target);
    await assert.rejects(w.add("x", 10, Buffer.from("short")), /declared 10/);
    await assert.rejects(w.commit());
    assert.deepEqual(await readdir(dir), []);
    const long = `${"d".repeat(120)}/${"f".repeat(90)}`;
    const h = ustarHeader(long, 5);
    assert.equal(h.subarray(345, 345 + 120).toString(), "d".repeat(120));
    assert.throws(() => ustarHeader("x".repeat(300), 1), /too long/);
  });
});

test("positional tar: a member of 8 GiB or more gets a GNU base-256 size that GNU tar and our index read", async () => {
  await withTempDir(async (dir) => {
    const size = 10 * 1024 ** 3 + 123; // 10 GiB: more than the 11 octal digits of ustar hold
    const h = ustarHeader("blobs/sha256/big", size);
    assert.equal(h[124], 0x80, "base-256 marker");
    assert.equal(ustarHeader("small", 0o77777777777)[124], "7".charCodeAt(0), "the largest octal size stays octal");
    // a sparse archive: the header, a hole for the data, the two end blocks
    const path = join(dir, "big.tar");
    const fh = await open(path, "w");
    await fh.write(h, 0, 512, 0);
    await fh.truncate(512 + Math.ceil(size / 512) * 512 + 1024);
    await fh.close();
    const listing = await run("tar", ["-tvf", path]);
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, new RegExp(`\\s${size}\\s.*blobs/sha256/big`));
    const idx = await TarIndex.build(path, path);
    assert.equal(idx.get("blobs/sha256/big")?.size, size);
  });
});

test("positional tar: an entry whose source fails does not close the archive under the others", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "out.tar");
    const w = new PositionalTarWriter(target);
    const good = randomBytes(2 << 20);
    const failing = new Readable({ read() {} });
    failing.push(randomBytes(100_000));
    setTimeout(() => failing.destroy(new Error("source broke")), 20);
    const bad = w.add("bad", 1 << 20, failing);
    const ok = w.add("good", good.length, slowStream(good, 40));
    await assert.rejects(bad, /source broke/);
    await ok; // its writes must not hit a closed (or reused) descriptor
    await assert.rejects(w.commit(), /source broke/);
    assert.deepEqual(await readdir(dir), [], "nothing left after the failed archive");
  });
});
