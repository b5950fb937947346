/**
 * Docker schema 1 against the real distribution registry (2.8, `compatibility.schema1.enabled`), with
 * a libtrust-signed manifest the test makes itself (test/schema1-fixture.ts): what the registry
 * reports as the digest (the payload's), then tcrane's manifest, digest, inspect and copy (registry
 * → registry keeps the digest; into docker-archive, oci and oci-archive it converts as skopeo does),
 * checked with skopeo. Unit tests cover the digest rule, the parser's checks and the Go-exact
 * config serialization.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { request } from "undici";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { podman } from "./harness/dockerd.js";
import { requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { makeSchema1Image, newSigningKey, prettySign, signPayload, type Schema1Image } from "./fixtures/schema1.js";
import { goCompact, goString, goTime, manifestDigest, parseSchema1, schema1Layers, schema1Payload, schema1ToSchema2Config } from "../src/image/schema1.js";
import { DOCKER_MANIFEST_SCHEMA1, DOCKER_MANIFEST_SCHEMA1_SIGNED, isManifest } from "../src/image/mediatypes.js";
import { copyImage, readManifest } from "../src/transfer/engine.js";
import type { Descriptor } from "../src/image/types.js";
import { MemoryStore } from "./helpers/memory.js";
import { tarBytes } from "./fixtures/images.js";
import { TcraneError } from "../src/errors.js";

const SKOPEO = requireBinary("skopeo");
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let src: Distribution;
let dst: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let img: Schema1Image;
let ref: string;

async function skopeo(...args: string[]): Promise<string> {
  const r = await run(SKOPEO, ["--insecure-policy", ...args]);
  assert.equal(r.code, 0, `skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Push blobs (POST + PUT ?digest=) and the signed manifest with plain HTTP: nothing of tcrane's. */
async function pushSchema1(reg: Distribution, repo: string, tag: string, image: Schema1Image): Promise<{ status: number; digest?: string; body: string }> {
  for (const [digest, bytes] of image.blobs) {
    const post = await request(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    await post.body.dump();
    assert.equal(post.statusCode, 202);
    const loc = new URL(String(post.headers.location), reg.url);
    loc.searchParams.set("digest", digest);
    const put = await request(loc, { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } });
    await put.body.dump();
    assert.equal(put.statusCode, 201);
  }
  const r = await request(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: "PUT", body: image.signed, headers: { "content-type": DOCKER_MANIFEST_SCHEMA1_SIGNED } });
  return { status: r.statusCode, digest: r.headers["docker-content-digest"] as string | undefined, body: await r.body.text() };
}

before(async () => {
  src = await startDistribution({ schema1: true });
  dst = await startDistribution({ schema1: true });
  work = await tempDir("tcrane-schema1-");
  img = await makeSchema1Image({ name: "old/app", tag: "v1" });
  ref = `${src.host}/old/app:v1`;
  const pushed = await pushSchema1(src, "old/app", "v1", img);
  assert.equal(pushed.status, 201, pushed.body);
  // distribution's rule, checked on the real registry: the digest covers the payload (no signatures)
  assert.equal(pushed.digest, img.digest);
  assert.notEqual(sha(img.signed), img.digest);
});

after(async () => {
  await src?.stop();
  await dst?.stop();
  await work?.cleanup();
});

test("schema1: the registry serves the payload re-signed with its own key on every GET; its digest header is the payload's", async () => {
  const get = async (reference: string) => {
    const r = await request(`${src.url}/v2/old/app/manifests/${reference}`, { headers: { accept: DOCKER_MANIFEST_SCHEMA1_SIGNED } });
    return { type: r.headers["content-type"], digest: r.headers["docker-content-digest"], bytes: Buffer.from(await r.body.arrayBuffer()) };
  };
  const a = await get("v1");
  const b = await get(img.digest);
  assert.equal(a.type, DOCKER_MANIFEST_SCHEMA1_SIGNED);
  assert.equal(a.digest, img.digest);
  assert.equal(b.digest, img.digest);
  assert.notDeepEqual(a.bytes, b.bytes, "ECDSA signatures are randomized: the served bytes differ");
  assert.deepEqual(schema1Payload(a.bytes).payload, img.payload);
  assert.deepEqual(schema1Payload(b.bytes).payload, img.payload);
  assert.equal(manifestDigest(a.bytes, a.type as string), img.digest);
  // the registry's signature, not ours
  const ours = JSON.parse(img.signed.toString()).signatures[0].header.jwk.kid;
  assert.notEqual(JSON.parse(a.bytes.toString()).signatures[0].header.jwk.kid, ours);
});

