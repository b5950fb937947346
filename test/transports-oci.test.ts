import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ImageIndex } from "../src/image/types.js";
import { plainArchive } from "../src/transports/files.js";
import { createOciArchiveSink, openOciArchiveSource } from "../src/transports/oci-archive.js";
import { createOciLayoutSink, openOciLayoutSource, type OciLayoutReader } from "../src/transports/oci-layout.js";
import { TarIndex } from "../src/transports/tar-index.js";
import type { Source } from "../src/transports/types.js";
import { fetchVerified, makeImage, makeIndex, nestedLayout, pushBytes, pushToSink, writeTar, type Image } from "./fixtures/images.js";
import { code, withTempDir } from "./harness/tools.js";

/** Every blob of the image verifies through the source. */
async function validateImage(src: Source, img: Image): Promise<void> {
  assert.ok((await fetchVerified(src, img.manifestDesc)).equals(img.manifest));
  assert.ok((await fetchVerified(src, img.configDesc)).equals(img.config));
  for (const l of img.layers) assert.ok((await fetchVerified(src, l.desc)).equals(l.blob));
}

test("oci layout: write with the sink, read back; resolve by name, digest, position; append and replace", async () => {
  await withTempDir(async (dir) => {
    const layout = join(dir, "layout");
    const a = await makeImage({ layers: 2 });
    const b = await makeImage({ layers: 1 });
    const s1 = await createOciLayoutSink(layout);
    await pushToSink(s1, a, "v1");
    await s1.commit();
    const r1 = await openOciLayoutSource(layout);
    assert.equal((await r1.resolve()).digest, a.manifestDesc.digest, "single entry");
    assert.equal(JSON.parse(await readFile(join(layout, "oci-layout"), "utf8")).imageLayoutVersion, "1.0.0");
    // append b as v2, then move v1 to b: v1 replaced, one entry each
    const s2 = await createOciLayoutSink(layout);
    await pushToSink(s2, b, "v2");
    await s2.tag(b.manifestDesc, "v1");
    await s2.commit();
    const r2 = await openOciLayoutSource(layout);
    await validateImage(r2, a);
    await validateImage(r2, b);
    const idx = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as ImageIndex;
    assert.deepEqual(
      idx.manifests.map((m) => [m.annotations?.["org.opencontainers.image.ref.name"], m.digest]),
      [["v2", b.manifestDesc.digest], ["v1", b.manifestDesc.digest]],
    );
    await assert.rejects(r2.resolve(), code("USAGE", /2 images.*v2, v1/));
    assert.equal((await r2.resolve("v1")).digest, b.manifestDesc.digest);
    assert.equal((await r2.resolve("@0")).digest, b.manifestDesc.digest);
    const byDigest = await r2.resolve(a.manifestDesc.digest);
    assert.equal(byDigest.mediaType, a.manifestDesc.mediaType, "digest of an untagged manifest still resolves");
    await assert.rejects(r2.resolve("v3"), code("NOT_FOUND", /v3.*it has: v2, v1/));
    assert.deepEqual((await r2.list()).map((l) => l.names), [["v2"], ["v1"]]);
    // no temp files left in blobs/
    const blobs = await readdir(join(layout, "blobs", "sha256"));
    assert.ok(blobs.every((n) => /^[a-f0-9]{64}$/.test(n)), blobs.join(","));
    await assert.rejects(openOciLayoutSource(join(dir, "nothing")), code("NOT_FOUND"));
    await writeFile(join(dir, "file"), "x");
    await assert.rejects(openOciLayoutSource(join(dir, "file")), code("MALFORMED", /not a directory/));
  });
});

test("oci layout: nested indexes are searched by ref.name and digest", async () => {
  await withTempDir(async (dir) => {
    const f = await nestedLayout(dir);
    const src = await openOciLayoutSource(dir);
    assert.equal((await src.resolve("multi")).digest, f.outer.manifestDesc.digest);
    assert.equal((await src.resolve("single")).digest, f.single.manifestDesc.digest);
    const nested = await src.resolve("nested");
    assert.equal(nested.digest, f.inner.manifestDesc.digest);
    assert.equal(nested.mediaType, "application/vnd.oci.image.index.v1+json");
    const arm = await src.resolve(f.b.manifestDesc.digest);
    assert.equal(arm.platform?.architecture, "arm64", "found inside the nested index, with its platform");
    await validateImage(src, f.b);
    await assert.rejects(src.resolve(), code("USAGE", /multi, single/));
  });
});

