/**
 * The editing library without a registry: flag parsing, platform patterns, the layer builder, config
 * edits, rebase checks, per-platform index edits and the EditSource/mountingSink pair driven by
 * the real engine over counting in-memory stores.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { keyValues, stringSlice } from "../src/mutate/args.js";
import { parsePlatformPatterns, platformSatisfies, filterIndex } from "../src/mutate/index-edit.js";
import { EditSource, mountingSink } from "../src/mutate/edit-source.js";
import { layerFromStream } from "../src/mutate/layer.js";
import { editRoot, emptyImage, readImage, readIndex, writeImage } from "../src/mutate/image.js";
import { appendLayers, mutateConfig, rebaseImage } from "../src/mutate/image-edit.js";
import { copyDescriptor } from "../src/transfer/engine.js";
import { digestOf } from "../src/image/digest.js";
import { TcraneError } from "../src/errors.js";
import type { Descriptor } from "../src/image/types.js";
import type { Source } from "../src/transports/types.js";
import { MemoryStore } from "./helpers/memory.js";
import { makeIndex, randomImage } from "./fixtures/images.js";

const OCI_GZ = "application/vnd.oci.image.layer.v1.tar+gzip";
const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };

/** A memory store that can "mount" from another memory store (records what it mounted). */
class MountingStore extends MemoryStore {
  mounted: string[] = [];
  async mount(desc: Descriptor, from: Source): Promise<boolean> {
    if (!(from instanceof MemoryStore) || !from.blobs.has(desc.digest)) return false;
    this.blobs.set(desc.digest, from.blobs.get(desc.digest)!);
    this.mounted.push(desc.digest);
    return true;
  }
}

test("flag parsing: string slices split on commas (or JSON arrays); key=value maps keep commas in values", () => {
  assert.deepEqual(stringSlice(["a.tar,b.tar", "c.tar"]), ["a.tar", "b.tar", "c.tar"]);
  assert.deepEqual(stringSlice('["/bin/sh","-c","a,b"]'), ["/bin/sh", "-c", "a,b"]);
  assert.deepEqual(stringSlice(undefined), []);
  assert.deepEqual(keyValues(["a=1,b=2", "c=x,y"], "label"), { a: "1", b: "2", c: "x,y" });
  assert.deepEqual(keyValues("k=v=w", "env"), { k: "v=w" });
  assert.throws(() => keyValues("a=", "label", false), (e: unknown) => e instanceof TcraneError && e.code === "USAGE");
  assert.throws(() => keyValues("novalue", "label"), (e: unknown) => e instanceof TcraneError && e.code === "USAGE");
});

test("platform patterns: fields left out match anything; arm64 without variant is v8; no platform never matches", () => {
  const [linux] = parsePlatformPatterns("linux");
  assert.ok(platformSatisfies(amd64, linux!));
  assert.ok(platformSatisfies(arm64, linux!));
  assert.ok(!platformSatisfies({ os: "windows", architecture: "amd64" }, linux!));
  assert.ok(!platformSatisfies(undefined, linux!));
  const [armv8] = parsePlatformPatterns("linux/arm64/v8");
  assert.ok(platformSatisfies({ os: "linux", architecture: "arm64" }, armv8!));
  assert.ok(!platformSatisfies({ os: "linux", architecture: "arm", variant: "v7" }, armv8!));
  assert.equal(parsePlatformPatterns("linux/amd64,linux/arm64").length, 2);
  assert.throws(() => parsePlatformPatterns("linux//x"), (e: unknown) => e instanceof TcraneError && e.code === "INVALID_PLATFORM");
  const idx = { schemaVersion: 2 as const, manifests: [{ mediaType: "m", digest: "sha256:" + "a".repeat(64), size: 1, platform: amd64 }, { mediaType: "m", digest: "sha256:" + "b".repeat(64), size: 1 }] };
  assert.equal(filterIndex(idx, parsePlatformPatterns("linux")).manifests.length, 1);
});

