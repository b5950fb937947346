import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { COMPRESS_IN_FLIGHT, copyImage, SMALL_BLOB_BYTES, SMALL_PER_JOB } from "../src/transfer/engine.js";
import type { TransferEvent } from "../src/transfer/events.js";
import { digestOf } from "../src/image/digest.js";
import { TcraneError } from "../src/errors.js";
import { MemoryStore } from "./helpers/memory.js";
import { makeIndex, randomImage } from "./fixtures/images.js";
import { isManifest } from "../src/image/mediatypes.js";

const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };

function multiArch() {
  const src = new MemoryStore("src");
  const shared = [randomBytes(4096)];
  const a = src.put(randomImage([1024, 1024], { platform: amd64, shared }));
  const b = src.put(randomImage([1024, 1024], { platform: arm64, shared }));
  const index = src.put(makeIndex([a, b])).manifestDesc;
  src.tags.set("v1", index);
  return { src, a, b, index };
}

test("engine: copies a whole index post-order, every blob once, root tagged last", async () => {
  const { src, a, b, index } = multiArch();
  const dst = new MemoryStore("dst");
  const events: TransferEvent[] = [];
  const r = await copyImage(src, "v1", dst, { tags: ["v1"], onEvent: (e) => events.push(e) });
  assert.equal(r.descriptor.digest, index.digest);
  for (const d of [...src.blobs.keys()]) assert.ok(dst.blobs.has(d), `missing ${d}`);
  // each blob pushed exactly once (the shared layer too)
  const pushed = dst.pushes.filter((p) => !p.startsWith("tag:"));
  assert.equal(new Set(pushed).size, pushed.length);
  assert.equal(pushed.length, src.blobs.size);
  // children before parents
  const pos = (d: string) => dst.pushes.indexOf(d);
  for (const img of [a, b]) {
    for (const l of [...img.layers.map((l) => l.desc), img.configDesc]) assert.ok(pos(l.digest) < pos(img.manifestDesc.digest));
    assert.ok(pos(img.manifestDesc.digest) < pos(index.digest));
  }
  assert.equal(dst.pushes.at(-1), "tag:v1");
  // the shared layer was fetched once
  assert.equal(src.fetches.filter((f) => f === a.layers[0]!.desc.digest).length, 1);
  assert.ok(events.some((e) => e.type === "blob-done"));
  assert.equal(events.at(-1)?.type, "image-done");
});

test("engine: blobs the sink has are skipped; a manifest it has skips its subtree", async () => {
  const { src, a, index } = multiArch();
  const dst = new MemoryStore("dst");
  dst.blobs.set(a.layers[1]!.desc.digest, src.blobs.get(a.layers[1]!.desc.digest)!);
  const r1 = await copyImage(src, "v1", dst, { tags: ["v1"] });
  assert.equal(r1.blobs.skipped >= 1, true);
  assert.ok(!dst.pushes.includes(a.layers[1]!.desc.digest));
  // second run: the tag already points at the digest ⇒ nothing fetched at all
  src.fetches = [];
  dst.pushes = [];
  const r2 = await copyImage(src, "v1", dst, { tags: ["v1"] });
  assert.equal(r2.upToDate, true);
  assert.deepEqual(src.fetches, []);
  assert.deepEqual(dst.pushes, []);
  assert.equal(r2.descriptor.digest, index.digest);
});

test("engine: bounded concurrency: jobs large blobs, SMALL_PER_JOB × jobs small ones", async () => {
  const src = new MemoryStore("src");
  const big = src.put(randomImage(Array(8).fill(SMALL_BLOB_BYTES + 4096)));
  src.tags.set("big", big.manifestDesc);
  src.delay = 20;
  await copyImage(src, "big", new MemoryStore("dst"), { jobs: 3 });
  // 3 layers, plus the config (a small blob, under the other limit)
  assert.ok(src.maxInFlight <= 4, `large: max in flight ${src.maxInFlight}`);
  assert.ok(src.maxInFlight >= 2, `large: expected parallelism, saw ${src.maxInFlight}`);
  src.maxInFlight = 0;
  await copyImage(src, "big", new MemoryStore("dst1"), { jobs: 1 });
  assert.equal(src.maxInFlight, 1, "-j 1: one blob at a time, config and layers alike");

  const small = src.put(randomImage(Array(30).fill(1024)));
  src.tags.set("small", small.manifestDesc);
  src.maxInFlight = 0;
  await copyImage(src, "small", new MemoryStore("dst2"), { jobs: 3 });
  assert.ok(src.maxInFlight <= 3 * SMALL_PER_JOB, `small: max in flight ${src.maxInFlight}`);
  assert.ok(src.maxInFlight > 3, `small: expected more than 3 in flight, saw ${src.maxInFlight}`);
  src.maxInFlight = 0;
  await copyImage(src, "small", new MemoryStore("dst3"), { jobs: 1 });
  assert.equal(src.maxInFlight, 1, "-j 1: one blob at a time");
});