test("oci layout: two sinks committing into one layout at once keep both entries", async () => {
  await withTempDir(async (dir) => {
    const imgs = await Promise.all(Array.from({ length: 6 }, () => makeImage({ layers: 1 })));
    const sinks = await Promise.all(imgs.map(() => createOciLayoutSink(dir)));
    await Promise.all(imgs.map((img, i) => pushToSink(sinks[i]!, img, `t${i}`)));
    await Promise.all(sinks.map((s) => s.commit()));
    const idx = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
    assert.deepEqual(idx.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).sort(), ["t0", "t1", "t2", "t3", "t4", "t5"]);
    assert.ok(!(await readdir(dir)).includes("index.json.lock"));
    const src = await openOciLayoutSource(dir);
    for (let i = 0; i < imgs.length; i++) assert.equal((await src.resolve(`t${i}`)).digest, imgs[i]!.manifestDesc.digest);
  });
});

test("oci layout sink: abort forgets tags; a wrong size fails and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    const kept = await makeImage({ layers: 1 });
    const s0 = await createOciLayoutSink(dir);
    await pushToSink(s0, kept, "kept");
    await s0.commit();
    const img = await makeImage({ layers: 1 });
    const s = await createOciLayoutSink(dir);
    await pushToSink(s, img, "gone");
    await s.abort();
    const idx = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
    assert.deepEqual(idx.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]), ["kept"]);
    const s2 = await createOciLayoutSink(dir);
    const { Readable } = await import("node:stream");
    const bad = { ...img.layers[0]!.desc, digest: `sha256:${"0".repeat(64)}`, size: 5 };
    await assert.rejects(s2.push(bad, Readable.from([Buffer.from("toolong")])), code("SIZE_MISMATCH"));
    assert.ok((await readdir(join(dir, "blobs", "sha256"))).every((n) => /^[a-f0-9]{64}$/.test(n)));
    assert.equal(await s2.exists(bad), false);
  });
});

test("oci layout sink: abort removes a layout it created (and its directory), never one in use", async () => {
  await withTempDir(async (tmp) => {
    const img = await makeImage({ layers: 2 });
    // a new directory (and its new parent): gone after the abort
    const fresh = join(tmp, "new", "layout");
    const s = await createOciLayoutSink(fresh);
    await pushToSink(s, img, "x");
    await s.abort();
    assert.equal((await readdir(tmp)).includes("new"), false);
    // an existing empty directory: stays, empty
    const empty = join(tmp, "empty");
    await (await import("node:fs/promises")).mkdir(empty);
    const s1 = await createOciLayoutSink(empty);
    await pushToSink(s1, img, "x");
    await s1.abort();
    assert.deepEqual(await readdir(empty), []);
    // another sink stored a blob meanwhile: the layout stays, with that blob
    const shared = join(tmp, "shared");
    const creator = await createOciLayoutSink(shared);
    const other = await createOciLayoutSink(shared);
    await pushBytes(other, img.layers[0]!.desc, img.layers[0]!.blob);
    await pushToSink(creator, img, "x");
    await creator.abort();
    assert.equal(await other.exists(img.layers[0]!.desc), true);
    assert.deepEqual((await readdir(shared)).sort(), ["blobs", "index.json", "oci-layout"]);
  });
});

test("oci-archive: sink writes a tar layout (plain and gzip), source reads it back; index entries resolve", async () => {
  await withTempDir(async (dir) => {
    const a = await makeImage({ layers: 2, platform: "linux/amd64" });
    const b = await makeImage({ layers: 1, platform: "linux/arm64" });
    const index = makeIndex([a, b]);
    for (const compress of ["none", "gzip"] as const) {
      const p = join(dir, `bundle-${compress}.tar`);
      const sink = await createOciArchiveSink(p, { compress });
      await Promise.all([pushToSink(sink, a), pushToSink(sink, b)]);
      await pushBytes(sink, index.manifestDesc, index.manifest);
      await sink.tag({ ...index.manifestDesc, annotations: { "io.containerd.image.name": "example.com/multi:1" } }, "example.com/multi:1");
      await sink.tag(a.manifestDesc, "single");
      await sink.commit();
      const pf = await plainArchive(p);
      assert.equal(pf.compression, compress);
      await pf.cleanup();
      const src = await openOciArchiveSource(p);
      try {
        const root = await src.resolve("example.com/multi:1");
        assert.equal(root.digest, index.manifestDesc.digest);
        assert.equal(root.annotations?.["io.containerd.image.name"], "example.com/multi:1");
        assert.equal((await src.resolve("single")).digest, a.manifestDesc.digest);
        assert.equal((await src.resolve(b.manifestDesc.digest)).platform?.architecture, "arm64");
        await validateImage(src, a);
        await validateImage(src, b);
        assert.ok((await fetchVerified(src, index.manifestDesc)).equals(index.manifest));
        await assert.rejects(src.resolve("other"), code("NOT_FOUND"));
        const lst = await (src as OciLayoutReader).list();
        assert.deepEqual(lst.map((l) => l.names), [["example.com/multi:1"], ["single"]]);
      } finally {
        await src.close();
      }
    }
  });
});