test("schema1: digest and manifest (by tag and by digest) with tcrane", async () => {
  const d = await tcrane(["digest", ref]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout.trim(), img.digest);
  const full = await tcrane(["digest", "--full-ref", ref]);
  assert.equal(full.stdout.trim(), `${src.host}/old/app@${img.digest}`);
  for (const r of [ref, `${src.host}/old/app@${img.digest}`]) {
    const m = await tcrane(["manifest", r]);
    assert.equal(m.code, 0, m.stderr);
    const bytes = Buffer.from(m.stdout);
    assert.deepEqual(schema1Payload(bytes).payload, img.payload, r);
    assert.ok(JSON.parse(m.stdout).signatures.length >= 1);
  }
  // a digest that is not the payload's is refused
  const other = `sha256:${"0".repeat(64)}`;
  const bad = await tcrane(["manifest", `${src.host}/old/app@${other}`]);
  assert.equal(bad.code, 3, bad.stderr);
});

test("schema1: inspect matches skopeo inspect", async () => {
  const ours = await tcrane(["inspect", ref]);
  assert.equal(ours.code, 0, ours.stderr);
  const theirs = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${ref}`)) as Record<string, unknown>;
  const mine = JSON.parse(ours.stdout) as Record<string, unknown>;
  assert.equal(mine.Digest, img.digest);
  assert.equal(theirs.Digest, img.digest);
  // skopeo 1.9 shows no LayersData for schema 1 (it knows no layer sizes)
  assert.deepEqual(Object.keys(mine), Object.keys(theirs));
  for (const k of Object.keys(theirs)) assert.deepEqual(mine[k], theirs[k], k);
  // every fsLayer, oldest first, throwaway ones included
  assert.equal((mine.Layers as string[]).length, 4);
  assert.deepEqual(mine.Layers, [...JSON.parse(img.payload.toString()).fsLayers].reverse().map((l: { blobSum: string }) => l.blobSum));
});

test("schema1: copy registry → registry keeps the digest (another registry, and another repository of the same one)", async () => {
  for (const target of [`${dst.host}/copied/app:v1`, `${src.host}/mounted/app:v1`]) {
    const c = await tcrane(["copy", ref, target]);
    assert.equal(c.code, 0, c.stderr);
    assert.doesNotMatch(c.stderr, /converted/);
    const d = await tcrane(["digest", target]);
    assert.equal(d.stdout.trim(), img.digest, target);
    const s = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${target}`)) as { Digest: string; Layers: string[] };
    assert.equal(s.Digest, img.digest);
    assert.equal(s.Layers.length, 4);
    // the target registry verified the signature and stored the same payload
    const r = await request(`http://${target.replace(/:v1$/, "").replace(/^([^/]+)\//, "$1/v2/")}/manifests/v1`, { headers: { accept: DOCKER_MANIFEST_SCHEMA1_SIGNED } });
    assert.equal(r.headers["docker-content-digest"], img.digest);
    assert.deepEqual(schema1Payload(Buffer.from(await r.body.arrayBuffer())).payload, img.payload);
    // a second copy is up to date
    const again = await tcrane(["copy", ref, target, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).upToDate, true);
  }
  // within one registry the layers were mounted, not copied
  assert.match(src.logs(), /"POST \/v2\/mounted\/app\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=old%2Fapp HTTP\/1\.1" 201/);
});

