/**
 * Interop with the real podman (4.3, throw-away vfs store): tcrane reads what `podman save` writes
 * (docker-archive and oci-archive) and pushes it back with the same config and layer diff_ids; a
 * multi-arch index survives registry → oci-archive / OCI dir → another registry with its digest.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { podman } from "./harness/dockerd.js";
import { tcrane, tempDir } from "./harness/tools.js";
import { buildLayout } from "../scripts/build-layout.js";
import type { Descriptor, ImageConfig, ImageManifest } from "../src/image/types.js";
import { sha256 } from "./fixtures/images.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

let reg: Distribution;
let reg2: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let single: string;
let multi: string;
let multiRoot: Descriptor;
let originalConfig: string;

before(async () => {
  [reg, reg2, work] = await Promise.all([startDistribution(), startDistribution(), tempDir()]);
  const layers = [join(root, "testdata/demo/base"), join(root, "testdata/demo/app")];
  await buildLayout(join(work.dir, "single"), { layers, platforms: [{ os: "linux", architecture: "amd64" }], refName: "single" });
  multiRoot = await buildLayout(join(work.dir, "multi"), {
    layers,
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ],
    refName: "multi",
    perPlatformFile: (p) => ({ "etc/platform": `${p.architecture}\n` }),
  });
  single = `${reg.host}/interop/single:1`;
  multi = `${reg.host}/interop/multi:1`;
  for (const [layout, ref] of [["single", single], ["multi", multi]] as const) {
    const p = await tcrane(["push", join(work.dir, layout), ref]);
    assert.equal(p.code, 0, p.stderr);
  }
  const cfg = await tcrane(["config", single]);
  assert.equal(cfg.code, 0, cfg.stderr);
  originalConfig = cfg.stdout;
});
after(async () => {
  await Promise.all([reg?.stop(), reg2?.stop()]);
  await work?.cleanup();
});

/** GET a blob straight from the registry (no tcrane involved) and return its diff_id. */
async function diffIdOf(repo: string, digest: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `${repo} blob ${digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(sha256(bytes), digest, "the registry serves the bytes under their digest");
  return sha256(bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes);
}

test("tcrane validates and pushes what podman save writes (docker-archive, oci-archive): same config, same diff_ids", async () => {
  const pm = podman(join(work.dir, "podman"));
  const pulled = await pm("pull", "--tls-verify=false", single);
  assert.equal(pulled.code, 0, pulled.stderr);
  const id = await pm("image", "inspect", "--format", "{{.Id}}", single);
  assert.equal("sha256:" + id.stdout.trim(), sha256(originalConfig), id.stderr);
  const wantDiffIds = (JSON.parse(originalConfig) as ImageConfig).rootfs.diff_ids;
  assert.equal(wantDiffIds.length, 2);

  for (const format of ["docker-archive", "oci-archive"]) {
    const file = join(work.dir, `podman-${format}.tar`);
    const s = await pm("save", "--format", format, "-o", file, single);
    assert.equal(s.code, 0, `podman save ${format}: ${s.stderr}`);

    const v = await tcrane(["validate", file, "--json"]);
    assert.equal(v.code, 0, `${format}: ${v.stderr}`);
    const images = JSON.parse(v.stdout) as Array<{ digest: string; blobs: number }>;
    assert.equal(images.length, 1, v.stdout);
    assert.equal(images[0]!.blobs, 3, "config + 2 layers re-read");

    const repo = `interop/from-${format}`;
    const p = await tcrane(["push", file, `${reg.host}/${repo}:1`]);
    assert.equal(p.code, 0, `${format}: ${p.stderr}`);
    assert.match(p.stdout.trim(), new RegExp(`^${reg.host}/${repo}@sha256:[0-9a-f]{64}$`));
    // an OCI archive is pushed verbatim; a docker-archive's uncompressed layers are gzipped (as crane does)
    if (format === "oci-archive") assert.equal(p.stdout.trim(), `${reg.host}/${repo}@${images[0]!.digest}`, "push prints the digest validate saw");

    const cfg = await tcrane(["config", `${reg.host}/${repo}:1`]);
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.equal(sha256(cfg.stdout), sha256(originalConfig), `${format}: the config survives byte for byte`);

    const man = await tcrane(["manifest", `${reg.host}/${repo}:1`]);
    assert.equal(man.code, 0, man.stderr);
    const m = JSON.parse(man.stdout) as ImageManifest;
    assert.equal(m.config.digest, sha256(originalConfig));
    const got: string[] = [];
    for (const l of m.layers) got.push(await diffIdOf(repo, l.digest));
    assert.deepEqual(got, wantDiffIds, `${format}: each pushed layer decompresses to its diff_id`);
  }

  // the docker-archive form through its explicit transport: digest and inspect
  const a = join(work.dir, "podman-docker-archive.tar");
  const d = await tcrane(["digest", `docker-archive:${a}`]);
  assert.equal(d.code, 0, d.stderr);
  const rawManifest = await tcrane(["manifest", `docker-archive:${a}`]);
  assert.equal(rawManifest.code, 0, rawManifest.stderr);
  assert.equal(d.stdout.trim(), sha256(rawManifest.stdout), "digest = sha256 of the manifest tcrane serves");
  const i = await tcrane(["inspect", `docker-archive:${a}`]);
  assert.equal(i.code, 0, i.stderr);
  const info = JSON.parse(i.stdout) as { Digest: string; Layers: string[]; Architecture: string };
  assert.equal(info.Digest, d.stdout.trim());
  assert.equal(info.Architecture, "amd64");
  assert.deepEqual(info.Layers, wantDiffIds, "podman's docker-archive holds uncompressed layers: digests = diff_ids");
});

test("a multi-arch index goes registry → oci-archive → another registry with the same index digest", async () => {
  const file = join(work.dir, "multi.tar");
  const c = await tcrane(["copy", multi, `oci-archive:${file}`]);
  assert.equal(c.code, 0, c.stderr);
  const v = await tcrane(["validate", file, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const images = JSON.parse(v.stdout) as Array<{ digest: string; mediaType: string; blobs: number }>;
  assert.deepEqual(images.map((x) => x.digest), [multiRoot.digest]);
  assert.equal(images[0]!.mediaType, "application/vnd.oci.image.index.v1+json");
  const dst = `${reg2.host}/mirror/multi:1`;
  const p = await tcrane(["copy", `oci-archive:${file}`, dst]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stdout.trim(), `${reg2.host}/mirror/multi@${multiRoot.digest}`);
  const d = await tcrane(["digest", dst]);
  assert.equal(d.stdout.trim(), multiRoot.digest, d.stderr);
  // both children arrived and are readable
  for (const platform of ["linux/amd64", "linux/arm64/v8"]) {
    const cfg = await tcrane(["config", dst, "--platform", platform]);
    assert.equal(cfg.code, 0, `${platform}: ${cfg.stderr}`);
    assert.equal(JSON.parse(cfg.stdout).architecture, platform.split("/")[1]);
  }
});

test("a multi-arch index goes registry → OCI directory → another registry with the same index digest", async () => {
  const dir = join(work.dir, "multi-layout");
  const c = await tcrane(["copy", multi, `oci:${dir}`]);
  assert.equal(c.code, 0, c.stderr);
  const v = await tcrane(["validate", dir, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  assert.deepEqual((JSON.parse(v.stdout) as Array<{ digest: string }>).map((x) => x.digest), [multiRoot.digest]);
  const dst = `${reg2.host}/mirror/multi-dir:1`;
  const p = await tcrane(["copy", `oci:${dir}`, dst]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stdout.trim(), `${reg2.host}/mirror/multi-dir@${multiRoot.digest}`);
  const d = await tcrane(["digest", dst]);
  assert.equal(d.stdout.trim(), multiRoot.digest, d.stderr);
  const arm = await tcrane(["config", dst, "--platform", "linux/arm64/v8"]);
  assert.equal(arm.code, 0, arm.stderr);
  assert.equal(JSON.parse(arm.stdout).architecture, "arm64");
});
