import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { gzipSync } from "node:zlib";
import { VerifyingStream, digestOf } from "../src/image/digest.js";
import type { ImageManifest } from "../src/image/types.js";
import { openDockerArchiveSource } from "../src/transports/docker-archive-source.js";
import { createDockerArchiveSink, v1LayerId } from "../src/transports/docker-archive-sink.js";
import { TarIndex } from "../src/transports/tar-index.js";
import { plainArchive } from "../src/transports/files.js";
import { classicDockerSave, containerdSave, craneTarball, docker25Save, skopeoStyle } from "./fixtures/archives.js";
import { fetchVerifiedImage, makeImage, pushToSink, streamBytes, writeTar, type Image } from "./fixtures/images.js";
import { code, withTempDir } from "./harness/tools.js";

/** The synthesized manifest must name the image's config and its layers (by diffID when uncompressed). */
function assertSame(m: ImageManifest, img: Image, uncompressed: boolean) {
  assert.equal(m.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.equal(m.config.digest, img.configDesc.digest);
  assert.equal(m.config.mediaType, "application/vnd.docker.container.image.v1+json");
  assert.deepEqual(
    m.layers.map((l) => l.digest),
    img.layers.map((l) => (uncompressed ? l.diffId : l.desc.digest)),
  );
  for (const l of m.layers) {
    assert.equal(l.mediaType, uncompressed ? "application/vnd.docker.image.rootfs.diff.tar" : "application/vnd.docker.image.rootfs.diff.tar.gzip");
  }
}

test("docker-archive source reads crane tarball, classic, skopeo, Docker 25+ and containerd forms", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 2 });
    const forms: Array<[string, (p: string) => Promise<void>, boolean]> = [
      ["crane", (p) => craneTarball(p, [{ img, tags: ["example.com/app:1"] }]), false],
      ["classic", (p) => classicDockerSave(p, img, ["example.com/app:1"]), true],
      ["skopeo", (p) => skopeoStyle(p, img, ["example.com/app:1"]), true],
      ["docker25", (p) => docker25Save(p, img, "example.com/app:1"), true],
      ["containerd", (p) => containerdSave(p, img, "example.com/app:1"), false],
    ];
    for (const [name, make, uncompressed] of forms) {
      const p = join(dir, `${name}.tar`);
      await make(p);
      const src = await openDockerArchiveSource(p);
      try {
        const root = await src.resolve();
        assert.equal(root.digest, (await src.resolve("example.com/app:1")).digest, name);
        assertSame(await fetchVerifiedImage(src, root), img, uncompressed);
        const listed = await src.list();
        assert.deepEqual(listed.map((l) => l.names), [["example.com/app:1"]]);
        assert.ok(await src.exists(root));
        // The image ID (config digest) also resolves.
        assert.equal((await src.resolve(img.configDesc.digest)).digest, root.digest);
      } finally {
        await src.close();
      }
    }
  });
});

test("docker-archive source: several images, normalized names, i-was-a-digest, USAGE and NOT_FOUND", async () => {
  await withTempDir(async (dir) => {
    const a = await makeImage({ layers: 1 });
    const b = await makeImage({ layers: 2 });
    const p = join(dir, "multi.tar.gz");
    await craneTarball(
      p,
      [
        { img: a, tags: ["ubuntu:latest", "index.docker.io/library/ubuntu:22.04"] },
        { img: b, tags: ["localhost:5000/x/y:i-was-a-digest"] },
      ],
      { gzip: true },
    );
    const src = await openDockerArchiveSource(p);
    try {
      await assert.rejects(src.resolve(), code("USAGE", /2 images.*ubuntu:latest.*localhost:5000\/x\/y:i-was-a-digest/));
      const ra = await src.resolve("docker.io/library/ubuntu");
      assert.equal((await fetchVerifiedImage(src, ra)).config.digest, a.configDesc.digest);
      assert.equal((await src.resolve("ubuntu:22.04")).digest, ra.digest);
      assert.equal((await src.resolve("@0")).digest, ra.digest);
      const rb = await src.resolve(`localhost:5000/x/y@${b.manifestDesc.digest}`);
      assert.equal((await fetchVerifiedImage(src, rb)).config.digest, b.configDesc.digest);
      await assert.rejects(src.resolve("ubuntu:20.04"), code("NOT_FOUND", /ubuntu:20\.04.*it has/));
      await assert.rejects(src.resolve("@5"), code("NOT_FOUND"));
      await assert.rejects(src.fetch({ mediaType: "x", digest: digestOf("nope"), size: 4 }), code("NOT_FOUND"));
    } finally {
      await src.close();
    }
  });
});