test("engine: at most COMPRESS_IN_FLIGHT large layers are gzip-compressed at once, whatever -j", async () => {
  const src = new MemoryStore("src");
  const img = src.put(randomImage(Array(6).fill(SMALL_BLOB_BYTES + 4096), { gzip: false, docker: true }));
  src.tags.set("latest", img.manifestDesc);
  src.delay = 20;
  const dst = new MemoryStore("dst", { compressedLayers: true });
  const r = await copyImage(src, undefined, dst, { tags: ["latest"], jobs: 4 });
  assert.equal(r.blobs.copied, 7);
  // the layers being compressed, plus the config (a small blob, not compressed)
  assert.ok(src.maxInFlight <= COMPRESS_IN_FLIGHT + 1, `max in flight ${src.maxInFlight}`);
  assert.ok(src.maxInFlight >= COMPRESS_IN_FLIGHT, `expected ${COMPRESS_IN_FLIGHT} compressions at once, saw ${src.maxInFlight}`);
  src.maxInFlight = 0;
  await copyImage(src, undefined, new MemoryStore("dst1", { compressedLayers: true }), { tags: ["latest"], jobs: 1 });
  assert.equal(src.maxInFlight, 1, "-j 1: one blob at a time");
});

test("engine: --platform copies only the matching child; index-less sinks default to linux/amd64", async () => {
  const { src, a, b } = multiArch();
  const dst = new MemoryStore("dst");
  const r = await copyImage(src, "v1", dst, { platform: arm64, tags: ["x"] });
  assert.equal(r.descriptor.digest, b.manifestDesc.digest);
  assert.ok(!dst.blobs.has(a.manifestDesc.digest));
  const flat = new MemoryStore("flat", { indexes: false });
  const r2 = await copyImage(src, "v1", flat, { tags: ["x"] });
  assert.equal(r2.descriptor.digest, a.manifestDesc.digest);
});

test("engine: a corrupt blob fails with DIGEST_MISMATCH and is not stored", async () => {
  const src = new MemoryStore("src");
  const img = src.put(randomImage([1024, 1024]));
  src.tags.set("latest", img.manifestDesc);
  const bad = Buffer.from(src.blobs.get(img.layers[0]!.desc.digest)!);
  bad[10] = bad[10]! ^ 1;
  src.corrupt.set(img.layers[0]!.desc.digest, bad);
  const dst = new MemoryStore("dst");
  await assert.rejects(copyImage(src, undefined, dst, { tags: ["latest"] }), (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH");
  assert.ok(!dst.tags.has("latest"));
  assert.ok(!dst.blobs.has(img.manifestDesc.digest));
});

test("engine: uncompressed layers are gzip-compressed for sinks that want it; config kept, manifest rewritten", async () => {
  const src = new MemoryStore("src");
  const img = src.put(randomImage([1024, 1024], { gzip: false, docker: true }));
  src.tags.set("latest", img.manifestDesc);
  const dst = new MemoryStore("dst", { compressedLayers: true });
  const r = await copyImage(src, undefined, dst, { tags: ["latest"] });
  assert.notEqual(r.descriptor.digest, img.manifestDesc.digest);
  const m = JSON.parse(dst.blobs.get(r.descriptor.digest)!.toString());
  assert.equal(m.config.digest, img.configDesc.digest);
  assert.equal(m.layers.length, 2);
  m.layers.forEach((l: { mediaType: string; digest: string }, i: number) => {
    assert.equal(l.mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    const gz = dst.blobs.get(l.digest)!;
    assert.equal(digestOf(gz), l.digest);
    assert.equal(digestOf(gunzipSync(gz)), img.layers[i]!.diffId);
  });
  assert.equal(dst.tags.get("latest")!.digest, r.descriptor.digest);
});

test("engine: a manifest PUT refused with MANIFEST_BLOB_UNKNOWN re-checks its children once", async () => {
  const { RegistryError } = await import("../src/errors.js");
  const src = new MemoryStore("src");
  const img = src.put(randomImage([1024, 1024]));
  src.tags.set("latest", img.manifestDesc);
  const dst = new MemoryStore("dst");
  // the sink claims to have layer 0, but does not: the manifest PUT fails the first time
  const lying = img.layers[0]!.desc.digest;
  const realExists = dst.exists.bind(dst);
  let lies = 1;
  dst.exists = async (d) => (d.digest === lying && lies-- > 0 ? true : realExists(d));
  const realPush = dst.push.bind(dst);
  dst.push = async (d, s, o) => {
    if (d.digest === img.manifestDesc.digest && !dst.blobs.has(lying)) {
      for await (const _ of s) { /* drain */ }
      throw new RegistryError("REGISTRY", "blob unknown", { status: 400, method: "PUT", url: "x", errors: [{ code: "MANIFEST_BLOB_UNKNOWN" }] });
    }
    return realPush(d, s, o);
  };
  await copyImage(src, undefined, dst, { tags: ["latest"] });
  assert.ok(dst.blobs.has(lying));
  assert.equal(dst.tags.get("latest")!.digest, img.manifestDesc.digest);
});

test("engine: the sink's push starts while the source is still answering (one round trip less per blob)", async () => {
  const src = new MemoryStore("src");
  const img = src.put(randomImage([1024, 1024, 1024]));
  src.tags.set("latest", img.manifestDesc);
  src.delay = 50;
  let answered = 0;
  const fetch = src.fetch.bind(src);
  src.fetch = async (d) => {
    const s = await fetch(d);
    if (!isManifest(d.mediaType)) answered++;
    return s;
  };
  const dst = new MemoryStore("dst");
  const push = dst.push.bind(dst);
  let early = 0;
  dst.push = async (d, stream, o) => {
    if (!isManifest(d.mediaType) && answered === 0) early++;
    return push(d, stream, o);
  };
  await copyImage(src, undefined, dst, { tags: ["latest"] });
  assert.ok(early >= 1, "no blob push started before a source answer");
  assert.ok(dst.blobs.has(img.layers[2]!.desc.digest), "and the bytes arrived in full");
});