test("oci-archive sink: dockerManifest lists tagged images (an index by its linux/amd64 child) with familiar RepoTags", async () => {
  await withTempDir(async (dir) => {
    const a = await makeImage({ layers: 2 });
    const b = await makeImage({ layers: 1 });
    const index = makeIndex([b]);
    const p = join(dir, "bundle.tar");
    const sink = await createOciArchiveSink(p, { dockerManifest: true });
    await pushToSink(sink, a);
    await pushToSink(sink, b);
    await pushBytes(sink, index.manifestDesc, index.manifest);
    await sink.tag({ ...a.manifestDesc, annotations: { "io.containerd.image.name": "docker.io/library/busybox:1" } }, "docker.io/library/busybox:1");
    await sink.tag(a.manifestDesc, "example.com/x/y:2");
    await sink.tag(index.manifestDesc, "example.com/multi:1");
    const c = await makeImage({ layers: 1 });
    await pushToSink(sink, c, "v9"); // a bare ref.name is a tag, not an image name: no RepoTag
    await sink.commit();
    const idx = await TarIndex.build(p);
    const hex = (d: string) => `blobs/sha256/${d.slice(7)}`;
    assert.deepEqual(JSON.parse((await idx.readFile("manifest.json")).toString()), [
      { Config: hex(a.configDesc.digest), RepoTags: ["busybox:1", "example.com/x/y:2"], Layers: a.layers.map((l) => hex(l.desc.digest)) },
      // the index's child has no platform, so it counts as linux/amd64 and is listed under the index's tag
      { Config: hex(b.configDesc.digest), RepoTags: ["example.com/multi:1"], Layers: b.layers.map((l) => hex(l.desc.digest)) },
      { Config: hex(c.configDesc.digest), RepoTags: null, Layers: c.layers.map((l) => hex(l.desc.digest)) },
    ]);
    assert.deepEqual(JSON.parse((await idx.readFile("oci-layout")).toString()), { imageLayoutVersion: "1.0.0" });
    assert.equal(JSON.parse((await idx.readFile("index.json")).toString()).manifests.length, 4);
  });
});

test("oci-archive: bad inputs and abort", async () => {
  await withTempDir(async (dir) => {
    const notOci = join(dir, "docker.tar");
    await writeTar(notOci, [{ name: "manifest.json", data: "[]" }]);
    await assert.rejects(openOciArchiveSource(notOci), code("CORRUPT_ARCHIVE", /docker\.tar.*no index\.json.*docker-archive/));
    const badIndex = join(dir, "badindex.tar");
    await writeTar(badIndex, [{ name: "index.json", data: '{"manifests": 3}' }]);
    await assert.rejects(openOciArchiveSource(badIndex), code("MALFORMED", /badindex\.tar: index\.json/));
    const img = await makeImage({ layers: 1 });
    const missingBlob = join(dir, "missing.tar");
    await writeTar(missingBlob, [{ name: "index.json", data: JSON.stringify({ schemaVersion: 2, manifests: [img.manifestDesc] }) }]);
    const src = await openOciArchiveSource(missingBlob);
    const root = await src.resolve();
    await assert.rejects(src.fetch(root), code("NOT_FOUND", /missing\.tar/));
    assert.equal(await src.exists(root), false);
    await src.close();
    const target = join(dir, "keep.tar");
    await writeFile(target, "old");
    const sink = await createOciArchiveSink(target, { compress: "gzip" });
    await pushToSink(sink, img, "x");
    await sink.abort();
    assert.equal(await readFile(target, "utf8"), "old");
    assert.deepEqual((await readdir(dir)).sort(), ["badindex.tar", "docker.tar", "keep.tar", "missing.tar"]);
  });
});

