/**
 * Air-gapped bundles end to end: three images (one a multi-arch index) saved from registry A into one
 * archive, validated, corrupted (one flipped byte in one layer ⇒ exit 1 naming that blob), pushed to
 * registry B under a prefix with A's digests, and loaded by podman (and a multi-arch-only bundle by
 * docker and podman through its manifest.json entry for the linux/amd64 child). Also gzip bundles.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { podman, startDockerd, type Dockerd } from "./harness/dockerd.js";
import { requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { buildLayout } from "../scripts/build-layout.js";
import type { ImageIndex, ImageManifest } from "../src/image/types.js";
import { sha256 } from "./fixtures/images.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

let regA: Distribution;
let regB: Distribution;
let dockerd: Dockerd;
let work: { dir: string; cleanup: () => Promise<void> };
/** name (A/air/x:1 …) → root digest in registry A. */
const digests = new Map<string, string>();
/** name → config digest of its linux/amd64 image. */
const configs = new Map<string, string>();
let names: string[];
let bundle: string;

before(async () => {
  requireBinary("tar");
  [regA, regB, dockerd, work] = await Promise.all([startDistribution(), startDistribution(), startDockerd(), tempDir()]);
  const base = join(root, "testdata/demo/base");
  const app = join(root, "testdata/demo/app");
  const amd64 = { os: "linux", architecture: "amd64" };
  const images = {
    x: { layers: [base, app], platforms: [amd64], refName: "x" },
    y: { layers: [base], platforms: [amd64], refName: "y", cmd: ["/bin/sh"], perPlatformFile: () => ({ "etc/y": "y\n" }) },
    z: {
      layers: [base, app],
      platforms: [amd64, { os: "linux", architecture: "arm64", variant: "v8" }],
      refName: "z",
      perPlatformFile: (p: { architecture: string }) => ({ "etc/platform": `${p.architecture}\n` }),
    },
  };
  names = [];
  for (const [n, opts] of Object.entries(images)) {
    const layout = join(work.dir, `layout-${n}`);
    const rootDesc = await buildLayout(layout, opts);
    const name = `${regA.host}/air/${n}:1`;
    const p = await tcrane(["push", layout, name]);
    assert.equal(p.code, 0, p.stderr);
    digests.set(name, rootDesc.digest);
    const cfg = await tcrane(["config", name, "--platform", "linux/amd64"]);
    assert.equal(cfg.code, 0, cfg.stderr);
    configs.set(name, sha256(cfg.stdout));
    names.push(name);
  }
  bundle = join(work.dir, "bundle.tar");
  const s = await tcrane(["save", ...names, "-o", bundle]);
  assert.equal(s.code, 0, s.stderr);
});
after(async () => {
  await Promise.all([regA?.stop(), regB?.stop(), dockerd?.stop()]);
  await work?.cleanup();
});

