/**
 * The real consumers of docker-save tarballs: `docker load` (a private dockerd) and `podman load`
 * accept tcrane's crane-tarball form, legacy form and the `save` bundle; the loaded image ID equals
 * the config digest.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { startDockerd, podman, type Dockerd } from "./harness/dockerd.js";
import { tcrane, tempDir } from "./harness/tools.js";
import { buildLayout } from "../scripts/build-layout.js";
import { sha256 } from "./fixtures/images.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
let reg: Distribution;
let dockerd: Dockerd;
let work: { dir: string; cleanup: () => Promise<void> };
let configDigest: string;

before(async () => {
  [reg, dockerd, work] = await Promise.all([startDistribution(), startDockerd(), tempDir()]);
  const layout = join(work.dir, "layout");
  await buildLayout(layout, {
    layers: [join(root, "testdata/demo/base"), join(root, "testdata/demo/app")],
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ],
    refName: "demo",
  });
  const p = await tcrane(["push", layout, `${reg.host}/load/demo:1`]);
  assert.equal(p.code, 0, p.stderr);
  const cfg = await tcrane(["config", `${reg.host}/load/demo:1`, "--platform", "linux/amd64"]);
  assert.equal(cfg.code, 0, cfg.stderr);
  configDigest = sha256(cfg.stdout);
});
after(async () => {
  await Promise.all([reg?.stop(), dockerd?.stop()]);
  await work?.cleanup();
});

for (const [name, args] of [
  ["tarball", ["pull", "--platform", "linux/amd64"]],
  ["legacy", ["pull", "--format", "legacy", "--platform", "linux/amd64"]],
] as const) {
  test(`docker load and podman load accept the ${name} form; image ID = config digest`, async () => {
    const file = join(work.dir, `${name}.tar`);
    const r = await tcrane([...args, `${reg.host}/load/demo:1`, file]);
    assert.equal(r.code, 0, r.stderr);
    const d = await dockerd.docker("load", "-i", file);
    assert.equal(d.code, 0, d.stderr);
    const id = await dockerd.docker("image", "inspect", "--format", "{{.Id}}", `${reg.host}/load/demo:1`);
    assert.equal(id.stdout.trim(), configDigest, id.stderr);
    const pm = podman(join(work.dir, `podman-${name}`));
    const pl = await pm("load", "-i", file);
    assert.equal(pl.code, 0, pl.stderr);
    const pid = await pm("image", "inspect", "--format", "{{.Id}}", `${reg.host}/load/demo:1`);
    assert.equal("sha256:" + pid.stdout.trim(), configDigest, pid.stderr);
    await dockerd.docker("rmi", "-f", `${reg.host}/load/demo:1`);
  });
}

test("the save bundle (OCI archive + manifest.json) loads into docker and podman", async () => {
  const bundle = join(work.dir, "bundle.tar");
  const r = await tcrane(["save", "--platform", "linux/amd64", `${reg.host}/load/demo:1`, "-o", bundle]);
  assert.equal(r.code, 0, r.stderr);
  const d = await dockerd.docker("load", "-i", bundle);
  assert.equal(d.code, 0, d.stderr);
  const id = await dockerd.docker("image", "inspect", "--format", "{{.Id}}", `${reg.host}/load/demo:1`);
  assert.equal(id.stdout.trim(), configDigest, id.stderr + d.stdout);
  const pm = podman(join(work.dir, "podman-bundle"));
  const pl = await pm("load", "-i", bundle);
  assert.equal(pl.code, 0, pl.stderr);
  const pid = await pm("image", "inspect", "--format", "{{.Id}}", `${reg.host}/load/demo:1`);
  assert.equal("sha256:" + pid.stdout.trim(), configDigest, pid.stderr + pl.stdout);
});