test("docker-archive source: bad inputs give clear errors", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 1 });
    const hex = (d: string) => d.slice(7);
    // manifest.json naming a missing member
    const missing = join(dir, "missing.tar");
    await writeTar(missing, [
      { name: `sha256:${hex(img.configDesc.digest)}`, data: img.config },
      { name: "manifest.json", data: JSON.stringify([{ Config: `sha256:${hex(img.configDesc.digest)}`, RepoTags: ["a:b"], Layers: ["nope.tar.gz"] }]) },
    ]);
    const s1 = await openDockerArchiveSource(missing);
    await assert.rejects(s1.resolve(), code("CORRUPT_ARCHIVE", /missing\.tar.*"nope\.tar\.gz".*missing/));
    await s1.close();
    // a directory where a layer file is expected
    const dirLayer = join(dir, "dirlayer.tar");
    await writeTar(dirLayer, [
      { name: `sha256:${hex(img.configDesc.digest)}`, data: img.config },
      { name: "layerdir", type: "directory" },
      { name: "manifest.json", data: JSON.stringify([{ Config: `sha256:${hex(img.configDesc.digest)}`, Layers: ["layerdir"] }]) },
    ]);
    const s2 = await openDockerArchiveSource(dirLayer);
    await assert.rejects(s2.resolve(), code("MALFORMED", /is a directory/));
    await s2.close();
    // no manifest.json / bad manifest.json / an OCI archive given as docker-archive
    const noManifest = join(dir, "nomanifest.tar");
    await writeTar(noManifest, [{ name: "index.json", data: "{}" }]);
    await assert.rejects(openDockerArchiveSource(noManifest), code("CORRUPT_ARCHIVE", /manifest\.json.*oci-archive/));
    const nullManifest = join(dir, "null.tar");
    await writeTar(nullManifest, [{ name: "manifest.json", data: "null" }]);
    await assert.rejects(openDockerArchiveSource(nullManifest), code("MALFORMED", /null\.tar: manifest\.json/));
    const badJson = join(dir, "badjson.tar");
    await writeTar(badJson, [{ name: "manifest.json", data: "[{" }]);
    await assert.rejects(openDockerArchiveSource(badJson), code("MALFORMED", /invalid JSON/));
    // corrupt gzip, empty file, symlink escaping the archive
    const gz = gzipSync(randomBytes(4096));
    gz.fill(0, 12, 40);
    await writeFile(join(dir, "corrupt.tar.gz"), gz);
    await assert.rejects(openDockerArchiveSource(join(dir, "corrupt.tar.gz")), code("CORRUPT_ARCHIVE", /corrupt\.tar\.gz/));
    await writeFile(join(dir, "empty.tar"), "");
    await assert.rejects(openDockerArchiveSource(join(dir, "empty.tar")), code("CORRUPT_ARCHIVE", /empty\.tar.*empty/));
    const escape = join(dir, "escape.tar");
    await writeTar(escape, [
      { name: `sha256:${hex(img.configDesc.digest)}`, data: img.config },
      { name: "l/layer.tar", type: "symlink", linkname: "../../outside.tar" },
      { name: "manifest.json", data: JSON.stringify([{ Config: `sha256:${hex(img.configDesc.digest)}`, Layers: ["l/layer.tar"] }]) },
    ]);
    const s3 = await openDockerArchiveSource(escape);
    await assert.rejects(s3.resolve(), code("CORRUPT_ARCHIVE", /outside the archive/));
    await s3.close();
    await assert.rejects(openDockerArchiveSource(join(dir, "absent.tar")), code("NOT_FOUND", /absent\.tar/));
  });
});

