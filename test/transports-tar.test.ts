import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readFile, readdir, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { plainArchive, withLock } from "../src/transports/files.js";
import { TarIndex, TarWriter } from "../src/transports/tar-index.js";
import { streamBytes, tarBytes, writeTar } from "./fixtures/images.js";
import { code, withTempDir } from "./harness/tools.js";

test("tar index: member data offsets are right after pax and GNU long-name headers", async () => {
  await withTempDir(async (dir) => {
    const long = `${"d".repeat(120)}/${"f".repeat(130)}.bin`; // a 130-char component ⇒ pax header
    const p = join(dir, "pax.tar");
    await writeTar(p, [
      { name: "short.txt", data: "short" },
      { name: long, data: "long-name-content" },
      { name: "after.txt", data: "after" },
    ]);
    const idx = await TarIndex.build(p);
    assert.equal((await streamBytes(idx.open(long))).toString(), "long-name-content");
    assert.equal((await streamBytes(idx.open("after.txt"))).toString(), "after");
    // GNU tar writes ././@LongLink ('L') headers in --format=gnu.
    const src = join(dir, "src");
    const deep = join("x".repeat(110), "y".repeat(105) + ".txt");
    await mkdir(join(src, "x".repeat(110)), { recursive: true });
    await writeFile(join(src, deep), "gnu-long");
    await writeFile(join(src, "z.txt"), "zz");
    const g = join(dir, "gnu.tar");
    const r = spawnSync("tar", ["--format=gnu", "-cf", g, "-C", src, "."]);
    assert.equal(r.status, 0, String(r.stderr));
    const gi = await TarIndex.build(g);
    assert.equal((await streamBytes(gi.open(deep))).toString(), "gnu-long");
    assert.equal((await streamBytes(gi.open("./z.txt"))).toString(), "zz");
    assert.equal(gi.get("x".repeat(110))?.type, "directory");
  });
});

test("tar index: links are followed inside the archive only; duplicates: last wins", async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, "links.tar");
    await writeTar(p, [
      { name: "a/real.txt", data: "first" },
      { name: "a/real.txt", data: "second" },
      { name: "b/sym", type: "symlink", linkname: "../a/real.txt" },
      { name: "hard", type: "link", linkname: "a/real.txt" },
      { name: "chain", type: "symlink", linkname: "b/sym" },
      { name: "out", type: "symlink", linkname: "../../etc/passwd" },
      { name: "abs", type: "symlink", linkname: "/etc/passwd" },
      { name: "loop1", type: "symlink", linkname: "loop2" },
      { name: "loop2", type: "symlink", linkname: "loop1" },
      { name: "adir", type: "directory" },
    ]);
    const idx = await TarIndex.build(p);
    for (const n of ["a/real.txt", "b/sym", "hard", "chain"]) assert.equal((await streamBytes(idx.open(n))).toString(), "second");
    assert.throws(() => idx.resolve("out"), code("CORRUPT_ARCHIVE", /outside the archive/));
    assert.throws(() => idx.resolve("abs"), code("CORRUPT_ARCHIVE", /outside the archive/));
    assert.throws(() => idx.resolve("loop1"), code("CORRUPT_ARCHIVE", /too many levels/));
    assert.throws(() => idx.resolve("adir"), code("MALFORMED", /is a directory/));
    assert.throws(() => idx.resolve("nope"), code("NOT_FOUND", /nope/));
  });
});

