/**
 * Interop of the file transports with the real skopeo (1.9) and podman (4.3, vfs storage in a temp
 * root): skopeo reads what our sinks write, we read what skopeo writes, podman loads our archives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDockerArchiveSource } from "../src/transports/docker-archive-source.js";
import { createDockerArchiveSink } from "../src/transports/docker-archive-sink.js";
import { createOciArchiveSink, openOciArchiveSource } from "../src/transports/oci-archive.js";
import { createOciLayoutSink, openOciLayoutSource } from "../src/transports/oci-layout.js";
import type { Closer, Source } from "../src/transports/types.js";
import { fetchVerifiedImage, makeImage, pushToSink, streamBytes, type Image } from "./fixtures/images.js";
import { requireBinary, run, withTempDir } from "./harness/tools.js";

const SKOPEO = requireBinary("skopeo");
const PODMAN = requireBinary("podman");

async function skopeo(...args: string[]): Promise<string> {
  const r = await run(SKOPEO, ["--insecure-policy", ...args]);
  assert.equal(r.code, 0, `skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function withSource<T extends Source & Closer>(open: Promise<T>, fn: (s: T) => Promise<void>): Promise<void> {
  const s = await open;
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

test("skopeo copies from our oci layout to docker-archive and oci-archive; our sources read them", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 2 });
    const layout = join(dir, "layout");
    const sink = await createOciLayoutSink(layout);
    await pushToSink(sink, img, "v1");
    await sink.commit();
    await skopeo("copy", `oci:${layout}:v1`, `docker-archive:${join(dir, "sk.tar")}:example.com/app:v1`);
    await skopeo("copy", `oci:${layout}:v1`, `oci-archive:${join(dir, "sk-oci.tar")}:v1`);
    await withSource(openDockerArchiveSource(join(dir, "sk.tar")), async (src) => {
      const m = await fetchVerifiedImage(src, await src.resolve("example.com/app:v1"));
      assert.equal(m.config.digest, img.configDesc.digest);
      assert.deepEqual(m.layers.map((l) => l.digest), img.layers.map((l) => l.diffId), "skopeo stores uncompressed layers");
    });
    await withSource(openOciArchiveSource(join(dir, "sk-oci.tar")), async (src) => {
      const root = await src.resolve("v1");
      const m = await fetchVerifiedImage(src, root);
      assert.equal(m.config.digest, img.configDesc.digest);
    });
    // skopeo into our layout directory (appending), read back by name
    await skopeo("copy", `oci-archive:${join(dir, "sk-oci.tar")}:v1`, `oci:${layout}:again`);
    await withSource(openOciLayoutSource(layout), async (src) => {
      const m = await fetchVerifiedImage(src, await src.resolve("again"));
      assert.equal(m.config.digest, img.configDesc.digest);
      assert.equal((await src.list()).length, 2);
    });
  });
});

async function writeAll(dir: string, img: Image) {
  const paths = {
    tarball: join(dir, "tarball.tar"),
    legacy: join(dir, "legacy.tar"),
    tarballGz: join(dir, "tarball.tar.gz"),
    oci: join(dir, "bundle.tar"),
    ociGz: join(dir, "bundle.tar.gz"),
  };
  for (const [p, format, compress] of [
    [paths.tarball, "tarball", "none"],
    [paths.legacy, "legacy", "none"],
    [paths.tarballGz, "tarball", "gzip"],
  ] as const) {
    const s = await createDockerArchiveSink(p, { format, compress });
    await pushToSink(s, img, "example.com/app:v1");
    await s.commit();
  }
  for (const [p, compress] of [
    [paths.oci, "none"],
    [paths.ociGz, "gzip"],
  ] as const) {
    const s = await createOciArchiveSink(p, { compress, dockerManifest: true });
    await pushToSink(s, img);
    await s.tag({ ...img.manifestDesc, annotations: { "io.containerd.image.name": "example.com/app:v1" } }, "v1");
    await s.commit();
  }
  return paths;
}

test("skopeo reads what our sinks write (docker-archive both forms, oci-archive plain and gzip)", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 2 });
    const p = await writeAll(dir, img);
    // skopeo 1.9 cannot read a gzip docker-archive ("loading tar component manifest.json: unexpected
    // EOF", even for GNU gzip output); it does read gzip oci-archives. tcrane reads both (below).
    for (const f of [p.tarball, p.legacy]) {
      const info = JSON.parse(await skopeo("inspect", "--config", `docker-archive:${f}`));
      assert.deepEqual(info.rootfs.diff_ids, img.layers.map((l) => l.diffId), f);
      // a full copy makes skopeo read every layer and check it against the diff_ids
      const out = join(dir, `from-${f.split("/").pop()}`);
      await skopeo("copy", `docker-archive:${f}`, `oci:${out}:x`);
      await withSource(openOciLayoutSource(out), async (src) => {
        // skopeo rewrites the config when converting to OCI (drops unknown fields): compare diff_ids
        const m = await fetchVerifiedImage(src, await src.resolve("x"));
        const cfg = JSON.parse((await streamBytes(await src.fetch(m.config))).toString());
        assert.deepEqual(cfg.rootfs.diff_ids, img.layers.map((l) => l.diffId), f);
      });
    }
    for (const f of [p.oci, p.ociGz]) {
      const raw = JSON.parse(await skopeo("inspect", "--raw", `oci-archive:${f}:v1`));
      assert.equal(raw.config.digest, img.configDesc.digest, f);
      const out = join(dir, `copy-${f.endsWith(".gz") ? "gz" : "plain"}`);
      await skopeo("copy", `oci-archive:${f}:v1`, `oci:${out}:v1`);
      await withSource(openOciLayoutSource(out), async (src) => {
        const m = await fetchVerifiedImage(src, await src.resolve("v1"));
        assert.deepEqual(m.layers.map((l) => l.digest), img.layers.map((l) => l.desc.digest), "same blobs, no recompression");
      });
    }
    // tcrane reads its own gzip output
    await withSource(openDockerArchiveSource(p.tarballGz), async (src) => {
      assert.equal((await fetchVerifiedImage(src, await src.resolve("example.com/app:v1"))).config.digest, img.configDesc.digest);
    });
    await withSource(openOciArchiveSource(p.ociGz), async (src) => {
      assert.equal((await fetchVerifiedImage(src, await src.resolve("v1"))).config.digest, img.configDesc.digest);
    });
  });
});

test("podman load accepts our docker-archive (both forms) and oci-archive with dockerManifest; image ID = config digest", async () => {
  await withTempDir(async (dir) => {
    const img = await makeImage({ layers: 2 });
    const p = await writeAll(dir, img);
    for (const f of [p.tarball, p.legacy, p.oci]) {
      const root = join(dir, `root-${f.split("/").pop()}`);
      const base = ["--storage-driver", "vfs", "--root", root, "--runroot", `${root}-run`];
      const load = await run(PODMAN, [...base, "load", "-i", f]);
      assert.equal(load.code, 0, `podman load ${f}: ${load.stderr}`);
      const ls = await run(PODMAN, [...base, "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(ls.stdout, new RegExp(`${img.configDesc.digest.slice(7)} example\\.com/app:v1`), `${f}: ${ls.stdout}`);
    }
  });
});