test("docker-archive source: a layer whose bytes do not match its digest fails with DIGEST_MISMATCH", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 1 });
    const hex = (d: string) => d.slice(7);
    // compressed layer stored under a name that claims another digest: the consumer's verifier catches it
    const wrongGz = join(dir, "wronggz.tar");
    const other = await makeImage({ layers: 1 });
    await writeTar(wrongGz, [
      { name: `sha256:${hex(img.configDesc.digest)}`, data: img.config },
      { name: `${hex(img.layers[0]!.desc.digest)}.tar.gz`, data: other.layers[0]!.blob },
      { name: "manifest.json", data: JSON.stringify([{ Config: `sha256:${hex(img.configDesc.digest)}`, Layers: [`${hex(img.layers[0]!.desc.digest)}.tar.gz`] }]) },
    ]);
    const s1 = await openDockerArchiveSource(wrongGz);
    const m1 = JSON.parse((await streamBytes(await s1.fetch(await s1.resolve()))).toString()) as ImageManifest;
    const v = new VerifyingStream({ digest: m1.layers[0]!.digest, size: m1.layers[0]!.size });
    await assert.rejects(pipeline(await s1.fetch(m1.layers[0]!), v, async function* (src) { for await (const _ of src) yield; }), code("DIGEST_MISMATCH"));
    await s1.close();
    // uncompressed layer whose content does not hash to the config's diff_id: the source itself fails
    const wrongTar = join(dir, "wrongtar.tar");
    await writeTar(wrongTar, [
      { name: `${hex(img.configDesc.digest)}.json`, data: img.config },
      { name: "l1/layer.tar", data: other.layers[0]!.tar },
      { name: "manifest.json", data: JSON.stringify([{ Config: `${hex(img.configDesc.digest)}.json`, Layers: ["l1/layer.tar"] }]) },
    ]);
    const s2 = await openDockerArchiveSource(wrongTar);
    const m2 = JSON.parse((await streamBytes(await s2.fetch(await s2.resolve()))).toString()) as ImageManifest;
    await assert.rejects(streamBytes(await s2.fetch(m2.layers[0]!)), code("DIGEST_MISMATCH", /l1\/layer\.tar/));
    await s2.close();
  });
});

test("docker-archive sink (tarball form): crane layout, concurrent pushes, round trip, gzip", async () => {
  await withTempDir(async (dir) => {
    const a = await makeImage({ layers: 3 });
    const b = await makeImage({ layers: 1, docker: true });
    for (const compress of ["none", "gzip"] as const) {
      const p = join(dir, `out-${compress}.tar`);
      const sink = await createDockerArchiveSink(p, { compress });
      await Promise.all([pushToSink(sink, a, "example.com/a:1"), pushToSink(sink, b, "b:latest")]);
      await sink.tag(a.manifestDesc, "example.com/a:2");
      await sink.commit();
      const pf = await plainArchive(p);
      assert.equal(pf.compression, compress);
      const idx = await TarIndex.build(pf.path);
      const names = [...idx.entries()].map((e) => e.name);
      assert.ok(names.includes(`sha256:${a.configDesc.digest.slice(7)}`));
      for (const l of a.layers) assert.ok(names.includes(`${l.desc.digest.slice(7)}.tar.gz`));
      const manifest = JSON.parse((await idx.readFile("manifest.json")).toString());
      assert.deepEqual(
        manifest.map((e: { RepoTags: string[] }) => e.RepoTags),
        [["b:latest"], ["example.com/a:1", "example.com/a:2"]],
      );
      await pf.cleanup();
      const src = await openDockerArchiveSource(p);
      const ma = await fetchVerifiedImage(src, await src.resolve("example.com/a:2"));
      assert.deepEqual(ma.layers.map((l) => l.digest), a.layers.map((l) => l.desc.digest), "no recompression");
      assertSame(await fetchVerifiedImage(src, await src.resolve("b")), b, false);
      await src.close();
    }
    assert.deepEqual((await readdir(dir)).sort(), ["out-gzip.tar", "out-none.tar"]);
  });
});