test("tar index: unsafe member paths, truncation, garbage and empty files are CORRUPT_ARCHIVE", async () => {
  await withTempDir(async (dir) => {
    const dotdot = join(dir, "dotdot.tar");
    await writeTar(dotdot, [{ name: "../evil", data: "x" }]);
    await assert.rejects(TarIndex.build(dotdot), code("CORRUPT_ARCHIVE", /unsafe member path/));
    const abs = join(dir, "abs.tar");
    await writeTar(abs, [{ name: "/etc/evil", data: "x" }]);
    await assert.rejects(TarIndex.build(abs), code("CORRUPT_ARCHIVE", /unsafe member path/));
    const trunc = join(dir, "trunc.tar");
    await writeTar(trunc, [{ name: "big.bin", data: Buffer.alloc(5000, 7) }]);
    await truncate(trunc, 2000);
    await assert.rejects(TarIndex.build(trunc), code("CORRUPT_ARCHIVE", /truncated/));
    const half = join(dir, "half.tar");
    await writeFile(half, (await tarBytes([{ name: "a", data: "a" }])).subarray(0, 300));
    await assert.rejects(TarIndex.build(half), code("CORRUPT_ARCHIVE", /truncated/));
    const junk = join(dir, "junk.tar");
    await writeFile(junk, Buffer.alloc(2048, 0x41));
    await assert.rejects(TarIndex.build(junk), code("CORRUPT_ARCHIVE", /not a tar archive/));
    const empty = join(dir, "empty.tar");
    await writeFile(empty, "");
    await assert.rejects(TarIndex.build(empty), code("CORRUPT_ARCHIVE", /empty file/));
    await assert.rejects(plainArchive(dir), code("MALFORMED", /is a directory/));
    await assert.rejects(plainArchive(join(dir, "missing.tar")), code("NOT_FOUND"));
  });
});

test("plainArchive: gzip and zstd archives are decompressed once to a temp file; corrupt gzip fails", async () => {
  await withTempDir(async (dir) => {
    const plain = await tarBytes([{ name: "hello.txt", data: "hello" }]);
    await writeFile(join(dir, "a.tar.gz"), gzipSync(plain));
    const pf = await plainArchive(join(dir, "a.tar.gz"));
    assert.equal(pf.compression, "gzip");
    assert.ok(pf.temporary);
    assert.equal((await streamBytes((await TarIndex.build(pf.path)).open("hello.txt"))).toString(), "hello");
    await pf.cleanup();
    await assert.rejects(stat(pf.path));
    await writeFile(join(dir, "a.tar"), plain);
    const r = spawnSync("zstd", ["-q", "-f", join(dir, "a.tar"), "-o", join(dir, "a.tar.zst")]);
    assert.equal(r.status, 0);
    const pz = await plainArchive(join(dir, "a.tar.zst"));
    assert.equal(pz.compression, "zstd");
    assert.equal((await streamBytes((await TarIndex.build(pz.path)).open("hello.txt"))).toString(), "hello");
    await pz.cleanup();
    const bad = gzipSync(plain);
    bad.fill(0x55, 20, 60);
    await writeFile(join(dir, "bad.tar.gz"), bad);
    await assert.rejects(plainArchive(join(dir, "bad.tar.gz")), code("CORRUPT_ARCHIVE", /bad\.tar\.gz.*corrupt gzip/));
  });
});

test("TarWriter: serialized concurrent entries, gzip, and abort leaves no file", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "out.tar.gz");
    const w = new TarWriter(target, { compress: "gzip" });
    const payloads = Array.from({ length: 6 }, (_, i) => Buffer.alloc(70_000 + i, i + 1));
    await Promise.all(payloads.map((b, i) => w.add(`f${i}`, b.length, Readable.from([b.subarray(0, 1000), b.subarray(1000)]))));
    assert.deepEqual(await readdir(dir).then((l) => l.includes("out.tar.gz")), false, "not visible before commit");
    await w.commit();
    const pf = await plainArchive(target);
    const idx = await TarIndex.build(pf.path);
    for (let i = 0; i < payloads.length; i++) assert.ok((await streamBytes(idx.open(`f${i}`))).equals(payloads[i]!));
    await pf.cleanup();
    const target2 = join(dir, "aborted.tar");
    const w2 = new TarWriter(target2);
    await w2.add("x", 3, Buffer.from("abc"));
    await w2.abort();
    assert.deepEqual((await readdir(dir)).sort(), ["out.tar.gz"]);
    // A stream shorter than declared fails the add.
    const w3 = new TarWriter(join(dir, "short.tar"));
    await assert.rejects(w3.add("x", 10, Readable.from([Buffer.from("abc")])));
    await w3.abort();
    assert.deepEqual((await readdir(dir)).sort(), ["out.tar.gz"]);
    assert.ok((await readFile(target)).length > 0);
  });
});

test("withLock: holders run one at a time", async () => {
  await withTempDir(async (dir) => {
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withLock(join(dir, "l.lock"), async () => {
          inside++;
          max = Math.max(max, inside);
          await new Promise((r) => setTimeout(r, 10));
          inside--;
        }),
      ),
    );
    assert.equal(max, 1);
    assert.deepEqual(await readdir(dir), []);
  });
});
