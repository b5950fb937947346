/**
 * Uploads whose digest is known only at the end (an uncompressed layer gzip-compressed on its way
 * into a registry): the client's pushBlobStream against the real distribution registry (chunked
 * transfer encoding, restart by re-opening, content errors not retried), and the engine's streaming
 * path giving the same image, byte for byte, as the temp-file path other sinks use.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { RegistryClient } from "../src/registry/index.js";
import { TcraneError } from "../src/errors.js";
import { digestOf, verifier } from "../src/image/digest.js";
import { copyImage } from "../src/transfer/engine.js";
import { RegistryTarget } from "../src/transports/registry.js";
import type { Descriptor } from "../src/image/types.js";
import type { CallOptions, StreamPusher } from "../src/transports/types.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { MemoryStore } from "./helpers/memory.js";
import { randomImage } from "./fixtures/images.js";

let reg: Distribution;
let client: RegistryClient;

before(async () => {
  reg = await startDistribution({ mode: "anonymous" });
  client = new RegistryClient({ backoff: { baseMs: 10, maxMs: 50 } });
});
after(async () => {
  await client.close();
  await reg.stop();
});

/** A stream of `data` in 64 KiB pieces (so the upload really streams). */
function pieces(data: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 65536) parts.push(data.subarray(i, i + 65536));
  return Readable.from(parts);
}

test("pushBlobStream: unknown size and digest, streamed; the registry holds exactly those bytes", async () => {
  const repo = { registry: reg.host, repository: "stream/a" };
  const data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(100_000, 7)]);
  let opens = 0;
  const before = client.stats.byMethod.PATCH ?? 0;
  const r = await client.pushBlobStream(repo, async () => {
    opens++;
    return pieces(data);
  });
  assert.deepEqual(r, { digest: digestOf(data), size: data.length });
  assert.equal(opens, 1);
  assert.equal((client.stats.byMethod.PATCH ?? 0) - before, 1, "one streamed PATCH");
  assert.equal(await client.headBlob(repo, r.digest), data.length);
  const back = await client.fetchBlob(repo, r);
  const chunks: Buffer[] = [];
  for await (const c of back) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data));
});

test("pushBlobStream: a connection-style failure of the content restarts the upload from a re-opened stream", async () => {
  const repo = { registry: reg.host, repository: "stream/b" };
  const data = randomBytes(2 << 20);
  let opens = 0;
  const r = await client.pushBlobStream(repo, async () => {
    opens++;
    if (opens === 1) {
      const s = new Readable({ read() {} });
      s.push(data.subarray(0, 1 << 20));
      setTimeout(() => s.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })), 20);
      return s;
    }
    return pieces(data);
  });
  assert.equal(opens, 2);
  assert.deepEqual(r, { digest: digestOf(data), size: data.length });
  assert.equal(await client.headBlob(repo, r.digest), data.length);
});

test("pushBlobStream: content that fails its own check is not retried and nothing is committed", async () => {
  const repo = { registry: reg.host, repository: "stream/c" };
  const data = randomBytes(1 << 20);
  let opens = 0;
  await assert.rejects(
    client.pushBlobStream(repo, async () => {
      opens++;
      const v = verifier({ digest: digestOf("something else"), size: data.length }, "the layer");
      return pieces(data).pipe(v);
    }),
    (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH",
  );
  assert.equal(opens, 1);
  assert.equal(await client.headBlob(repo, digestOf(data)), undefined, "the bytes were not committed under their digest");
});

/** A memory sink that also stores streams of unknown digest (what a registry sink does). */
class StreamingMemory extends MemoryStore implements StreamPusher {
  streamed = 0;
  async pushStream(_mediaType: string, open: () => Promise<Readable>, _o?: CallOptions): Promise<{ digest: string; size: number }> {
    const chunks: Buffer[] = [];
    for await (const c of await open()) chunks.push(c as Buffer);
    const b = Buffer.concat(chunks);
    const digest = digestOf(b);
    this.blobs.set(digest, b);
    this.streamed++;
    return { digest, size: b.length };
  }
}

test("engine: the streaming gzip path gives the same digests as the temp-file path", async () => {
  const src = new MemoryStore("src");
  const img = src.put(randomImage([3 << 20, 3 << 20, 3 << 20], { gzip: false, docker: true }));
  src.tags.set("latest", img.manifestDesc);
  const viaFile = new MemoryStore("file", { compressedLayers: true });
  const viaStream = new StreamingMemory("stream", { compressedLayers: true });
  const a = await copyImage(src, undefined, viaFile, { tags: ["latest"] });
  const b = await copyImage(src, undefined, viaStream, { tags: ["latest"] });
  assert.equal(viaStream.streamed, 3, "every uncompressed layer went through pushStream");
  assert.equal(b.descriptor.digest, a.descriptor.digest);
  const m = JSON.parse(viaStream.blobs.get(b.descriptor.digest)!.toString()) as { layers: Descriptor[] };
  m.layers.forEach((l, i) => {
    assert.equal(l.mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    const gz = viaStream.blobs.get(l.digest)!;
    assert.equal(gz.length, l.size);
    assert.equal(digestOf(gunzipSync(gz)), img.layers[i]!.diffId);
  });
});

test("engine → registry: uncompressed layers stream into the registry; a corrupt one fails and nothing is tagged", async () => {
  const src = new MemoryStore("src");
  const img = src.put(randomImage([2 << 20, 2 << 20], { gzip: false, docker: true }));
  src.tags.set("latest", img.manifestDesc);
  const repo = { registry: reg.host, repository: "stream/engine" };
  const sink = new RegistryTarget(client, repo);
  const patches = client.stats.byMethod.PATCH ?? 0;
  const r = await copyImage(src, undefined, sink, { tags: ["ok"] });
  assert.equal((client.stats.byMethod.PATCH ?? 0) - patches, 2, "one streamed PATCH per layer");
  const got = await client.getManifest(repo, "ok");
  assert.equal(got.digest, r.descriptor.digest);
  const m = JSON.parse(got.bytes.toString()) as { layers: Descriptor[] };
  for (const [i, l] of m.layers.entries()) {
    const s = await client.fetchBlob(repo, l);
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    assert.equal(digestOf(gunzipSync(Buffer.concat(chunks))), img.layers[i]!.diffId);
  }

  const layer = img.layers[1]!.desc;
  const bad = Buffer.from(src.blobs.get(layer.digest)!);
  bad[bad.length - 10] ^= 1;
  src.corrupt.set(layer.digest, bad);
  await assert.rejects(copyImage(src, undefined, sink, { tags: ["bad"] }), (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH");
  assert.equal(await client.headManifest(repo, "bad"), undefined);
});
