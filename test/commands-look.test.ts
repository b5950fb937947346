/**
 * crane's looking and housekeeping commands (manifest, config, blob, ls, catalog, inspect, tag,
 * delete) run through the built CLI against the real distribution registry, with images pushed
 * there by skopeo from OCI layouts written by hand.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { digestOf } from "../src/image/digest.js";
import { RegistryClient } from "../src/registry/client.js";
import { startRegistry } from "../src/server/index.js";
import { Readable } from "node:stream";
import { imageOf, layerOf, makeIndex, randomImage, writeLayout, type Image, type Index } from "./fixtures/images.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { requireBinary, run, tcrane, tempDir, TCRANE_BIN } from "./harness/tools.js";
import { spawn } from "node:child_process";

/** An image whose config carries what inspect reports (created, labels, env, docker_version). */
function richImage(): Image {
  const layers = [layerOf(randomBytes(2048)), layerOf(randomBytes(1024), { annotations: { "org.example.layer": "second" } })];
  return imageOf(layers, {
    created: "2024-05-06T07:08:09Z",
    extra: { docker_version: "24.0.7" },
    config: { Env: ["PATH=/usr/bin", "APP=1"], Labels: { "org.example.name": "rich" } },
    history: false,
    nonce: false,
    indent: 3,
  });
}