test("layer builder: one pass gives digest of the gzip blob and diff_id of the tar; gzip input kept byte for byte", async () => {
  const edit = new EditSource();
  try {
    const tarBytes = randomBytes(300_000);
    const l = await layerFromStream(edit, Readable.from([tarBytes.subarray(0, 1000), tarBytes.subarray(1000)]), { mediaType: OCI_GZ });
    assert.equal(l.diffId, digestOf(tarBytes));
    const blob = Buffer.concat(await (await edit.fetch(l.descriptor)).toArray());
    assert.equal(digestOf(blob), l.descriptor.digest);
    assert.equal(blob.length, l.descriptor.size);
    assert.deepEqual(gunzipSync(blob), tarBytes);
    const gz = gzipSync(tarBytes, { level: 9 });
    const k = await layerFromStream(edit, Readable.from([gz]), { mediaType: OCI_GZ });
    assert.equal(k.descriptor.digest, digestOf(gz));
    assert.equal(k.diffId, digestOf(tarBytes));
    const bad = Buffer.concat([gz.subarray(0, 100), Buffer.alloc(100, 7)]);
    await assert.rejects(layerFromStream(edit, Readable.from([bad]), { mediaType: OCI_GZ }), (e: unknown) => e instanceof TcraneError && e.code === "CORRUPT_ARCHIVE");
  } finally {
    await edit.close();
  }
});

test("config edits: env overridden in place and appended, entrypoint clears cmd, ports get /tcp, platform replaced", () => {
  const img = emptyImage(true);
  img.config.config = { Env: ["PATH=/bin", "A=1"], Cmd: ["old"], Labels: { keep: "1" } };
  mutateConfig(img, { env: { A: "2", B: "3" }, entrypoint: ["/app"], labels: { x: "y" }, exposedPorts: ["80", "53/udp"], platform: { os: "linux", architecture: "arm64", variant: "v8" } });
  assert.deepEqual(img.config.config.Env, ["PATH=/bin", "A=2", "B=3"]);
  assert.deepEqual(img.config.config.Entrypoint, ["/app"]);
  assert.equal(img.config.config.Cmd, undefined);
  assert.deepEqual(img.config.config.Labels, { keep: "1", x: "y" });
  assert.deepEqual(Object.keys(img.config.config.ExposedPorts!), ["80/tcp", "53/udp"]);
  assert.equal(img.config.architecture, "arm64");
  assert.equal(img.config.variant, "v8");
  mutateConfig(img, { platform: { os: "linux", architecture: "amd64" }, cmd: ["x"] });
  assert.equal(img.config.variant, undefined);
  assert.deepEqual(img.config.config.Cmd, ["x"]);
  const win = emptyImage(false, { os: "windows", architecture: "amd64" });
  win.config.config = { Env: ["Path=C:\\"] };
  mutateConfig(win, { env: { PATH: "D:\\", foo: "1" } });
  assert.deepEqual(win.config.config.Env, ["Path=D:\\", "FOO=1"]);
});