test("schema1: mirror into registries keeps the digest as copy does (the fan-out sink holds schema 1 when every target does); a re-run is up to date", async () => {
  const specPath = join(work.dir, "mirror-schema1.yaml");
  await writeFile(specPath, `mirrors:\n  - source: ${src.host}/old/app\n    targets: ["${dst.host}/m1", "${dst.host}/m2"]\n    tags: [v1]\n`);
  const m = await tcrane(["mirror", "--json", "--progress", "none", specPath]);
  assert.equal(m.code, 0, m.stderr);
  assert.doesNotMatch(m.stderr, /converted/);
  // a target is a prefix: the source's repository path goes under it
  for (const target of [`${dst.host}/m1/old/app:v1`, `${dst.host}/m2/old/app:v1`]) {
    const d = await tcrane(["digest", target]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout.trim(), img.digest, target);
  }
  const again = await tcrane(["mirror", "--json", "--progress", "none", specPath]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { upToDate: number }).upToDate, 2);
});

test("schema1: copy into docker-archive converts as skopeo does: the same image ID, the digest change said in one line", async () => {
  const ours = join(work.dir, "ours.tar");
  const theirs = join(work.dir, "theirs.tar");
  const logStart = src.logs().length;
  const c = await tcrane(["copy", ref, `docker-archive:${ours}:old/app:v1`]);
  assert.equal(c.code, 0, c.stderr);
  // one download per layer: the diff IDs were computed as the layers streamed into the archive
  await new Promise((r) => setTimeout(r, 200));
  const gets = src.logs().slice(logStart).split("\n").filter((l) => /^127\.0\.0\.1 .*"GET \/v2\/old\/app\/blobs\//.test(l));
  for (const l of img.layers) assert.equal(gets.filter((g) => g.includes(l.digest)).length, 1, l.digest);
  assert.equal(gets.length, img.layers.length, "the throwaway entries' empty blob is not fetched");
  const warning = c.stderr.trim().split("\n").filter((l) => /schema 1/.test(l));
  assert.equal(warning.length, 1, c.stderr);
  assert.match(warning[0]!, new RegExp(`^tcrane: warning: Docker schema 1 image ${img.digest} converted to Docker schema 2 sha256:[0-9a-f]{64} \\(.*cannot hold Docker schema 1\\): the digest changes$`));
  await skopeo("copy", "--src-tls-verify=false", `docker://${ref}`, `docker-archive:${theirs}:old/app:v1`);
  const manifestJson = async (tarPath: string) => {
    const r = await run("tar", ["-xOf", tarPath, "manifest.json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Array<{ Config: string; Layers: string[]; RepoTags: string[] }>;
  };
  const [mo] = await manifestJson(ours);
  const [mt] = await manifestJson(theirs);
  // the config (whose digest is the image ID) is byte-for-byte skopeo's
  const configOf = async (tarPath: string, name: string) => Buffer.from((await run("tar", ["-xOf", tarPath, name])).stdout, "utf8");
  const co = await configOf(ours, mo!.Config);
  const ct = await configOf(theirs, mt!.Config);
  assert.equal(co.toString(), ct.toString());
  assert.equal(mo!.Layers.length, 2);
  assert.deepEqual(mo!.RepoTags, ["old/app:v1"]);
  const config = JSON.parse(co.toString()) as { rootfs: { diff_ids: string[] }; history: Array<{ empty_layer?: boolean; created_by?: string }>; config: { Env: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, img.layers.map((l) => l.diffId));
  assert.deepEqual(config.history.map((h) => h.empty_layer === true), [false, true, false, true]);
  assert.match(co.toString(), /ENV GREETING=hi \\u0026 \\u003cbye\\u003e/);
  // podman loads it (checking every layer against its diff ID): the image ID is the config's digest
  const pm = podman(join(work.dir, "podman"));
  const load = await pm("load", "-i", ours);
  assert.equal(load.code, 0, load.stderr);
  const ls = await pm("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}");
  assert.match(ls.stdout, new RegExp(`^(sha256:)?${sha(co).slice(7)} localhost/old/app:v1$`, "m"), ls.stdout);
  // skopeo reads our archive
  const s = JSON.parse(await skopeo("inspect", `docker-archive:${ours}`)) as { Layers: string[]; Env: string[]; Architecture: string };
  assert.equal(s.Layers.length, 2);
  assert.equal(s.Architecture, "amd64");
  assert.ok(s.Env.includes("GREETING=hi"));
});

test("schema1: copy into oci and oci-archive converts; skopeo reads both (layers, diff IDs); the OCI tag points at the schema 2 manifest", async () => {
  const layout = join(work.dir, "layout");
  const archive = join(work.dir, "image.oci.tar");
  // skopeo finds an OCI layout's image by ref.name only among OCI media types, and tcrane keeps the
  // Docker schema 2 types of the converted image (as it does for every Docker image): skopeo is
  // given the layout's single image without a name
  for (const [place, skopeoRef] of [[`oci:${layout}:v1`, `oci:${layout}`], [`oci-archive:${archive}:v1`, `oci-archive:${archive}`]] as const) {
    const c = await tcrane(["copy", ref, place, "--json"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /converted to Docker schema 2/);
    const out = JSON.parse(c.stdout) as { digest: string };
    assert.notEqual(out.digest, img.digest);
    const d = await tcrane(["digest", place]);
    assert.equal(d.stdout.trim(), out.digest);
    const s = JSON.parse(await skopeo("inspect", skopeoRef)) as { Digest: string; Layers: string[] };
    assert.equal(s.Digest, out.digest);
    assert.deepEqual(s.Layers, img.layers.map((l) => l.digest));
    const cfg = JSON.parse(await skopeo("inspect", "--config", skopeoRef)) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(cfg.rootfs.diff_ids, img.layers.map((l) => l.diffId));
    const v = await tcrane(["validate", place]);
    assert.equal(v.code, 0, v.stderr);
  }
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ mediaType: string }> };
  assert.equal(index.manifests[0]!.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
});

test("schema1: validate checks it as it is; pull and save convert", async () => {
  const v = await tcrane(["validate", "--json", `docker://${ref}`]);
  assert.equal(v.code, 0, v.stderr);
  assert.doesNotMatch(v.stderr, /converted/);
  const out = JSON.parse(v.stdout) as Array<{ digest: string; blobs: number }> | { digest: string; blobs: number };
  const r = Array.isArray(out) ? out[0]! : out;
  assert.equal(r.digest, img.digest);
  assert.equal(r.blobs, img.blobs.size);
  const pulled = join(work.dir, "pulled.tar");
  const p = await tcrane(["pull", ref, pulled]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /converted to Docker schema 2/);
  const s = JSON.parse(await skopeo("inspect", `docker-archive:${pulled}`)) as { Layers: string[] };
  assert.equal(s.Layers.length, img.layers.length);
  // save: the air-gap bundle holds the converted image, which validate checks offline
  const bundle = join(work.dir, "bundle.tar");
  const sv = await tcrane(["save", ref, "-o", bundle]);
  assert.equal(sv.code, 0, sv.stderr);
  assert.match(sv.stderr, /converted to Docker schema 2/);
  const bv = await tcrane(["validate", bundle]);
  assert.equal(bv.code, 0, bv.stderr);
  // the classic docker save layout holds the layers uncompressed: their digests are the diff IDs
  const legacy = join(work.dir, "legacy.tar");
  const l = await tcrane(["pull", "--format", "legacy", ref, legacy]);
  assert.equal(l.code, 0, l.stderr);
  const lv = await tcrane(["validate", legacy]);
  assert.equal(lv.code, 0, lv.stderr);
  const list = (await run("tar", ["-tf", legacy])).stdout.split("\n").filter((n) => n.endsWith("/layer.tar"));
  assert.equal(list.length, img.layers.length);
  const tars = await Promise.all(list.map(async (n) => sha(Buffer.from((await run("sh", ["-c", `tar -xOf '${legacy}' '${n}' | base64 -w0`])).stdout, "base64"))));
  assert.deepEqual(new Set(tars), new Set(img.layers.map((x) => x.diffId)));
});

test("schema1: commands that need a schema 2 image say so in one line", async () => {
  const r = await tcrane(["config", ref]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /^tcrane: .*a Docker schema 1 image \(legacy\): this reads schema 2 and OCI images only; manifest, digest, inspect and copy handle schema 1/);
});

test("schema1: tag and delete work by the payload's digest (run last: it deletes the image)", async () => {
  const t = await tcrane(["tag", ref, "v2"]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal((await tcrane(["digest", `${src.host}/old/app:v2`])).stdout.trim(), img.digest);
  const d = await tcrane(["delete", `${src.host}/old/app:v2`]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal((await tcrane(["digest", ref])).code, 3, "v1 named the same manifest: gone too");
});

// ---- units ----

test("schema1 unit: the digest rule — signed: the payload's; unsigned v1+json: the bytes'; other types: the bytes'", async () => {
  const i = await makeSchema1Image({ name: "a/b", tag: "t" });
  assert.equal(manifestDigest(i.signed, DOCKER_MANIFEST_SCHEMA1_SIGNED), i.digest);
  assert.equal(manifestDigest(i.signed, "application/json"), i.digest, "by shape when the type says nothing");
  assert.equal(manifestDigest(i.signed, undefined), i.digest);
  assert.equal(manifestDigest(i.payload, DOCKER_MANIFEST_SCHEMA1), sha(i.payload));
  assert.equal(manifestDigest(i.signed, "application/vnd.oci.image.manifest.v1+json"), sha(i.signed));
  // two signatures over the same payload: same digest, and they must agree on the format
  const key2 = newSigningKey();
  const twice = prettySign(i.payload, [signPayload(i.payload, newSigningKey()), signPayload(i.payload, key2)]);
  assert.equal(manifestDigest(twice, DOCKER_MANIFEST_SCHEMA1_SIGNED), i.digest);
  const o = JSON.parse(twice.toString()) as { signatures: Array<{ protected: string }> };
  const p1 = JSON.parse(Buffer.from(o.signatures[1]!.protected, "base64url").toString());
  o.signatures[1]!.protected = Buffer.from(JSON.stringify({ ...p1, formatLength: p1.formatLength - 1 })).toString("base64url");
  assert.throws(() => schema1Payload(Buffer.from(JSON.stringify(o))), /signatures disagree on formatLength\/formatTail/);
  const past = JSON.parse(i.signed.toString()) as { signatures: Array<{ protected: string }> };
  past.signatures[0]!.protected = Buffer.from(JSON.stringify({ formatLength: 1e6, formatTail: "Cn0" })).toString("base64url");
  assert.throws(() => schema1Payload(Buffer.from(JSON.stringify(past))), /formatLength 1000000 is past the end/);
  assert.equal(isManifest(DOCKER_MANIFEST_SCHEMA1_SIGNED), true);
});

test("schema1 unit: readManifest verifies the payload's digest, whatever the signatures", async () => {
  const i = await makeSchema1Image({ name: "a/b", tag: "t" });
  const resigned = prettySign(i.payload, [signPayload(i.payload, newSigningKey())]);
  const source = (bytes: Buffer) => ({ description: "mem", resolve: async () => ({ mediaType: "", digest: "", size: 0 }), exists: async () => true, fetch: async () => Readable.from([bytes]) });
  const desc = { mediaType: DOCKER_MANIFEST_SCHEMA1_SIGNED, digest: i.digest, size: i.signed.length };
  assert.deepEqual(await readManifest(source(resigned), desc), resigned);
  // a changed payload (one layer swapped) fails, signature or not
  const tampered = Buffer.from(resigned.toString().replace(i.layers[0]!.digest, `sha256:${"1".repeat(64)}`));
  await assert.rejects(readManifest(source(tampered), desc), (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH");
});

test("schema1 unit: parser checks (lengths, ids, parent chain) and merges repeated ids; layers oldest first", async () => {
  const i = await makeSchema1Image({ name: "a/b", tag: "t" });
  const m = parseSchema1(i.signed);
  assert.equal(m.signed, true);
  assert.deepEqual(schema1Layers(m).map((l) => l.throwaway), [false, true, false, true]);
  const base = JSON.parse(i.payload.toString()) as { fsLayers: unknown[]; history: Array<{ v1Compatibility: string }> };
  const bad = (f: (o: typeof base) => void, re: RegExp) => {
    const o = structuredClone(base);
    f(o);
    assert.throws(() => parseSchema1(Buffer.from(JSON.stringify(o))), re);
  };
  bad((o) => o.fsLayers.pop(), /3 fsLayers/);
  bad((o) => (o.fsLayers[0] = { blobSum: "nope" }), /fsLayers\[0\]\.blobSum: invalid digest/);
  bad((o) => (o.history[1]!.v1Compatibility = JSON.stringify({ ...JSON.parse(o.history[1]!.v1Compatibility), id: "x" })), /history\[1\]\.v1Compatibility\.id: must be 64 hex digits/);
  bad((o) => (o.history[1]!.v1Compatibility = JSON.stringify({ ...JSON.parse(o.history[1]!.v1Compatibility), parent: "a".repeat(64) })), /history\[1\]: parent id a+ is not the next entry's id/);
  bad((o) => (o.history[1]!.v1Compatibility = "{"), /history\[1\]\.v1Compatibility: invalid JSON/);
  // the same id twice in a row is one entry (docker wrote such manifests), as containers/image merges them
  const dup = structuredClone(base);
  dup.fsLayers.splice(1, 0, dup.fsLayers[1]);
  dup.history.splice(1, 0, dup.history[1]!);
  assert.equal(parseSchema1(Buffer.from(JSON.stringify(dup))).fsLayers.length, 4);
});

test("schema1 unit: Go-exact JSON (strings, raw compaction, times) and the converted config", async () => {
  assert.equal(goString('a<b>&"\\\n\u2028\u0001é'), '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\u2028\\u0001é"');
  assert.equal(goCompact('{ "a" : [1, 2],\n "b": "x < y" }'), '{"a":[1,2],"b":"x \\u003c y"}');
  assert.equal(goTime("2016-01-02T03:04:05.120000000Z"), "2016-01-02T03:04:05.12Z");
  assert.equal(goTime("2016-01-02T03:04:05+00:00"), "2016-01-02T03:04:05Z");
  assert.equal(goTime("2016-01-02T03:04:05.5+02:00"), "2016-01-02T03:04:05.5+02:00");
  assert.equal(goTime(undefined), "0001-01-01T00:00:00Z");
  const i = await makeSchema1Image({ name: "a/b", tag: "t" });
  const m = parseSchema1(i.signed);
  const config = schema1ToSchema2Config(m, i.layers.map((l) => l.diffId)).toString();
  const keys = Object.keys(JSON.parse(config));
  assert.deepEqual(keys, [...keys].sort());
  for (const k of ["id", "parent", "Size", "throwaway"]) assert.ok(!keys.includes(k), k);
  assert.match(config, /"rootfs":\{"type":"layers","diff_ids":\["sha256:/);
  assert.match(config, /"history":\[\{"created":"2016-01-02T03:04:05\.123456789Z","created_by":"\/bin\/sh -c #\(nop\) ADD file:base in \/"\},/);
});

/** A memory store that answers blob sizes like a registry's HEAD. */
class SizingStore extends MemoryStore {
  async blobSize(digest: string): Promise<number | undefined> {
    return this.blobs.get(digest)?.length;
  }
}

function seed(store: MemoryStore, i: Schema1Image, bytes: Buffer, mediaType: string): Descriptor {
  for (const [d, b] of i.blobs) store.blobs.set(d, b);
  const desc = { mediaType, digest: manifestDigest(bytes, mediaType), size: bytes.length };
  store.blobs.set(desc.digest, bytes);
  store.tags.set("v1", desc);
  return desc;
}

test("schema1 engine: into a sink that holds schema 1 every blob and the bytes as they are; into others a conversion, each layer fetched once", async () => {
  const i = await makeSchema1Image({ name: "a/b", tag: "t" });
  // a registry-like sink: all four fsLayers' blobs (three distinct), the manifest bytes unchanged
  const src1 = new SizingStore("src");
  const root = seed(src1, i, i.signed, DOCKER_MANIFEST_SCHEMA1_SIGNED);
  const keep = new MemoryStore("keep", { schema1: true });
  const kept = await copyImage(src1, "v1", keep, { tags: ["v1"] });
  assert.equal(kept.descriptor.digest, i.digest);
  assert.equal(kept.converted, undefined);
  assert.deepEqual(keep.blobs.get(i.digest), i.signed);
  assert.deepEqual(new Set([...keep.blobs.keys()].filter((d) => d !== i.digest)), new Set(i.blobs.keys()));
  // a file-like sink: converted; the throwaway layers' (empty) blob is not copied
  const src2 = new SizingStore("src");
  seed(src2, i, i.signed, DOCKER_MANIFEST_SCHEMA1_SIGNED);
  const events: string[] = [];
  const conv = new MemoryStore("file");
  const r = await copyImage(src2, "v1", conv, { tags: ["v1"], onEvent: (e) => events.push(e.type) });
  assert.deepEqual(r.converted, { from: i.digest, to: r.descriptor.digest });
  assert.equal(r.descriptor.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.ok(events.includes("manifest-converted"));
  const m = JSON.parse(conv.blobs.get(r.descriptor.digest)!.toString()) as { config: Descriptor; layers: Descriptor[] };
  assert.deepEqual(m.layers.map((l) => [l.digest, l.size, l.mediaType]), i.layers.map((l) => [l.digest, l.size, "application/vnd.docker.image.rootfs.diff.tar.gzip"]));
  const cfg = JSON.parse(conv.blobs.get(m.config.digest)!.toString()) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(cfg.rootfs.diff_ids, i.layers.map((l) => l.diffId));
  for (const l of i.layers) assert.equal(src2.fetches.filter((d) => d === l.digest).length, 1, "one download per layer: the diff ID is computed as it streams");
  assert.equal(conv.blobs.size, 2 + i.layers.length);
  assert.equal(root.digest, i.digest);
  // the sink had a layer already: it is read again for its diff ID only, and the result is the same
  const src3 = new SizingStore("src");
  seed(src3, i, i.signed, DOCKER_MANIFEST_SCHEMA1_SIGNED);
  const partial = new MemoryStore("file2");
  partial.blobs.set(i.layers[0]!.digest, i.blobs.get(i.layers[0]!.digest)!);
  const r3 = await copyImage(src3, "v1", partial, { tags: ["v1"] });
  assert.equal(r3.descriptor.digest, r.descriptor.digest);
});

test("schema1 engine: an unsigned v1+json manifest from a source without sizes (counted by reading); a corrupt layer fails the conversion", async () => {
  const i = await makeSchema1Image({ name: "a/b", tag: "t" });
  const src = new MemoryStore("plain");
  const root = seed(src, i, i.payload, DOCKER_MANIFEST_SCHEMA1);
  assert.equal(root.digest, sha(i.payload));
  const sink = new MemoryStore("file");
  const r = await copyImage(src, "v1", sink, { tags: ["v1"] });
  const m = JSON.parse(sink.blobs.get(r.descriptor.digest)!.toString()) as { config: Descriptor };
  assert.deepEqual((JSON.parse(sink.blobs.get(m.config.digest)!.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, i.layers.map((l) => l.diffId));
  // a layer whose bytes are not its digest
  const bad = new SizingStore("bad");
  seed(bad, i, i.signed, DOCKER_MANIFEST_SCHEMA1_SIGNED);
  const b = bad.blobs.get(i.layers[1]!.digest)!;
  bad.corrupt.set(i.layers[1]!.digest, Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([b[b.length - 1]! ^ 1])]));
  await assert.rejects(copyImage(bad, "v1", new MemoryStore("x"), { tags: ["v1"] }), (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH");
});

test("schema1 engine: a layer that is not gzip cannot be converted (one clear error); into a registry-like sink it is copied as it is", async () => {
  const tar = await tarBytes([{ name: "a.txt", data: "plain\n" }]);
  const id = "a".repeat(64);
  const payload = Buffer.from(JSON.stringify({ schemaVersion: 1, name: "a/b", tag: "t", architecture: "amd64", fsLayers: [{ blobSum: sha(tar) }], history: [{ v1Compatibility: JSON.stringify({ id, architecture: "amd64", os: "linux" }) }] }, null, 3));
  const src = new SizingStore("src");
  src.blobs.set(sha(tar), tar);
  const desc = { mediaType: DOCKER_MANIFEST_SCHEMA1, digest: sha(payload), size: payload.length };
  src.blobs.set(desc.digest, payload);
  src.tags.set("v1", desc);
  await assert.rejects(copyImage(src, "v1", new MemoryStore("file"), { tags: ["v1"] }), (e: unknown) => e instanceof TcraneError && e.code === "UNSUPPORTED" && /not gzip-compressed/.test(e.message));
  const keep = new MemoryStore("keep", { schema1: true });
  assert.equal((await copyImage(src, "v1", keep, { tags: ["v1"] })).descriptor.digest, desc.digest);
  assert.deepEqual(keep.blobs.get(sha(tar)), tar);
});