/** Request lines of the registry's access log, e.g. `GET /v2/look/app/manifests/v1`. */
function requests(reg: Distribution): string[] {
  return [...reg.logs().matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\/v2\/[^ "]*) HTTP/g)].map((m) => `${m[1]} ${m[2]}`);
}

let reg: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let rich: Image;
let amd: Image;
let arm: Image;
let index: Index;
let layout: string;
let client: RegistryClient;

before(async () => {
  requireBinary("skopeo");
  reg = await startDistribution({ mode: "anonymous" });
  work = await tempDir("tcrane-look-");
  rich = richImage();
  amd = randomImage([1024, 1024], { platform: { os: "linux", architecture: "amd64" } });
  arm = randomImage([1024, 1024], { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
  index = makeIndex([amd, arm]);
  layout = join(work.dir, "layout");
  await writeLayout(layout, [
    { node: rich, ref: "rich" },
    { node: index, ref: "multi" },
  ]);
  for (const [name, dest] of [["rich", "look/app:v1"], ["multi", "look/multi:v1"]] as const) {
    const r = await run("skopeo", ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", `oci:${layout}:${name}`, `docker://${reg.host}/${dest}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  client = new RegistryClient({ insecure: true });
});

after(async () => {
  await client?.close();
  await reg?.stop();
  await work?.cleanup();
});

/** Run the CLI and keep stdout as bytes (blobs are binary). */
function tcraneBytes(args: string[]): Promise<{ code: number; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [TCRANE_BIN, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    const out: Buffer[] = [];
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out) }));
  });
}

const buf = (s: string) => Buffer.from(s, "utf8");

test("manifest prints the manifest bytes exactly as served, from a registry and a layout", async () => {
  const [r, idx, child, local] = await Promise.all([
    tcrane(["manifest", `${reg.host}/look/app:v1`]),
    tcrane(["manifest", `${reg.host}/look/multi:v1`]),
    tcrane(["manifest", "--platform", "linux/arm64", `${reg.host}/look/multi:v1`]),
    tcrane(["manifest", `oci:${layout}:rich`]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(buf(r.stdout).equals(rich.manifest), "bytes differ from what was pushed");
  assert.equal(idx.code, 0, idx.stderr);
  assert.equal(digestOf(buf(idx.stdout)), index.manifestDesc.digest);
  assert.equal(child.code, 0, child.stderr);
  assert.equal(digestOf(buf(child.stdout)), arm.manifestDesc.digest);
  assert.equal(local.code, 0, local.stderr);
  assert.ok(buf(local.stdout).equals(rich.manifest));
});

test("config prints the config blob; an index resolves to linux/amd64 unless --platform says otherwise", async () => {
  const [r, def, armCfg, none] = await Promise.all([
    tcrane(["config", `${reg.host}/look/app:v1`]),
    tcrane(["config", `${reg.host}/look/multi:v1`]),
    tcrane(["config", "--platform", "linux/arm64", `${reg.host}/look/multi:v1`]),
    tcrane(["config", "--platform", "linux/s390x", `${reg.host}/look/multi:v1`]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(buf(r.stdout).equals(rich.config));
  assert.equal(def.code, 0, def.stderr);
  assert.equal(digestOf(buf(def.stdout)), amd.configDesc.digest);
  assert.equal(armCfg.code, 0, armCfg.stderr);
  assert.equal(digestOf(buf(armCfg.stdout)), arm.configDesc.digest);
  assert.equal(none.code, 3, none.stderr);
});

test("blob streams a layer byte for byte; a missing blob exits 3, a non-digest reference exits 2", async () => {
  const layer = rich.layers[0]!;
  const r = await tcraneBytes(["blob", `${reg.host}/look/app@${layer.desc.digest}`]);
  assert.equal(r.code, 0);
  assert.ok(r.stdout.equals(layer.blob), "blob bytes differ");
  const missing = await tcrane(["blob", `${reg.host}/look/app@${digestOf("nothing here")}`]);
  assert.equal(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, /^tcrane: /);
  assert.equal(missing.stdout, "");
  const tagOnly = await tcrane(["blob", `${reg.host}/look/app:v1`]);
  assert.equal(tagOnly.code, 2, tagOnly.stderr);
});

test("ls follows every page (embedded registry: distribution 2.8 does not page tags), --full-ref and -O work", async () => {
  const lines: string[] = [];
  const embedded = await startRegistry({ logger: (l) => lines.push(l) });
  const ec = new RegistryClient();
  try {
    const repo = { registry: embedded.host, repository: "look/many" };
    for (const l of rich.layers) await ec.pushBlob(repo, l.desc, Readable.from([l.blob]));
    await ec.pushBlob(repo, rich.configDesc, Readable.from([rich.config]));
    const want: string[] = [];
    for (let i = 0; i < 23; i++) want.push(`t${String(i).padStart(2, "0")}`);
    want.push(`sha256-${"a".repeat(64)}.sig`);
    for (const t of want) await ec.putManifest(repo, t, rich.manifest, rich.manifestDesc.mediaType);
    lines.length = 0;
    const r = await tcrane(["ls", "--page-size", "5", `${embedded.host}/look/many`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), [...want].sort());
    const pages = lines.filter((l) => /GET \/v2\/look\/many\/tags\/list/.test(l));
    assert.equal(pages.length, 5, lines.join("\n")); // 24 tags, 5 per page
    const omit = await tcrane(["ls", "-O", "--full-ref", `${embedded.host}/look/many`]);
    assert.equal(omit.code, 0, omit.stderr);
    assert.deepEqual(omit.stdout.trim().split("\n").sort(), want.filter((t) => !t.startsWith("sha256-")).map((t) => `${embedded.host}/look/many:${t}`));
  } finally {
    await ec.close();
    await embedded.close();
  }
});

test("ls on the real registry: --json is an array, a missing repository exits 3, a bad one 2", async () => {
  const [json, plain, missing, bad] = await Promise.all([
    tcrane(["ls", "--json", `${reg.host}/look/app`]),
    tcrane(["ls", `${reg.host}/look/multi`]),
    tcrane(["ls", `${reg.host}/look/nothing`]),
    tcrane(["ls", `${reg.host}/Bad Repo`]),
  ]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), ["v1"]);
  assert.equal(plain.stdout, "v1\n");
  assert.equal(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, /^tcrane: /);
  assert.equal(bad.code, 2, bad.stderr);
});

test("catalog lists every repository over several pages; --full-ref prefixes the registry", async () => {
  const before = requests(reg).length;
  const r = await tcrane(["catalog", "--page-size", "1", reg.host]);
  assert.equal(r.code, 0, r.stderr);
  const repos = r.stdout.trim().split("\n");
  const pages = requests(reg).slice(before).filter((l) => l.startsWith("GET /v2/_catalog"));
  assert.ok(pages.length >= repos.length, `one repository per page: ${pages.join(", ")}`);
  for (const name of ["look/app", "look/multi"]) assert.ok(repos.includes(name), `${name} missing from ${r.stdout}`);
  const full = await tcrane(["catalog", "--full-ref", "--json", reg.host]);
  assert.equal(full.code, 0, full.stderr);
  const list = JSON.parse(full.stdout) as string[];
  assert.deepEqual(list, repos.map((x) => `${reg.host}/${x}`));
});

test("inspect gives the skopeo fields for an image, a summary for an index, and --raw/--config", async () => {
  const [r, idxRun, armRun, raw, cfg, localRun] = await Promise.all([
    tcrane(["inspect", `${reg.host}/look/app:v1`]),
    tcrane(["inspect", `${reg.host}/look/multi:v1`]),
    tcrane(["inspect", "--platform", "linux/arm64", `${reg.host}/look/multi:v1`]),
    tcrane(["inspect", "--raw", `${reg.host}/look/app:v1`]),
    tcrane(["inspect", "--config", `${reg.host}/look/app:v1`]),
    tcrane(["inspect", `oci:${layout}:rich`]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.Name, `${reg.host}/look/app`);
  assert.equal(j.Digest, rich.manifestDesc.digest);
  assert.deepEqual(j.RepoTags, ["v1"]);
  assert.equal(j.Created, "2024-05-06T07:08:09Z");
  assert.equal(j.DockerVersion, "24.0.7");
  assert.deepEqual(j.Labels, { "org.example.name": "rich" });
  assert.equal(j.Architecture, "amd64");
  assert.equal(j.Os, "linux");
  assert.deepEqual(j.Layers, rich.layers.map((l) => l.desc.digest));
  assert.deepEqual(j.LayersData, [
    { MIMEType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: rich.layers[0]!.desc.digest, Size: rich.layers[0]!.desc.size, Annotations: null },
    { MIMEType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: rich.layers[1]!.desc.digest, Size: rich.layers[1]!.desc.size, Annotations: { "org.example.layer": "second" } },
  ]);
  assert.deepEqual(j.Env, ["PATH=/usr/bin", "APP=1"]);

  const idx = JSON.parse(idxRun.stdout);
  assert.equal(idx.Digest, index.manifestDesc.digest);
  assert.equal(idx.MediaType, "application/vnd.oci.image.index.v1+json");
  assert.deepEqual(idx.Manifests, [
    { Digest: amd.manifestDesc.digest, Platform: { os: "linux", architecture: "amd64" } },
    { Digest: arm.manifestDesc.digest, Platform: { os: "linux", architecture: "arm64", variant: "v8" } },
  ]);
  const armJ = JSON.parse(armRun.stdout);
  assert.equal(armJ.Architecture, "arm64");
  assert.equal(armJ.Variant, "v8");
  assert.deepEqual(armJ.Layers, arm.layers.map((l) => l.desc.digest));

  assert.ok(buf(raw.stdout).equals(rich.manifest));
  assert.ok(buf(cfg.stdout).equals(rich.config));

  const local = JSON.parse(localRun.stdout);
  assert.equal(local.Digest, rich.manifestDesc.digest);
  assert.deepEqual(local.RepoTags, []);
  assert.deepEqual(local.Env, ["PATH=/usr/bin", "APP=1"]);
});

test("tag makes exactly one manifest GET and one PUT by tag, and no blob traffic", async () => {
  const before = requests(reg).length;
  const r = await tcrane(["tag", `${reg.host}/look/app:v1`, "stable"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `${reg.host}/look/app:stable`);
  const made = requests(reg).slice(before).filter((l) => l !== "GET /v2/");
  assert.deepEqual(made.filter((l) => l.startsWith("GET ")), ["GET /v2/look/app/manifests/v1"]);
  assert.deepEqual(made.filter((l) => l.startsWith("PUT ")), ["PUT /v2/look/app/manifests/stable"]);
  assert.deepEqual(made.filter((l) => l.includes("/blobs/")), []);
  assert.deepEqual(made.filter((l) => l.startsWith("HEAD ")), []);
  assert.equal(made.length, 2, made.join("\n"));
  const head = await client.headManifest({ registry: reg.host, repository: "look/app" }, "stable");
  assert.equal(head?.digest, rich.manifestDesc.digest);
  const bad = await tcrane(["tag", `${reg.host}/look/app:v1`, "not a tag!"]);
  assert.equal(bad.code, 2, bad.stderr);
  const missing = await tcrane(["tag", `${reg.host}/look/app:absent`, "x"]);
  assert.equal(missing.code, 3, missing.stderr);
});

test("delete resolves a tag to its digest, deletes by digest; the manifest is then gone (exit 3)", async () => {
  const r = await tcrane(["delete", `${reg.host}/look/multi:v1`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `deleted ${reg.host}/look/multi@${index.manifestDesc.digest}`);
  assert.ok(requests(reg).includes(`DELETE /v2/look/multi/manifests/${index.manifestDesc.digest}`));
  const byDigest = await tcrane(["manifest", `${reg.host}/look/multi@${index.manifestDesc.digest}`]);
  assert.equal(byDigest.code, 3, byDigest.stderr);
  assert.match(byDigest.stderr, /^tcrane: /);
  const byTag = await tcrane(["manifest", `${reg.host}/look/multi:v1`]);
  assert.equal(byTag.code, 3, byTag.stderr);
  const again = await tcrane(["delete", `${reg.host}/look/multi:v1`]);
  assert.equal(again.code, 3, again.stderr);
});

test("auth refused exits 4; bad references exit 2; every command's help has examples", async () => {
  const secured = await startDistribution({ mode: "basic" });
  try {
    const refused = [["ls", `${secured.host}/a/b`], ["manifest", `${secured.host}/a/b:1`], ["catalog", secured.host], ["inspect", `${secured.host}/a/b:1`]];
    const results = await Promise.all(refused.map((args) => tcrane(args)));
    results.forEach((r, i) => {
      assert.equal(r.code, 4, `${refused[i]!.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^tcrane: /);
    });
  } finally {
    await secured.stop();
  }
  const badRefs = [["manifest", "Bad:Ref:x"], ["config", "a b"], ["inspect", "UPPER/x"], ["delete", "x@sha256:1"]];
  const bad = await Promise.all(badRefs.map((args) => tcrane(args)));
  bad.forEach((r, i) => assert.equal(r.code, 2, `${badRefs[i]!.join(" ")}: ${r.stderr}`));
  // Every command declares examples (shown under "Examples:" in its --help; export's --help is run
  // for real in export.test.ts): record the builder's calls in-process instead of 9 CLI start-ups.
  const modules = await Promise.all(["manifest", "config", "blob", "ls", "catalog", "inspect", "tag", "delete", "export"].map((c) => import(`../cli/commands/${c}.js`)));
  for (const m of modules) {
    const examples: unknown[] = [];
    const y: unknown = new Proxy({}, { get: (_t, k) => (...a: unknown[]) => (k === "example" && examples.push(a), y) });
    (m.default.builder as (y: unknown) => unknown)(y);
    assert.ok(examples.length >= 1, `${m.default.command} has no example`);
  }
  const help = await tcrane(["ls", "--help"]);
  assert.match(help.stdout, /Examples:[\s\S]*ls -O --full-ref/);
});