test("edit of an index: every platform image edited, attestations kept; a platform or an index-less sink picks one image", async () => {
  const src = new MemoryStore("src");
  const a = src.put(randomImage([1024], { platform: amd64 }));
  const b = src.put(randomImage([1024], { platform: arm64 }));
  const att = src.put(randomImage([1024], { platform: { os: "unknown", architecture: "unknown" } }));
  const root = src.put(makeIndex([a, b, { node: att, annotations: { "vnd.docker.reference.type": "attestation-manifest" } }])).manifestDesc;
  const edit = new EditSource(src);
  const seen: string[] = [];
  const r = await editRoot(edit, src, root, (img, p) => {
    seen.push(p.architecture);
    mutateConfig(img, { labels: { edited: "yes" } });
  }, { indexAnnotations: { note: "x" } });
  assert.deepEqual(seen, ["amd64", "arm64"]);
  assert.equal(r.images, 2);
  const idx = await readIndex(edit, r.descriptor);
  assert.equal(idx.annotations?.note, "x");
  assert.notEqual(idx.manifests[0]!.digest, a.manifestDesc.digest);
  assert.deepEqual(idx.manifests[1]!.platform, arm64);
  assert.equal(idx.manifests[2]!.digest, att.manifestDesc.digest);
  const child = await readImage(edit, idx.manifests[1]!);
  assert.equal(child.config.config?.Labels?.edited, "yes");
  assert.equal(child.manifest.layers[0]!.digest, b.layers[0]!.desc.digest);
  const one = await editRoot(edit, src, root, () => {}, { platform: arm64 });
  assert.equal(one.descriptor.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.equal((await readImage(edit, one.descriptor)).config.architecture, "arm64");
  const def = await editRoot(edit, src, root, () => {}, { indexes: false });
  assert.equal((await readImage(edit, def.descriptor)).config.architecture, "amd64");
});

test("engine over an EditSource: new blobs pushed, unchanged layers mounted from their origin, never fetched", async () => {
  const base = new MemoryStore("base");
  const img = base.put(randomImage([1024, 1024, 1024]));
  const dst = new MountingStore("dst");
  const edit = new EditSource(base);
  try {
    const e = await readImage(base, img.manifestDesc);
    const layer = await layerFromStream(edit, Readable.from([randomBytes(5000)]), { mediaType: OCI_GZ });
    appendLayers(e, [layer]);
    const root = writeImage(edit, e);
    base.fetches = [];
    const r = await copyDescriptor(edit, root, mountingSink(dst), { tags: ["v1"] });
    assert.equal(r.descriptor.digest, root.digest);
    assert.deepEqual(dst.mounted.sort(), img.layers.map((l) => l.desc.digest).sort());
    for (const l of img.layers) assert.ok(!base.fetches.includes(l.desc.digest), "base layer fetched");
    assert.ok(dst.blobs.has(layer.descriptor.digest));
    assert.equal(dst.tags.get("v1")?.digest, root.digest);
    const out = await readImage(dst, root);
    assert.equal(out.manifest.layers.length, 4);
    assert.equal(out.config.rootfs.diff_ids.at(-1), layer.diffId);
    assert.equal(out.config.history?.length, 1);
    // the layer file is the blob
    assert.deepEqual(dst.blobs.get(layer.descriptor.digest), Buffer.concat(await (await edit.fetch(layer.descriptor)).toArray()));
  } finally {
    await edit.close();
  }
});

test("rebase: refuses images not built on the old base; swaps layers, diff_ids and history; routes new base layers", async () => {
  const store = new MemoryStore("s");
  const shared = [randomBytes(500)];
  const oldB = store.put(randomImage([], { shared }));
  const app = store.put(randomImage([1024], { shared }));
  const other = new MemoryStore("other");
  const newB = other.put(randomImage([1024, 1024], { platform: arm64 }));
  const edit = new EditSource(store);
  const o = { image: await readImage(store, oldB.manifestDesc), source: store as Source, digest: oldB.manifestDesc.digest, name: "old" };
  const n = { image: await readImage(other, newB.manifestDesc), source: other as Source, digest: newB.manifestDesc.digest, name: "new" };
  o.image.config.history = [{ created_by: "old base" }];
  n.image.config.history = [{ created_by: "n1" }, { created_by: "n2" }];
  const img = await readImage(store, app.manifestDesc);
  img.config.history = [{ created_by: "old base" }, { created_by: "app" }];
  rebaseImage(edit, img, o, n);
  assert.deepEqual(img.manifest.layers.map((l) => l.digest), [...newB.layers.map((l) => l.desc.digest), app.layers[1]!.desc.digest]);
  assert.deepEqual(img.config.rootfs.diff_ids, [...newB.layers.map((l) => l.diffId), app.layers[1]!.diffId]);
  assert.deepEqual(img.config.history.map((x) => x.created_by), ["n1", "n2", "app"]);
  assert.equal(img.config.architecture, "arm64");
  assert.equal(img.manifest.annotations?.["org.opencontainers.image.base.name"], "new");
  assert.equal(edit.originOf(newB.layers[0]!.desc.digest), other);
  assert.equal(edit.originOf(app.layers[1]!.desc.digest), store);
  const wrong = await readImage(store, app.manifestDesc);
  assert.throws(() => rebaseImage(edit, wrong, n, o), /not based on new/);
  const small = await readImage(store, oldB.manifestDesc);
  const bigBase = { ...o, image: await readImage(store, app.manifestDesc) };
  assert.throws(() => rebaseImage(edit, small, bigBase, n), /too few layers/);
});

test("EditSource: a manifest served from a routed origin routes its children there", async () => {
  const a = new MemoryStore("a");
  const img = a.put(randomImage([1024]));
  const edit = new EditSource();
  edit.route(img.manifestDesc.digest, a);
  assert.equal(edit.originOf(img.layers[0]!.desc.digest), undefined);
  const bytes = Buffer.concat(await (await edit.fetch(img.manifestDesc)).toArray());
  assert.equal(digestOf(bytes), img.manifestDesc.digest);
  assert.equal(edit.originOf(img.layers[0]!.desc.digest), a);
  assert.equal(edit.originOf(img.configDesc.digest), a);
  await assert.rejects(edit.fetch({ mediaType: OCI_GZ, digest: "sha256:" + "0".repeat(64), size: 1 }), (e: unknown) => e instanceof TcraneError && e.code === "NOT_FOUND");
});
