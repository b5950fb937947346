/**
 * Registry client against the real distribution registry (anonymous mode) and skopeo.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { requireBinary, run, tempDir } from "./harness/tools.js";
import { RegistryClient, referrersTag } from "../src/registry/index.js";
import { RegistryError, TcraneError } from "../src/errors.js";
import { digestOf } from "../src/image/digest.js";
import { blob, collect, makeImage, pullImage, pushImage } from "./registry-fixtures.js";

let reg: Distribution;
let client: RegistryClient;

before(async () => {
  reg = await startDistribution();
  client = new RegistryClient({ backoff: { baseMs: 10, maxMs: 50 } });
});
after(async () => {
  await client.close();
  await reg.stop();
});

test("push then pull an image of a config + 2 layers; skopeo inspect reads it", async () => {
  const repo = { registry: reg.host, repository: "test/pushpull" };
  const img = makeImage([300_000, 1_000_000]);
  const digest = await pushImage(client, repo, "v1", img);
  assert.equal(digest, img.manifestDigest);
  const got = await pullImage(client, repo, "v1");
  assert.deepEqual(got.get(img.config.digest), img.config.bytes);
  for (const l of img.layers) assert.deepEqual(got.get(l.digest), l.bytes);
  const m = await client.getManifest(repo, img.manifestDigest);
  assert.equal(m.mediaType, img.mediaType);
  assert.equal(m.digest, img.manifestDigest);
  const head = await client.headManifest(repo, "v1");
  assert.deepEqual(head, { mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length });
  assert.equal(await client.headBlob(repo, img.layers[1]!.digest), img.layers[1]!.size);
  assert.equal(await client.headBlob(repo, digestOf("nope")), undefined);
  assert.equal(await client.headManifest(repo, "missing"), undefined);

  requireBinary("skopeo");
  const r = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/test/pushpull:v1`]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { Digest: string; Layers: string[] };
  assert.equal(info.Digest, img.manifestDigest);
  assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
});

test("putManifest skips the PUT when HEAD shows the same digest", async () => {
  const repo = { registry: reg.host, repository: "test/skip" };
  const img = makeImage([1000]);
  await pushImage(client, repo, "t", img);
  const puts = client.stats.byMethod.PUT ?? 0;
  assert.equal(await client.putManifest(repo, "t", img.manifest, img.mediaType), img.manifestDigest);
  assert.equal(client.stats.byMethod.PUT ?? 0, puts);
  await assert.rejects(client.putManifest(repo, digestOf("other"), img.manifest, img.mediaType), (e: TcraneError) => e.code === "INVALID_DIGEST");
});

test("an image pushed by skopeo from a hand-made oci: layout is read back", async () => {
  requireBinary("skopeo");
  const { dir, cleanup } = await tempDir("tcrane-oci-");
  try {
    const img = makeImage([5000, 7000]);
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    for (const b of [img.config, ...img.layers]) await writeFile(join(dir, "blobs", "sha256", b.digest.slice(7)), b.bytes);
    await writeFile(join(dir, "blobs", "sha256", img.manifestDigest.slice(7)), img.manifest);
    await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length, annotations: { "org.opencontainers.image.ref.name": "v1" } }],
      }),
    );
    const r = await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${reg.host}/test/fromskopeo:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const repo = { registry: reg.host, repository: "test/fromskopeo" };
    const m = await client.getManifest(repo, "v1");
    const j = JSON.parse(m.bytes.toString()) as { layers: { digest: string }[] };
    assert.deepEqual(j.layers.map((l) => l.digest), img.layers.map((l) => l.digest));
    const got = await pullImage(client, repo, "v1");
    for (const l of img.layers) assert.deepEqual(got.get(l.digest), l.bytes);
  } finally {
    await cleanup();
  }
});

test("catalog with n=2 over 5 repositories follows Link pagination; tags list", async () => {
  const img = makeImage([10]);
  const names = ["pg/r1", "pg/r2", "pg/r3", "pg/r4", "pg/r5"];
  for (const n of names) await pushImage(client, { registry: reg.host, repository: n }, "a", img);
  const repo = { registry: reg.host, repository: "pg/r1" };
  for (const t of ["b", "c", "d", "e"]) await pushImage(client, repo, t, img);
  assert.deepEqual((await client.listTags(repo)).sort(), ["a", "b", "c", "d", "e"]);
  const gets = client.stats.byMethod.GET ?? 0;
  const cat = await client.catalog(reg.host, { pageSize: 2 });
  const pages = (client.stats.byMethod.GET ?? 0) - gets;
  for (const name of names) assert.ok(cat.includes(name), `${name} in ${cat.join(",")}`);
  assert.equal(new Set(cat).size, cat.length, "no repository twice");
  // distribution sends a Link after every full page, so an exact multiple costs one more (empty) page
  assert.ok(pages >= Math.ceil(cat.length / 2) && pages <= Math.ceil(cat.length / 2) + 1, `${pages} pages for ${cat.length} repositories`);
  await assert.rejects(client.listTags({ registry: reg.host, repository: "test/none" }), (e: TcraneError) => e.code === "NOT_FOUND" && e.exitCode === 3);
});

test("delete a manifest and a blob; missing things are NOT_FOUND with method and URL", async () => {
  const repo = { registry: reg.host, repository: "test/delete" };
  const img = makeImage([100]);
  await pushImage(client, repo, "x", img);
  await client.deleteManifest(repo, img.manifestDigest);
  assert.equal(await client.headManifest(repo, img.manifestDigest), undefined);
  await client.deleteBlob(repo, img.layers[0]!.digest);
  assert.equal(await client.headBlob(repo, img.layers[0]!.digest), undefined);
  await assert.rejects(client.getManifest(repo, "x"), (e: RegistryError) => {
    assert.ok(e instanceof RegistryError);
    assert.equal(e.code, "NOT_FOUND");
    assert.equal(e.method, "GET");
    assert.match(e.line, new RegExp(`^GET http://${reg.host}/v2/test/delete/manifests/x: MANIFEST_UNKNOWN`));
    return true;
  });
  await assert.rejects(client.fetchBlob(repo, { digest: img.layers[0]!.digest }), (e: TcraneError) => e.code === "NOT_FOUND");
  await assert.rejects(client.deleteManifest(repo, img.manifestDigest), (e: TcraneError) => e.code === "NOT_FOUND");
});

test("referrers: distribution 2.8 has no API ⇒ the sha256-<hex> tag schema, with artifactType filter", async () => {
  const repo = { registry: reg.host, repository: "test/referrers" };
  const img = makeImage([64]);
  const subject = await pushImage(client, repo, "subj", img);
  assert.deepEqual((await client.referrers(repo, subject)).manifests, []);
  const sig = blob(Buffer.from("{}"), "application/vnd.example.sig");
  await client.pushBlob(repo, sig, Readable.from([sig.bytes]));
  const art = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.example.sig",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sig.digest, size: sig.size },
      layers: [],
      subject: { mediaType: img.mediaType, digest: subject, size: img.manifest.length },
    }),
  );
  const artDigest = await client.putManifest(repo, digestOf(art), art, "application/vnd.oci.image.manifest.v1+json");
  const fallback = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: artDigest, size: art.length, artifactType: "application/vnd.example.sig" }],
    }),
  );
  assert.equal(referrersTag(subject), subject.replace(":", "-"));
  await client.putManifest(repo, referrersTag(subject), fallback, "application/vnd.oci.image.index.v1+json");
  const idx = await client.referrers(repo, subject);
  assert.deepEqual(idx.manifests.map((d) => d.digest), [artDigest]);
  assert.deepEqual((await client.referrers(repo, subject, { artifactType: "application/vnd.example.sig" })).manifests.length, 1);
  assert.deepEqual((await client.referrers(repo, subject, { artifactType: "application/other" })).manifests, []);
});

test("chunked upload (chunkSize) and cross-repository mount against the real registry", async () => {
  const chunky = new RegistryClient({ chunkSize: 100_000 });
  try {
    const repo = { registry: reg.host, repository: "test/chunked" };
    const b = blob(Buffer.alloc(350_000, 7));
    const patches = chunky.stats.byMethod.PATCH ?? 0;
    assert.equal(await chunky.pushBlob(repo, b, Readable.from([b.bytes])), "uploaded");
    assert.equal((chunky.stats.byMethod.PATCH ?? 0) - patches, 4, "350 kB in 100 kB chunks");
    assert.deepEqual(await collect(await chunky.fetchBlob(repo, b)), b.bytes);
    const other = { registry: reg.host, repository: "test/mounted" };
    assert.equal(await chunky.pushBlob(other, b, Readable.from([b.bytes]), { mountFrom: repo }), "mounted");
    assert.equal(await chunky.headBlob(other, b.digest), b.size);
    assert.equal(await chunky.mountBlob({ registry: reg.host, repository: "test/mounted2" }, b.digest, repo), true);
    assert.equal(await chunky.mountBlob({ registry: reg.host, repository: "test/mounted3" }, digestOf("absent"), repo), false);
  } finally {
    await chunky.close();
  }
});

test("a blob whose bytes do not match its digest fails verification", async () => {
  const repo = { registry: reg.host, repository: "test/pushpull" };
  const b = blob(Buffer.from("hello world"));
  await client.pushBlob(repo, b, Readable.from([b.bytes]));
  await assert.rejects(async () => collect(await client.fetchBlob(repo, { digest: b.digest, size: b.size + 1 })), (e: TcraneError) => e.code === "SIZE_MISMATCH");
  const other = digestOf("hello world!");
  await assert.rejects(async () => collect(await client.fetchBlob(repo, { digest: other })), (e: TcraneError) => e.code === "NOT_FOUND");
  // a wrong digest on upload is refused by the registry
  const bad = { digest: digestOf("something else"), size: b.size };
  await assert.rejects(client.pushBlob(repo, bad, Readable.from([b.bytes])), (e: TcraneError) => e.code === "DIGEST_MISMATCH" || e.code === "REGISTRY");
});

test("request counts: pulling and pushing one 8-layer image", async () => {
  const c = new RegistryClient();
  try {
    const repo = { registry: reg.host, repository: "test/count" };
    const img = makeImage([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
    await pushImage(c, repo, "v1", img);
    const push: Record<string, number> = { ...c.stats.byMethod, total: c.stats.requests };
    const c2 = new RegistryClient();
    try {
      await pullImage(c2, repo, "v1");
      const pull = { ...c2.stats.byMethod, total: c2.stats.requests };
      console.log(`# request counts: push ${JSON.stringify(push)} pull ${JSON.stringify(pull)}`);
      // push: ping (https probe + http), 9 blob HEADs, 9 POST, 9 PATCH, 9 PUT, 1 manifest HEAD, 1 manifest PUT
      assert.equal(push.total, 40);
      assert.deepEqual([push.HEAD, push.POST, push.PATCH, push.PUT], [10, 9, 9, 10]);
      // pull: ping (https probe + http), 1 manifest GET, 9 blob GETs
      assert.equal(pull.total, 12);
    } finally {
      await c2.close();
    }
  } finally {
    await c.close();
  }
});