test("'-' writes archives to stdout and reads them (gzip, via a temp spool) from stdin", async () => {
  await withTempDir(async (dir) => {
    const { spawnSync } = await import("node:child_process");
    const dist = new URL("..", import.meta.url).pathname;
    const script = join(dir, "io.mjs");
    await writeFile(
      script,
      `import { makeImage, pushToSink, streamBytes } from ${JSON.stringify(`${dist}test/fixtures/images.js`)};
import { createDockerArchiveSink } from ${JSON.stringify(`${dist}src/transports/docker-archive-sink.js`)};
import { openDockerArchiveSource } from ${JSON.stringify(`${dist}src/transports/docker-archive-source.js`)};
import { createOciArchiveSink, openOciArchiveSource } from ${JSON.stringify(`${dist}src/transports/oci-archive.js`)};
const [mode, kind] = process.argv.slice(2);
if (mode === "write") {
  const img = await makeImage({ layers: 2 });
  const sink = kind === "docker" ? await createDockerArchiveSink("-", { compress: "gzip" }) : await createOciArchiveSink("-", { compress: "gzip" });
  await pushToSink(sink, img, kind === "docker" ? "example.com/io:1" : "io");
  await sink.commit();
  process.stderr.write(img.configDesc.digest);
} else {
  const src = kind === "docker" ? await openDockerArchiveSource("-") : await openOciArchiveSource("-");
  const m = JSON.parse((await streamBytes(await src.fetch(await src.resolve()))).toString());
  for (const l of m.layers) await streamBytes(await src.fetch(l));
  await src.close();
  process.stdout.write(m.config.digest);
}
`,
    );
    for (const kind of ["docker", "oci"]) {
      const w = spawnSync(process.execPath, [script, "write", kind], { maxBuffer: 1 << 26 });
      assert.equal(w.status, 0, String(w.stderr));
      assert.deepEqual([...w.stdout.subarray(0, 2)], [0x1f, 0x8b], "gzip on stdout");
      const r = spawnSync(process.execPath, [script, "read", kind], { input: w.stdout });
      assert.equal(r.status, 0, String(r.stderr));
      assert.equal(String(r.stdout), String(w.stderr), kind);
    }
    assert.deepEqual(await readdir(dir), ["io.mjs"]);
  });
});

test("untagged roots pushed into a layout or an oci-archive become unnamed index.json entries", async () => {
  await withTempDir(async (dir) => {
    const a = await makeImage({ layers: 1 });
    const b = await makeImage({ layers: 1 });
    const index = makeIndex([b]);
    const layout = join(dir, "layout");
    const s = await createOciLayoutSink(layout);
    await pushToSink(s, a);
    await pushToSink(s, b);
    await pushBytes(s, index.manifestDesc, index.manifest);
    await s.commit();
    const src = await openOciLayoutSource(layout);
    assert.deepEqual((await src.list()).map((l) => [l.descriptor.digest, l.names]).sort(), [[a.manifestDesc.digest, []], [index.manifestDesc.digest, []]].sort());
    // the same run again adds nothing (dedup by digest among unnamed entries)
    const s2 = await createOciLayoutSink(layout);
    await pushToSink(s2, a);
    await s2.commit();
    assert.equal((await src.list()).length, 2);
    const p = join(dir, "one.tar");
    const o = await createOciArchiveSink(p);
    await pushToSink(o, a);
    await o.commit();
    const os = await openOciArchiveSource(p);
    assert.equal((await os.resolve()).digest, a.manifestDesc.digest);
    await os.close();
  });
});

test("two processes writing one layout at once both keep their entries (index.json.lock)", async () => {
  await withTempDir(async (dir) => {
    const { spawn } = await import("node:child_process");
    const dist = new URL("..", import.meta.url).pathname;
    const script = join(dir, "writer.mjs");
    const layout = join(dir, "layout");
    await writeFile(
      script,
      `import { makeImage, pushToSink } from ${JSON.stringify(`${dist}test/fixtures/images.js`)};
import { createOciLayoutSink } from ${JSON.stringify(`${dist}src/transports/oci-layout.js`)};
const [dir, prefix] = process.argv.slice(2);
for (let i = 0; i < 8; i++) {
  const img = await makeImage({ layers: 1 });
  const sink = await createOciLayoutSink(dir);
  await pushToSink(sink, img, prefix + i);
  await sink.commit();
}
`,
    );
    const runOne = (prefix: string) =>
      new Promise<number>((resolve, reject) => {
        const p = spawn(process.execPath, [script, layout, prefix], { stdio: "inherit" });
        p.on("error", reject);
        p.on("close", (c) => resolve(c ?? -1));
      });
    assert.deepEqual(await Promise.all([runOne("a"), runOne("b"), runOne("c")]), [0, 0, 0]);
    const idx = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as ImageIndex;
    const names = idx.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).sort();
    assert.equal(names.length, 24);
    assert.deepEqual(names, ["a", "b", "c"].flatMap((x) => Array.from({ length: 8 }, (_, i) => `${x}${i}`)).sort());
  });
});
