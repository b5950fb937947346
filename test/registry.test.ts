/**
 * Registry client operations, the SAME test bodies run against every backend of
 * test/registry-backends.ts (anonymous): the real distribution registry and tcrane's embedded
 * registry (memory and `dir` stores). Where the backends legitimately differ (tags order and `n`
 * on tags/list, the referrers API) each backend's documented behaviour is asserted explicitly.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { requireBinary, run, withTempDir } from "./harness/tools.js";
import { RegistryClient, referrersTag } from "../src/registry/index.js";
import { RegistryError, TcraneError } from "../src/errors.js";
import { digestOf } from "../src/image/digest.js";
import { blob, makeIndex, manifestOf, pullImage, pushToRegistry, randomImage, streamBytes, writeLayout } from "./fixtures/images.js";
import { distribution, embedded, embeddedDir, type RunningBackend } from "./registry-backends.js";

for (const backend of [distribution, embedded, embeddedDir]) {
  describe(backend.name, () => {
    let reg: RunningBackend;
    let client: RegistryClient;
    /** The embedded registry answers tags sorted (its pagination needs it); distribution in storage order. */
    const inOrder = (tags: string[]) => (backend.kind === "embedded" ? tags : [...tags].sort());

    before(async () => {
      reg = await backend.start();
      client = new RegistryClient({ backoff: { baseMs: 10, maxMs: 50 } });
    });
    after(async () => {
      await client.close();
      await reg.stop();
    });

    test("push then pull an image of a config + 2 layers; skopeo inspect reads it", async () => {
      const repo = { registry: reg.host, repository: "test/pushpull" };
      const img = randomImage([300_000, 1_000_000]);
      const digest = await pushToRegistry(client, repo, img, "v1");
      assert.equal(digest, img.manifestDesc.digest);
      const got = await pullImage(client, repo, "v1");
      assert.deepEqual(got.get(img.configDesc.digest), img.config);
      for (const l of img.layers) assert.deepEqual(got.get(l.desc.digest), l.blob);
      const m = await client.getManifest(repo, img.manifestDesc.digest);
      assert.equal(m.mediaType, img.manifestDesc.mediaType);
      assert.equal(m.digest, img.manifestDesc.digest);
      const head = await client.headManifest(repo, "v1");
      assert.deepEqual(head, { mediaType: img.manifestDesc.mediaType, digest: img.manifestDesc.digest, size: img.manifest.length });
      assert.equal(await client.headBlob(repo, img.layers[1]!.desc.digest), img.layers[1]!.desc.size);
      assert.equal(await client.headBlob(repo, digestOf("nope")), undefined);
      assert.equal(await client.headManifest(repo, "missing"), undefined);

      requireBinary("skopeo");
      const r = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/test/pushpull:v1`]);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout) as { Digest: string; Layers: string[] };
      assert.equal(info.Digest, img.manifestDesc.digest);
      assert.deepEqual(info.Layers, img.layers.map((l) => l.desc.digest));
    });

    test("putManifest skips the PUT when HEAD shows the same digest", async () => {
      const repo = { registry: reg.host, repository: "test/skip" };
      const img = randomImage([1000]);
      await pushToRegistry(client, repo, img, "t");
      const puts = client.stats.byMethod.PUT ?? 0;
      assert.equal(await client.putManifest(repo, "t", img.manifest, img.manifestDesc.mediaType), img.manifestDesc.digest);
      assert.equal(client.stats.byMethod.PUT ?? 0, puts);
      await assert.rejects(client.putManifest(repo, digestOf("other"), img.manifest, img.manifestDesc.mediaType), (e: TcraneError) => e.code === "INVALID_DIGEST");
    });

    test("an image pushed by skopeo from a hand-made oci: layout is read back", async () => {
      requireBinary("skopeo");
      await withTempDir(async (dir) => {
        const img = randomImage([5000, 7000]);
        await writeLayout(dir, [{ node: img, ref: "v1" }], { indexMediaType: false });
        const r = await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", `oci:${dir}:v1`, `docker://${reg.host}/test/fromskopeo:v1`]);
        assert.equal(r.code, 0, r.stderr);
        const repo = { registry: reg.host, repository: "test/fromskopeo" };
        const m = await client.getManifest(repo, "v1");
        const j = JSON.parse(m.bytes.toString()) as { layers: { digest: string }[] };
        assert.deepEqual(j.layers.map((l) => l.digest), img.layers.map((l) => l.desc.digest));
        const got = await pullImage(client, repo, "v1");
        for (const l of img.layers) assert.deepEqual(got.get(l.desc.digest), l.blob);
      }, "tcrane-oci-");
    });

    test("catalog with n=2 over 5 repositories follows Link pagination; tags list with n=2", async () => {
      const img = randomImage([10]);
      const names = ["pg/r1", "pg/r2", "pg/r3", "pg/r4", "pg/r5"];
      for (const n of names) await pushToRegistry(client, { registry: reg.host, repository: n }, img, "a");
      const repo = { registry: reg.host, repository: "pg/r1" };
      for (const t of ["b", "c", "d", "e"]) await pushToRegistry(client, repo, img, t);
      assert.deepEqual(inOrder(await client.listTags(repo)), ["a", "b", "c", "d", "e"]);
      let gets = client.stats.byMethod.GET ?? 0;
      assert.deepEqual(inOrder(await client.listTags(repo, { pageSize: 2 })), ["a", "b", "c", "d", "e"]);
      const tagPages = (client.stats.byMethod.GET ?? 0) - gets;
      // distribution 2.8 ignores n on tags/list (all tags, no Link); the embedded registry pages them
      assert.equal(tagPages, backend.kind === "distribution" ? 1 : 3);
      gets = client.stats.byMethod.GET ?? 0;
      const cat = await client.catalog(reg.host, { pageSize: 2 });
      const pages = (client.stats.byMethod.GET ?? 0) - gets;
      for (const name of names) assert.ok(cat.includes(name), `${name} in ${cat.join(",")}`);
      assert.deepEqual(cat, [...cat].sort(), "the catalog is sorted");
      assert.equal(new Set(cat).size, cat.length, "no repository twice");
      // both send a Link only when more repositories follow (distribution 2.8.2 too: no empty last page)
      const want = Math.ceil(cat.length / 2);
      assert.equal(pages, want, `${pages} pages for ${cat.length} repositories`);
      await assert.rejects(client.listTags({ registry: reg.host, repository: "test/none" }), (e: TcraneError) => e.code === "NOT_FOUND" && e.exitCode === 3);
    });

    test("delete a manifest and a blob; missing things are NOT_FOUND with method and URL", async () => {
      const repo = { registry: reg.host, repository: "test/delete" };
      const img = randomImage([100]);
      await pushToRegistry(client, repo, img, "x");
      await client.deleteManifest(repo, img.manifestDesc.digest);
      assert.equal(await client.headManifest(repo, img.manifestDesc.digest), undefined);
      await client.deleteBlob(repo, img.layers[0]!.desc.digest);
      assert.equal(await client.headBlob(repo, img.layers[0]!.desc.digest), undefined);
      await assert.rejects(client.getManifest(repo, "x"), (e: RegistryError) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.code, "NOT_FOUND");
        assert.equal(e.method, "GET");
        assert.match(e.line, new RegExp(`^GET http://${reg.host}/v2/test/delete/manifests/x: MANIFEST_UNKNOWN`));
        return true;
      });
      await assert.rejects(client.fetchBlob(repo, { digest: img.layers[0]!.desc.digest }), (e: TcraneError) => e.code === "NOT_FOUND");
      await assert.rejects(client.deleteManifest(repo, img.manifestDesc.digest), (e: TcraneError) => e.code === "NOT_FOUND");
    });

    test("registry refusals map to the same client errors: unknown repository, missing blobs, invalid manifests", async () => {
      const c = new RegistryClient({ retries: 0 });
      try {
        const repo = { registry: reg.host, repository: "test/refusals" };
        const img = randomImage([100]);
        const unknown = { registry: reg.host, repository: "test/never-pushed" };
        // distribution 2.8 answers MANIFEST_UNKNOWN for a repository it never saw; the embedded registry NAME_UNKNOWN (the spec's)
        await assert.rejects(c.getManifest(unknown, "v1"), (e: RegistryError) => {
          assert.equal(e.code, "NOT_FOUND");
          assert.equal(e.exitCode, 3);
          assert.match(e.line, backend.kind === "distribution" ? /\/manifests\/v1: MANIFEST_UNKNOWN: / : /\/manifests\/v1: NAME_UNKNOWN: /);
          return true;
        });
        assert.equal(await c.headManifest(unknown, "v1"), undefined);
        assert.equal(await c.headBlob(unknown, img.layers[0]!.desc.digest), undefined);
        await assert.rejects(c.fetchBlob(unknown, img.layers[0]!.desc), (e: RegistryError) => e.code === "NOT_FOUND" && /: BLOB_UNKNOWN: /.test(e.line));
        await assert.rejects(c.deleteBlob(unknown, img.layers[0]!.desc.digest), (e: RegistryError) => e.code === "NOT_FOUND" && /: BLOB_UNKNOWN: /.test(e.line));
        await assert.rejects(c.putManifest(repo, "v1", img.manifest, img.manifestDesc.mediaType), (e: RegistryError) => {
          assert.equal(e.code, "REGISTRY");
          assert.equal(e.status, 400);
          assert.match(e.line, /\/manifests\/v1: MANIFEST_BLOB_UNKNOWN: blob unknown to registry/);
          return true;
        });
        await pushToRegistry(c, repo, img, "v1");
        for (const [bytes, type] of [
          [Buffer.from("{not json"), img.manifestDesc.mediaType],
          [img.manifest, "application/vnd.docker.distribution.manifest.v2+json"],
        ] as const) {
          await assert.rejects(c.putManifest(repo, "bad", bytes, type), (e: RegistryError) => e.code === "REGISTRY" && e.status === 400 && /: MANIFEST_INVALID: manifest invalid/.test(e.line));
        }
        assert.deepEqual(inOrder(await c.listTags(repo)), ["v1"]);
        assert.equal(await c.mountBlob(repo, img.layers[0]!.desc.digest, unknown), false);
      } finally {
        await c.close();
      }
    });

    test("referrers: the API (embedded) or the sha256-<hex> tag schema (distribution 2.8), with artifactType filter", async () => {
      const lines: string[] = [];
      const c = new RegistryClient({ logger: (l) => lines.push(l) });
      try {
        const repo = { registry: reg.host, repository: "test/referrers" };
        const img = randomImage([64]);
        const subject = await pushToRegistry(c, repo, img, "subj");
        assert.deepEqual((await c.referrers(repo, subject)).manifests, []);
        const sig = blob(Buffer.from("{}"), "application/vnd.example.sig");
        await c.pushBlob(repo, sig, Readable.from([sig.bytes]));
        const art = manifestOf({ mediaType: "application/vnd.oci.empty.v1+json", digest: sig.digest, size: sig.size }, [], {
          extra: { artifactType: "application/vnd.example.sig", subject: { mediaType: img.manifestDesc.mediaType, digest: subject, size: img.manifest.length } },
        }).manifest;
        const artDigest = await c.putManifest(repo, digestOf(art), art, "application/vnd.oci.image.manifest.v1+json");
        const fallbackGets = () => lines.filter((l) => l.startsWith("--> GET ") && l.includes(`/manifests/${referrersTag(subject)}`)).length;
        if (backend.kind === "embedded") {
          // the referrers API knows the artifact as soon as it is pushed; the filter is applied server-side
          lines.length = 0;
          const idx = await c.referrers(repo, subject);
          assert.deepEqual(idx.manifests, [
            { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: artDigest, size: art.length, artifactType: "application/vnd.example.sig" },
          ]);
          assert.deepEqual((await c.referrers(repo, subject, { artifactType: "application/vnd.example.sig" })).manifests.map((d) => d.digest), [artDigest]);
          assert.deepEqual((await c.referrers(repo, subject, { artifactType: "application/other" })).manifests, []);
          assert.ok(lines.some((l) => l.startsWith("--> GET ") && l.includes(`/referrers/${subject}?artifactType=application%2Fother`)), lines.join("\n"));
          assert.equal(fallbackGets(), 0, "no tag-schema fallback");
          return;
        }
        // distribution 2.8 has no referrers API: until the fallback tag exists there are no referrers
        assert.deepEqual((await c.referrers(repo, subject)).manifests, []);
        const fallback = makeIndex([{ desc: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: artDigest, size: art.length, artifactType: "application/vnd.example.sig" } }]).manifest;
        assert.equal(referrersTag(subject), subject.replace(":", "-"));
        await c.putManifest(repo, referrersTag(subject), fallback, "application/vnd.oci.image.index.v1+json");
        lines.length = 0;
        const idx = await c.referrers(repo, subject);
        assert.deepEqual(idx.manifests.map((d) => d.digest), [artDigest]);
        assert.equal(fallbackGets(), 1, "read through the tag schema");
        assert.deepEqual((await c.referrers(repo, subject, { artifactType: "application/vnd.example.sig" })).manifests.length, 1);
        assert.deepEqual((await c.referrers(repo, subject, { artifactType: "application/other" })).manifests, []);
      } finally {
        await c.close();
      }
    });

    test("an OCI index and a Docker manifest list over two images round-trip; a missing child is refused; tag DELETE", async () => {
      const repo = { registry: reg.host, repository: "test/index" };
      const amd = randomImage([500], { platform: "linux/amd64" });
      const arm = randomImage([600], { platform: "linux/arm64" });
      await pushToRegistry(client, repo, amd, "amd64");
      await pushToRegistry(client, repo, arm, "arm64");
      const indexes = { oci: makeIndex([amd, arm]), docker: makeIndex([amd, arm], { docker: true }) };
      for (const [tag, { manifest: bytes, manifestDesc }] of Object.entries(indexes)) {
        const mediaType = manifestDesc.mediaType;
        assert.equal(await client.putManifest(repo, tag, bytes, mediaType), digestOf(bytes));
        const m = await client.getManifest(repo, tag);
        assert.equal(m.mediaType, mediaType);
        assert.deepEqual(m.bytes, bytes);
        assert.deepEqual(await client.headManifest(repo, tag), { mediaType, digest: digestOf(bytes), size: bytes.length });
      }
      const missing = { ...amd.manifestDesc, platform: amd.platform, digest: digestOf("no such manifest") };
      const bad = makeIndex([{ desc: missing }]).manifest;
      await assert.rejects(client.putManifest(repo, "bad", bad, indexes.oci.manifestDesc.mediaType), (e: RegistryError) => {
        assert.equal(e.code, "REGISTRY");
        assert.equal(e.status, 400);
        assert.match(e.line, /^PUT .*\/manifests\/bad: MANIFEST_BLOB_UNKNOWN: blob unknown to registry; .*sha256:[0-9a-f]{64}/);
        return true;
      });
      const ociDigest = indexes.oci.manifestDesc.digest;
      if (backend.kind === "distribution") {
        // distribution 2.8 deletes manifests by digest only: a tag is refused as an invalid digest
        await assert.rejects(client.deleteManifest(repo, "oci"), (e: RegistryError) => e.status === 400 && /: DIGEST_INVALID: /.test(e.line));
        assert.equal((await client.headManifest(repo, "oci"))?.digest, ociDigest);
      } else {
        // the embedded registry untags: the manifest stays reachable by digest
        await client.deleteManifest(repo, "oci");
        assert.equal(await client.headManifest(repo, "oci"), undefined);
        assert.equal((await client.headManifest(repo, ociDigest))?.digest, ociDigest);
        assert.deepEqual(await client.listTags(repo), ["amd64", "arm64", "docker"]);
      }
    });

    test("chunked upload (chunkSize) and cross-repository mount", async () => {
      const chunky = new RegistryClient({ chunkSize: 100_000 });
      try {
        const repo = { registry: reg.host, repository: "test/chunked" };
        const b = blob(Buffer.alloc(350_000, 7));
        const patches = chunky.stats.byMethod.PATCH ?? 0;
        assert.equal(await chunky.pushBlob(repo, b, Readable.from([b.bytes])), "uploaded");
        assert.equal((chunky.stats.byMethod.PATCH ?? 0) - patches, 4, "350 kB in 100 kB chunks");
        assert.deepEqual(await streamBytes(await chunky.fetchBlob(repo, b)), b.bytes);
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
      const repo = { registry: reg.host, repository: "test/verify" };
      const b = blob(Buffer.from("hello world"));
      await client.pushBlob(repo, b, Readable.from([b.bytes]));
      await assert.rejects(async () => streamBytes(await client.fetchBlob(repo, { digest: b.digest, size: b.size + 1 })), (e: TcraneError) => e.code === "SIZE_MISMATCH");
      const other = digestOf("hello world!");
      await assert.rejects(async () => streamBytes(await client.fetchBlob(repo, { digest: other })), (e: TcraneError) => e.code === "NOT_FOUND");
      // a wrong digest on upload is refused by the registry
      const bad = { digest: digestOf("something else"), size: b.size };
      await assert.rejects(client.pushBlob(repo, bad, Readable.from([b.bytes])), (e: RegistryError) => {
        assert.equal(e.code, "DIGEST_MISMATCH");
        assert.equal(e.status, 400);
        assert.match(e.line, /^PUT .*\/v2\/test\/verify\/blobs\/uploads\/[^:]*: DIGEST_INVALID: provided digest did not match uploaded content/);
        return true;
      });
      assert.equal(await client.headBlob(repo, bad.digest), undefined, "nothing stored under the wrong digest");
    });

    test("request counts: pulling and pushing one 8-layer image", async () => {
      const c = new RegistryClient();
      try {
        const repo = { registry: reg.host, repository: "test/count" };
        const img = randomImage([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
        await pushToRegistry(c, repo, img, "v1");
        const push: Record<string, number> = { ...c.stats.byMethod, total: c.stats.requests };
        const c2 = new RegistryClient();
        try {
          await pullImage(c2, repo, "v1");
          const pull = { ...c2.stats.byMethod, total: c2.stats.requests };
          console.log(`# request counts: push ${JSON.stringify(push)} pull ${JSON.stringify(pull)}`);
          // push: ping (https probe + http), 9 blob HEADs, 9 POST, 9 PUT carrying the (small) blob,
          // 1 manifest HEAD, 1 manifest PUT — no PATCH: blobs up to 1 MiB go in the closing PUT
          assert.equal(push.total, 31);
          assert.deepEqual([push.HEAD, push.POST, push.PATCH ?? 0, push.PUT], [10, 9, 0, 10]);
          // pull: ping (https probe + http), 1 manifest GET, 9 blob GETs
          assert.equal(pull.total, 12);
        } finally {
          await c2.close();
        }
      } finally {
        await c.close();
      }
    });
  });
}
