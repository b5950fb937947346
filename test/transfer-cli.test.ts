/**
 * End-to-end: the copy/pull/push/save/validate/digest commands against the real distribution
 * registry, with skopeo as the independent client.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { readFile, readdir, stat, truncate, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { buildLayout } from "../scripts/build-layout.js";
import type { Descriptor } from "../src/image/types.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
let reg: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let layout: string;
let rootDesc: Descriptor;

before(async () => {
  requireBinary("skopeo");
  reg = await startDistribution();
  work = await tempDir();
  layout = join(work.dir, "layout");
  rootDesc = await buildLayout(layout, {
    layers: [join(root, "testdata/demo/base"), join(root, "testdata/demo/app")],
    platforms: [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ],
    refName: "demo",
    perPlatformFile: (p) => ({ "etc/platform": `${p.architecture}\n` }),
  });
});
after(async () => {
  await reg?.stop();
  await work?.cleanup();
});

const skopeo = (...args: string[]) => run("skopeo", args);

test("push a multi-platform OCI layout; skopeo reads the same index digest", async () => {
  const r = await tcrane(["push", layout, `${reg.host}/demo/app:1`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `${reg.host}/demo/app@${rootDesc.digest}`);
  const raw = await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/demo/app:1`);
  assert.equal(raw.code, 0, raw.stderr);
  const idx = JSON.parse(raw.stdout);
  assert.equal(idx.manifests.length, 2);
  const d = await tcrane(["digest", `${reg.host}/demo/app:1`]);
  assert.equal(d.stdout.trim(), rootDesc.digest);
});

test("copy within a registry mounts every blob; between repositories digests are kept", async () => {
  const r = await tcrane(["copy", `${reg.host}/demo/app:1`, `${reg.host}/other/app:1`, "--progress", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stderr.trim().split("\n").map((l) => JSON.parse(l) as { type: string });
  assert.ok(events.some((e) => e.type === "blob-mounted"), "expected cross-repo mounts");
  assert.ok(!events.some((e) => e.type === "blob-start"), "no blob bytes should be copied");
  const d = await tcrane(["digest", `${reg.host}/other/app:1`]);
  assert.equal(d.stdout.trim(), rootDesc.digest);
  // a re-run is a no-op
  const again = await tcrane(["copy", `${reg.host}/demo/app:1`, `${reg.host}/other/app:1`, "--json"]);
  assert.equal(JSON.parse(again.stdout).upToDate, true);
});

test("pull (tarball, legacy, oci, oci-archive); skopeo reads every output", async () => {
  const forms: Array<[string, string, string]> = [
    ["tarball", "img.tar", "docker-archive"],
    ["legacy", "legacy.tar", "docker-archive"],
    ["oci-archive", "img-oci.tar", "oci-archive"],
    ["oci", "img-layout", "oci"],
  ];
  for (const [format, name, transport] of forms) {
    const out = join(work.dir, name);
    const r = await tcrane(["pull", "--format", format, `${reg.host}/demo/app:1`, out]);
    assert.equal(r.code, 0, `${format}: ${r.stderr}`);
    const ref = transport === "docker-archive" ? `${transport}:${out}` : `${transport}:${out}:${reg.host}/demo/app:1`;
    const i = await skopeo("inspect", ref);
    assert.equal(i.code, 0, `${format}: skopeo inspect ${ref}: ${i.stderr}`);
    const info = JSON.parse(i.stdout);
    assert.equal(info.Architecture, transport === "docker-archive" ? "amd64" : info.Architecture);
    assert.equal(info.Layers.length, 2);
  }
  // no temp files beside the outputs
  const left = (await readdir(work.dir)).filter((n) => n.includes(".tmp") || n.startsWith(".tcrane"));
  assert.deepEqual(left, []);
});

test("air gap: save → validate → push --to keeps the index digest", async () => {
  const bundle = join(work.dir, "bundle.tar.gz");
  const s = await tcrane(["save", `${reg.host}/demo/app:1`, `${reg.host}/other/app:1`, "-o", bundle]);
  assert.equal(s.code, 0, s.stderr);
  const gz = await readFile(bundle);
  assert.equal(gz[0], 0x1f);
  const v = await tcrane(["validate", bundle, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const images = JSON.parse(v.stdout) as Array<{ digest: string }>;
  assert.equal(images.length, 2);
  const p = await tcrane(["push", bundle, "--to", `${reg.host}/airgap`]);
  assert.equal(p.code, 0, p.stderr);
  const lines = p.stdout.trim().split("\n").sort();
  assert.deepEqual(lines, [`${reg.host}/airgap/demo/app@${rootDesc.digest}`, `${reg.host}/airgap/other/app@${rootDesc.digest}`]);
});

test("save --from SPEC bundles what a mirror spec selects", async () => {
  const spec = join(work.dir, "spec.yaml");
  await writeFile(spec, `mirrors:\n  - source: ${reg.host}/demo/app\n    target: ${reg.host}/unused\n    tags: ["1"]\n  - source: ${reg.host}/other/app\n    target: ${reg.host}/unused\n    allTags: true\n`);
  const bundle = join(work.dir, "from-spec.tar");
  const s = await tcrane(["save", "--from", spec, "-o", bundle]);
  assert.equal(s.code, 0, s.stderr);
  const v = await tcrane(["validate", bundle, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const names = (JSON.parse(v.stdout) as Array<{ name: string }>).map((x) => x.name).sort();
  assert.deepEqual(names, [`${reg.host}/demo/app:1`, `${reg.host}/other/app:1`]);
});

test("save IMAGE without -o names the file after the reference", async () => {
  const r = await tcrane(["save", `${reg.host}/demo/app:1`], { cwd: work.dir });
  assert.equal(r.code, 0, r.stderr);
  const name = `127-0-0-1-${reg.port}-demo-app-1.tar`;
  assert.match(r.stderr, new RegExp(name.replace(/\./g, "\\.")));
  assert.ok(existsSync(join(work.dir, name)), `${name} missing`);
  const many = await tcrane(["save", `${reg.host}/demo/app:1`, `${reg.host}/other/app:1`], { cwd: work.dir });
  assert.equal(many.code, 2);
});

test("bad input: truncated bundle and missing image fail with one line, no output left", async () => {
  const bundle = join(work.dir, "cut.tar");
  assert.equal((await tcrane(["save", `${reg.host}/demo/app:1`, "-o", bundle])).code, 0);
  await truncate(bundle, Math.floor((await stat(bundle)).size / 2));
  const v = await tcrane(["validate", bundle]);
  assert.notEqual(v.code, 0);
  assert.equal(v.stderr.trim().split("\n").length, 1, v.stderr);
  assert.match(v.stderr, /^tcrane: /);
  const out = join(work.dir, "missing.tar");
  const m = await tcrane(["pull", `${reg.host}/demo/nope:1`, out]);
  assert.equal(m.code, 3, m.stderr);
  assert.equal(m.stderr.trim().split("\n").length, 1);
  assert.equal(existsSync(out), false);
  const bad = await tcrane(["copy", "Not//Valid", `${reg.host}/x:1`]);
  assert.equal(bad.code, 2);
  await writeFile(join(work.dir, "empty.tar"), "");
  const e = await tcrane(["validate", join(work.dir, "empty.tar")]);
  assert.equal(e.code, 2, e.stderr);
});