test("docker-archive sink (legacy form): v1 ids, uncompressed layer.tar, repositories; round trip", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 2 });
    const p = join(dir, "legacy.tar");
    const sink = await createDockerArchiveSink(p, { format: "legacy" });
    await pushToSink(sink, img, "example.com/app:v1");
    await sink.commit();
    const idx = await TarIndex.build(p);
    const manifest = JSON.parse((await idx.readFile("manifest.json")).toString());
    const id0 = v1LayerId(img.layers[0]!.desc.digest, "");
    const id1 = v1LayerId(img.layers[1]!.desc.digest, id0, img.config);
    assert.deepEqual(manifest, [{ Config: `${img.configDesc.digest.slice(7)}.json`, RepoTags: ["example.com/app:v1"], Layers: [`${id0}/layer.tar`, `${id1}/layer.tar`] }]);
    assert.deepEqual(JSON.parse((await idx.readFile("repositories")).toString()), { "example.com/app": { v1: id1 } });
    assert.ok((await idx.readFile(`${id0}/layer.tar`)).equals(img.layers[0]!.tar));
    assert.equal((await idx.readFile(`${id1}/VERSION`)).toString(), "1.0");
    const j1 = JSON.parse((await idx.readFile(`${id1}/json`)).toString());
    assert.equal(j1.parent, id0);
    assert.equal(j1.architecture, "amd64");
    const src = await openDockerArchiveSource(p);
    assertSame(await fetchVerifiedImage(src, await src.resolve("example.com/app:v1")), img, true);
    await src.close();
  });
});

test("docker-archive sink: abort leaves nothing behind and keeps an existing file; indexes are refused", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 1 });
    const p = join(dir, "keep.tar");
    await writeFile(p, "previous");
    for (const format of ["tarball", "legacy"] as const) {
      const sink = await createDockerArchiveSink(p, { format });
      await pushToSink(sink, img, "x:1");
      await sink.abort();
    }
    assert.deepEqual(await readdir(dir), ["keep.tar"]);
    const sink = await createDockerArchiveSink(join(dir, "idx.tar"));
    await assert.rejects(
      sink.tag({ mediaType: "application/vnd.oci.image.index.v1+json", digest: digestOf("i"), size: 1 }, "x:1"),
      code("UNSUPPORTED", /index/),
    );
    await sink.abort();
    assert.deepEqual(await readdir(dir), ["keep.tar"]);
  });
});

test("docker-archive source: compressed layers without a usable digest in their name are hashed once", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 2 });
    const hex = (d: string) => d.slice(7);
    const p = join(dir, "names.tar");
    // layer 0: gzip bytes under a name encoding its diff_id; layer 1: gzip bytes under a plain name
    await writeTar(p, [
      { name: `${hex(img.configDesc.digest)}.json`, data: img.config },
      { name: `${hex(img.layers[0]!.diffId)}.tar`, data: img.layers[0]!.blob },
      { name: "l1/layer.tar", data: img.layers[1]!.blob },
      { name: "manifest.json", data: JSON.stringify([{ Config: `${hex(img.configDesc.digest)}.json`, RepoTags: ["x:1"], Layers: [`${hex(img.layers[0]!.diffId)}.tar`, "l1/layer.tar"] }]) },
    ]);
    const src = await openDockerArchiveSource(p);
    assertSame(await fetchVerifiedImage(src, await src.resolve("x:1")), img, false);
    await src.close();
  });
});