/** The members of a plain tar: name → offset and size of its data (ustar headers, pax entries skipped over). */
function tarMembers(buf: Buffer): Map<string, { offset: number; size: number }> {
  const out = new Map<string, { offset: number; size: number }>();
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, b: number) => h.subarray(a, b).toString("latin1").replace(/\0.*$/s, "");
    const prefix = h.subarray(257, 262).toString("latin1") === "ustar" ? str(345, 500) : "";
    const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    const size = parseInt(str(124, 136).trim() || "0", 8);
    const type = String.fromCharCode(h[156]!);
    if (type === "0" || type === "\0") out.set(name, { offset: off + 512, size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const member = (tar: Buffer, name: string): Buffer => {
  const m = tarMembers(tar).get(name);
  assert.ok(m, `${name} is in the archive`);
  return tar.subarray(m.offset, m.offset + m.size);
};

test("save → validate lists the three images (the index whole) with registry A's digests", async () => {
  const v = await tcrane(["validate", bundle, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const listed = JSON.parse(v.stdout) as Array<{ name: string; digest: string; mediaType: string }>;
  assert.deepEqual(
    listed.map((x) => [x.name, x.digest]).sort(),
    names.map((n) => [n, digests.get(n)!]).sort(),
  );
  const z = listed.find((x) => x.name.endsWith("/air/z:1"))!;
  assert.equal(z.mediaType, "application/vnd.oci.image.index.v1+json");
  // one line per image in text mode too
  const t = await tcrane(["validate", bundle]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout.trim().split("\n").length, 3, t.stdout);
});

test("one flipped byte inside one layer blob ⇒ validate exits 1 with one line naming that blob", async () => {
  const tar = await readFile(bundle);
  const m = await tcrane(["manifest", names[0]!]);
  assert.equal(m.code, 0, m.stderr);
  const layer = (JSON.parse(m.stdout) as ImageManifest).layers.at(-1)!;
  const where = tarMembers(tar).get(`blobs/sha256/${layer.digest.slice(7)}`);
  assert.ok(where, "the layer blob is a member of the bundle");
  assert.equal(where.size, layer.size);
  // GNU tar agrees on where the member's header is (its data starts one block later)
  const listing = await run("tar", ["-tvf", bundle, "--block-number"]);
  const row = listing.stdout.split("\n").find((r) => r.endsWith(`blobs/sha256/${layer.digest.slice(7)}`));
  assert.ok(row, listing.stdout);
  assert.equal((Number(/^block (\d+):/.exec(row)![1]) + 1) * 512, where.offset);
  const bad = Buffer.from(tar);
  const at = where.offset + Math.floor(where.size / 2);
  bad[at] = bad[at]! ^ 0xff;
  const file = join(work.dir, "corrupt.tar");
  await writeFile(file, bad);
  const v = await tcrane(["validate", file]);
  assert.equal(v.code, 1, v.stderr);
  const lines = v.stderr.trim().split("\n");
  assert.equal(lines.length, 1, v.stderr);
  assert.match(lines[0]!, /^tcrane: .*digest mismatch/);
  assert.ok(lines[0]!.includes(layer.digest), `the error names ${layer.digest}: ${lines[0]}`);
  // the intact bundle still validates (the corruption is the only difference)
  assert.equal((await tcrane(["validate", bundle])).code, 0);
});

test("push --to B/prefix: every image lands under the prefix with A's digest", async () => {
  const p = await tcrane(["push", bundle, "--to", `${regB.host}/mirror`]);
  assert.equal(p.code, 0, p.stderr);
  const want = names.map((n) => `${regB.host}/mirror/air/${n.split("/air/")[1]!.replace(/:1$/, "")}@${digests.get(n)}`);
  assert.deepEqual(p.stdout.trim().split("\n").sort(), want.sort());
  for (const n of names) {
    const moved = `${regB.host}/mirror/air/${n.split("/air/")[1]}`;
    const d = await tcrane(["digest", moved]);
    assert.equal(d.stdout.trim(), digests.get(n), `${moved}: ${d.stderr}`);
  }
  // the index arrived whole: its arm64 child is there too
  const arm = await tcrane(["config", `${regB.host}/mirror/air/z:1`, "--platform", "linux/arm64/v8"]);
  assert.equal(arm.code, 0, arm.stderr);
  assert.equal(JSON.parse(arm.stdout).architecture, "arm64");
});

test("podman load (and docker load) take the bundle: every image under its name, image ID = its amd64 config digest", async () => {
  const pm = podman(join(work.dir, "podman-bundle"));
  const l = await pm("load", "-i", bundle);
  assert.equal(l.code, 0, l.stderr);
  for (const n of names) {
    const id = await pm("image", "inspect", "--format", "{{.Id}}", n);
    assert.equal(id.code, 0, `${n}: ${id.stderr}\n${l.stdout}`);
    assert.equal("sha256:" + id.stdout.trim(), configs.get(n), n);
  }
  const d = await dockerd.docker("load", "-i", bundle);
  assert.equal(d.code, 0, d.stderr);
  for (const n of names) {
    const id = await dockerd.docker("image", "inspect", "--format", "{{.Id}}", n);
    assert.equal(id.stdout.trim(), configs.get(n), `${n}: ${id.stderr}\n${d.stdout}`);
  }
  const rm = await dockerd.docker("rmi", ...names);
  assert.equal(rm.code, 0, rm.stderr);
});

test("a multi-arch-only bundle carries a manifest.json entry for its linux/amd64 child; docker and podman load it", async () => {
  const z = names[2]!;
  const file = join(work.dir, "multi-only.tar");
  const s = await tcrane(["save", z, "-o", file]);
  assert.equal(s.code, 0, s.stderr);
  const tar = await readFile(file);
  const index = JSON.parse(member(tar, "index.json").toString()) as ImageIndex;
  assert.deepEqual(index.manifests.map((d) => d.digest), [digests.get(z)], "index.json keeps the index whole");
  const docker = JSON.parse(member(tar, "manifest.json").toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  assert.equal(docker.length, 1, JSON.stringify(docker));
  assert.equal(docker[0]!.Config, `blobs/sha256/${configs.get(z)!.slice(7)}`, "the amd64 child's config");
  assert.deepEqual(docker[0]!.RepoTags, [z]);
  for (const l of docker[0]!.Layers) assert.ok(tarMembers(tar).has(l), `${l} is in the archive`);

  const d = await dockerd.docker("load", "-i", file);
  assert.equal(d.code, 0, d.stderr);
  const did = await dockerd.docker("image", "inspect", "--format", "{{.Id}} {{.Architecture}}", z);
  assert.equal(did.stdout.trim(), `${configs.get(z)} amd64`, did.stderr + d.stdout);

  const pm = podman(join(work.dir, "podman-multi"));
  const l = await pm("load", "-i", file);
  assert.equal(l.code, 0, l.stderr);
  const pid = await pm("image", "inspect", "--format", "{{.Id}}", z);
  assert.equal("sha256:" + pid.stdout.trim(), configs.get(z), pid.stderr + l.stdout);
});

test("gzip bundle: save → validate → push --to keeps every digest", async () => {
  const gz = join(work.dir, "bundle.tar.gz");
  const s = await tcrane(["save", ...names, "-o", gz]);
  assert.equal(s.code, 0, s.stderr);
  const head = await readFile(gz);
  assert.deepEqual([head[0], head[1]], [0x1f, 0x8b], "written gzip-compressed");
  const v = await tcrane(["validate", gz, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const listed = JSON.parse(v.stdout) as Array<{ name: string; digest: string }>;
  assert.deepEqual(listed.map((x) => [x.name, x.digest]).sort(), names.map((n) => [n, digests.get(n)!]).sort());
  const p = await tcrane(["push", gz, "--to", `${regB.host}/gz`]);
  assert.equal(p.code, 0, p.stderr);
  const want = names.map((n) => `${regB.host}/gz/air/${n.split("/air/")[1]!.replace(/:1$/, "")}@${digests.get(n)}`);
  assert.deepEqual(p.stdout.trim().split("\n").sort(), want.sort());
});
