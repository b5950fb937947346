/**
 * Registry client against a registry with Basic auth behind a fault-injecting proxy: redirects to
 * another host, resets, stalls, 429/5xx, 413, chunk minimums, absolute Links, HTML errors,
 * warnings, restarted uploads, and a CONNECT proxy. The SAME test bodies run against each backend
 * of test/registry-backends.ts: the real distribution registry and tcrane's embedded registry.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { startFaultProxy, type FaultProxy, type Recorded } from "./harness/fault-proxy.js";
import { startConnectProxy } from "./harness/connect-proxy.js";
import { RegistryClient, DEFAULT_CHUNK_SIZE } from "../src/registry/index.js";
import { RegistryError, TcraneError } from "../src/errors.js";
import { blob, pushToRegistry, randomImage, streamBytes } from "./fixtures/images.js";
import { backends, type RunningBackend } from "./registry-backends.js";

const USER = "fault-user";
const PASS = "fault-secret-pw";
const AUTH = "Basic " + Buffer.from(`${USER}:${PASS}`).toString("base64");

/** A client with the proxy's Basic credentials and a short backoff. */
function newClient(extra: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  return new RegistryClient({ credentials: { username: USER, password: PASS }, backoff: { baseMs: 20, maxMs: 100 }, ...extra });
}
const isBlobGet = (digest: string) => (r: Recorded) => r.method === "GET" && r.url.includes(`/blobs/${digest}`);

for (const backend of backends) {
  describe(backend.name, () => {
    let reg: RunningBackend;
    let proxy: FaultProxy;

    before(async () => {
      reg = await backend.start({ users: { [USER]: PASS } });
      proxy = await startFaultProxy({ upstream: reg.url, upstreamAuth: AUTH });
    });
    after(async () => {
      await proxy.stop();
      await reg.stop();
    });

    test("a blob GET redirected to another host is followed without Authorization", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/redirect" };
        const b = blob(randomBytes(200_000));
        await c.pushBlob(repo, b, Readable.from([b.bytes]));
        proxy.clear();
        proxy.add({ match: isBlobGet(b.digest), action: { kind: "redirect", status: 307 } });
        assert.deepEqual(await streamBytes(await c.fetchBlob(repo, b)), b.bytes);
        const first = proxy.log.find(isBlobGet(b.digest))!;
        assert.equal(first.status, 307);
        assert.match(String(first.headers.authorization), /^Basic /, "the registry got the credentials");
        assert.equal(proxy.second.log.length, 1);
        assert.equal(proxy.second.log[0]!.headers.authorization, undefined, "the second host got no Authorization");
        assert.equal(c.stats.redirects, 1);
        // a redirect to itself is a loop
        proxy.clear();
        proxy.add({ match: isBlobGet(b.digest), action: { kind: "status", status: 302, headers: { location: `/v2/${repo.repository}/blobs/${b.digest}` } } });
        await assert.rejects(c.fetchBlob(repo, b), /redirect loop/);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("a reset at 50% of a 64 MiB blob resumes with Range and the whole blob verifies", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/big" };
        const bytes = randomBytes(64 * 1024 * 1024);
        const b = blob(bytes);
        const direct = newClient();
        await direct.pushBlob({ registry: reg.host, repository: repo.repository }, b, Readable.from([bytes]));
        await direct.close();
        proxy.clear();
        proxy.add({ match: isBlobGet(b.digest), times: 1, action: { kind: "reset", atBytes: (n) => Math.floor(n / 2) } });
        const s = await c.fetchBlob(repo, b);
        const h = createHash("sha256");
        let n = 0;
        for await (const chunk of s) {
          h.update(chunk as Buffer);
          n += (chunk as Buffer).length;
        }
        assert.equal(n, b.size);
        assert.equal(`sha256:${h.digest("hex")}`, b.digest);
        const gets = proxy.log.filter(isBlobGet(b.digest));
        assert.equal(gets.length, 2);
        const m = /^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range));
        assert.ok(m, `Range header: ${gets[1]!.headers.range}`);
        const from = Number(m[1]);
        assert.ok(from > 0 && from <= 32 * 1024 * 1024, `resumed from ${from}`);
        assert.equal(gets[1]!.status, 206);
        assert.equal(c.stats.resumes, 1);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("a stalled body times out and resumes", async () => {
      const c = newClient({ bodyTimeout: 500 });
      try {
        const repo = { registry: proxy.host, repository: "faults/stall" };
        const b = blob(randomBytes(3_000_000));
        await c.pushBlob(repo, b, Readable.from([b.bytes]));
        proxy.clear();
        proxy.add({ match: isBlobGet(b.digest), times: 1, action: { kind: "stall", atBytes: 1_000_000 } });
        assert.deepEqual(await streamBytes(await c.fetchBlob(repo, b)), b.bytes);
        assert.equal(c.stats.resumes, 1);
        assert.match(String(proxy.log.filter(isBlobGet(b.digest))[1]?.headers.range), /^bytes=\d+-$/);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("429 with Retry-After: 2 waits at least 2 s once, then succeeds", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/retryafter" };
        const img = randomImage([100]);
        await pushToRegistry(c, repo, img, "t");
        proxy.clear();
        proxy.add({ match: (r) => r.method === "GET" && r.url.endsWith("/manifests/t"), times: 1, action: { kind: "status", status: 429, headers: { "retry-after": "2" } } });
        const retries = c.stats.retries;
        const t0 = Date.now();
        const m = await c.getManifest(repo, "t");
        const waited = Date.now() - t0;
        assert.equal(m.digest, img.manifestDesc.digest);
        assert.ok(waited >= 2000, `waited ${waited} ms`);
        assert.ok(waited < 4000, `waited ${waited} ms`);
        assert.equal(c.stats.retries - retries, 1);
        assert.equal(proxy.log.filter((r) => r.url.endsWith("/manifests/t")).length, 2);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("an abort interrupts a Retry-After wait and a blob stream with ABORTED", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/abort" };
        const b = blob(randomBytes(4_000_000));
        await c.pushBlob(repo, b, Readable.from([b.bytes]));
        proxy.clear();
        proxy.add({ match: isBlobGet(b.digest), times: 1, action: { kind: "status", status: 429, headers: { "retry-after": "30" } } });
        const ac = new AbortController();
        setTimeout(() => ac.abort(new Error("interrupted by test")), 200);
        const t0 = Date.now();
        await assert.rejects(c.fetchBlob(repo, b, { signal: ac.signal }), (e: TcraneError) => e.code === "ABORTED");
        assert.ok(Date.now() - t0 < 5000);
        proxy.clear();
        proxy.add({ match: isBlobGet(b.digest), times: 1, action: { kind: "stall", atBytes: 1_000_000 } });
        const ac2 = new AbortController();
        const s = await c.fetchBlob(repo, b, { signal: ac2.signal });
        setTimeout(() => ac2.abort(), 300);
        await assert.rejects(streamBytes(s), (e: TcraneError) => e.code === "ABORTED");
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("5xx bursts are retried; when retries run out the error says how many tries", async () => {
      const c = newClient({ retries: 3 });
      try {
        const repo = { registry: proxy.host, repository: "faults/burst" };
        const img = randomImage([100]);
        await pushToRegistry(c, repo, img, "t");
        proxy.clear();
        proxy.add({ match: (r) => r.method === "HEAD" && r.url.includes("/blobs/"), times: 3, action: { kind: "status", status: 503 } });
        assert.equal(await c.headBlob(repo, img.layers[0]!.desc.digest), img.layers[0]!.desc.size);
        proxy.clear();
        const html = "<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>";
        proxy.add({ match: (r) => r.url.endsWith("/manifests/t"), action: { kind: "status", status: 502, headers: { "content-type": "text/html" }, body: html } });
        await assert.rejects(c.getManifest(repo, "t"), (e: RegistryError) => {
          assert.equal(e.code, "REGISTRY");
          assert.equal(e.exitCode, 1);
          assert.equal(e.status, 502);
          assert.equal(e.message, "unexpected status 502 Bad Gateway (HTML error page) (gave up after 4 tries)");
          assert.ok(!e.line.includes("\n"));
          return true;
        });
        assert.equal(proxy.log.filter((r) => r.url.endsWith("/manifests/t")).length, 4);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("OCI error JSON: DENIED ⇒ exit 4 naming the registry; TOOMANYREQUESTS; Warning 299 reaches onWarning", async () => {
      const warnings: string[] = [];
      const c = newClient({ retries: 0, onWarning: (w) => warnings.push(w) });
      try {
        const repo = { registry: proxy.host, repository: "faults/errors" };
        const img = randomImage([100]);
        await pushToRegistry(c, repo, img, "t");
        proxy.clear();
        const denied = JSON.stringify({ errors: [{ code: "DENIED", message: "requested access to the resource is denied" }] });
        proxy.add({ match: (r) => r.url.endsWith("/manifests/denied"), action: { kind: "status", status: 403, headers: { "content-type": "application/json" }, body: denied } });
        await assert.rejects(c.getManifest(repo, "denied"), (e: RegistryError) => {
          assert.equal(e.code, "DENIED");
          assert.equal(e.exitCode, 4);
          assert.match(e.line, new RegExp(`^GET http://${proxy.host}/v2/faults/errors/manifests/denied: DENIED: requested access to the resource is denied \\(access denied by ${proxy.host}\\)$`));
          return true;
        });
        const tmr = JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down", detail: { limit: 1 } }] });
        proxy.add({ match: (r) => r.url.endsWith("/manifests/tmr"), action: { kind: "status", status: 429, headers: { "content-type": "application/json" }, body: tmr } });
        await assert.rejects(c.getManifest(repo, "tmr"), (e: RegistryError) => e.code === "TOOMANYREQUESTS" && /slow down; \{"limit":1\}/.test(e.message));
        proxy.add({ match: (r) => r.url.endsWith("/manifests/t"), action: { kind: "addHeaders", headers: { warning: '299 - "this repository is deprecated"' } } });
        await c.getManifest(repo, "t");
        await c.getManifest(repo, "t");
        assert.deepEqual(warnings, ["this repository is deprecated"]);
        // Docker Hub's pull limits: the last response that carried them is what the client reports
        assert.equal(c.rateLimit(proxy.host), undefined);
        proxy.clear();
        proxy.add({ match: (r) => r.url.endsWith("/manifests/t"), action: { kind: "addHeaders", headers: { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600" } } });
        await c.getManifest(repo, "t");
        assert.deepEqual(c.rateLimit(proxy.host), { limit: 100, remaining: 76, windowSeconds: 21600 });
        assert.equal(c.rateLimit("other.example"), undefined);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("a 413 on the streamed PATCH switches to chunks honouring OCI-Chunk-Min-Length", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/toolarge" };
        const b = blob(randomBytes(DEFAULT_CHUNK_SIZE + 1_000_000));
        proxy.clear();
        proxy.add({ match: (r) => r.method === "PATCH" && !r.headers["content-range"], action: { kind: "status", status: 413 } });
        let opened = 0;
        assert.equal(await c.pushBlob(repo, b, async () => (opened++, Readable.from([b.bytes]))), "uploaded");
        assert.equal(opened, 2);
        const patches = proxy.log.filter((r) => r.method === "PATCH");
        assert.deepEqual(patches.map((r) => r.headers["content-range"]), [undefined, `0-${DEFAULT_CHUNK_SIZE - 1}`, `${DEFAULT_CHUNK_SIZE}-${b.size - 1}`]);
        assert.ok(proxy.log.some((r) => r.method === "DELETE" && r.url.includes("/blobs/uploads/")), "the refused session was deleted");
        assert.equal(await c.headBlob(repo, b.digest), b.size);
      } finally {
        proxy.clear();
        await c.close();
      }
      const chunky = newClient({ chunkSize: 100_000 });
      try {
        const repo = { registry: proxy.host, repository: "faults/chunkmin" };
        const b = blob(randomBytes(700_000));
        proxy.add({ match: (r) => r.method === "POST", action: { kind: "chunkMin", length: 300_000 } });
        await chunky.pushBlob(repo, b, Readable.from([b.bytes]));
        const ranges = proxy.log.filter((r) => r.method === "PATCH").map((r) => r.headers["content-range"]);
        assert.deepEqual(ranges, ["0-299999", "300000-599999", "600000-699999"]);
        assert.deepEqual(await streamBytes(await chunky.fetchBlob(repo, b)), b.bytes);
      } finally {
        proxy.clear();
        await chunky.close();
      }
    });

    test("an upload failing mid-way is restarted from a re-opened body; a plain stream is not", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/restart" };
        const b = blob(randomBytes(1_500_000)); // over 1 MiB: sent with a PATCH (smaller blobs go in the PUT)
        proxy.clear();
        proxy.add({ match: (r) => r.method === "PATCH", times: 1, action: { kind: "status", status: 500 } });
        let opened = 0;
        assert.equal(await c.pushBlob(repo, b, async () => (opened++, Readable.from([b.bytes]))), "uploaded");
        assert.equal(opened, 2);
        assert.equal(c.stats.uploadRestarts, 1);
        assert.equal(proxy.log.filter((r) => r.method === "POST").length, 2);
        assert.equal(proxy.log.filter((r) => r.method === "DELETE").length, 1);
        proxy.clear();
        const b2 = blob(randomBytes(1_100_000));
        proxy.add({ match: (r) => r.method === "PATCH", times: 1, action: { kind: "status", status: 500 } });
        await assert.rejects(c.pushBlob(repo, b2, Readable.from([b2.bytes])), (e: TcraneError) => e.code === "REGISTRY");
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("relative upload Locations are followed (keeping a query); a manifest GET by digest is verified", async () => {
      const c = newClient({ retries: 0 });
      try {
        const repo = { registry: proxy.host, repository: "faults/relative" };
        proxy.clear();
        proxy.add({ match: (r) => r.url.includes("/blobs/uploads/"), action: { kind: "relativeLocation" } });
        const img = randomImage([1_100_000, 1_200_000]); // over 1 MiB: PATCH then PUT
        await pushToRegistry(c, repo, img, "v1");
        const post = proxy.log.find((r) => r.method === "POST")!;
        assert.ok(post.status === 202);
        const patch = proxy.log.find((r) => r.method === "PATCH")!;
        const put = proxy.log.find((r) => r.method === "PUT" && r.url.includes("/blobs/uploads/"))!;
        if (backend.kind === "distribution") {
          // distribution's upload Location carries its _state query: kept on PATCH, digest appended on PUT
          assert.match(patch.url, /^\/v2\/faults\/relative\/blobs\/uploads\/[0-9a-f-]+\?_state=/);
          assert.match(put.url, /\?_state=[^&]+&digest=sha256%3A[0-9a-f]{64}$/);
        } else {
          // the embedded registry's Location is a bare relative path (no query): digest is the only parameter
          assert.match(patch.url, /^\/v2\/faults\/relative\/blobs\/uploads\/[0-9a-f-]+$/);
          assert.match(put.url, /^\/v2\/faults\/relative\/blobs\/uploads\/[0-9a-f-]+\?digest=sha256%3A[0-9a-f]{64}$/);
        }
        proxy.clear();
        const forged = JSON.stringify({ schemaVersion: 2, mediaType: img.manifestDesc.mediaType, config: {}, layers: [] });
        proxy.add({ match: (r) => r.url.endsWith(`/manifests/${img.manifestDesc.digest}`), action: { kind: "status", status: 200, headers: { "content-type": img.manifestDesc.mediaType }, body: forged } });
        await assert.rejects(c.getManifest(repo, img.manifestDesc.digest), (e: TcraneError) => e.code === "DIGEST_MISMATCH" && e.exitCode === 1);
        proxy.clear();
        proxy.add({ match: (r) => r.url.endsWith("/manifests/v1"), action: { kind: "status", status: 200, headers: { "content-type": img.manifestDesc.mediaType, "content-length": String(64 << 20) }, body: "" } });
        await assert.rejects(c.getManifest(repo, "v1"), /limit/);
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("referrers API: an index answer is used, filtered client-side when the registry did not filter", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/referrers" };
        const subject = `sha256:${"c".repeat(64)}`;
        const d = (n: string, artifactType: string) => ({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${n.repeat(64)}`, size: 10, artifactType });
        const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [d("1", "application/sig"), d("2", "application/sbom")] };
        proxy.clear();
        proxy.add({
          match: (r) => r.url.includes(`/referrers/${subject}`),
          action: { kind: "status", status: 200, headers: { "content-type": "application/vnd.oci.image.index.v1+json" }, body: JSON.stringify(index) },
        });
        assert.deepEqual((await c.referrers(repo, subject)).manifests.map((m) => m.artifactType), ["application/sig", "application/sbom"]);
        const filtered = await c.referrers(repo, subject, { artifactType: "application/sbom" });
        assert.deepEqual(filtered.manifests.map((m) => m.digest), [`sha256:${"2".repeat(64)}`]);
        assert.equal(proxy.log.at(-1)!.url, `/v2/faults/referrers/referrers/${subject}?artifactType=application%2Fsbom`);
        assert.equal(proxy.log.at(-1)!.headers.accept, "application/vnd.oci.image.index.v1+json");
        assert.ok(!proxy.log.some((r) => r.url.includes("/manifests/sha256-")), "no tag-schema fallback");
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("tags pagination with n=2 over 5 tags: the registry's own, then relative and absolute Link", async () => {
      const c = newClient();
      try {
        const repo = { registry: proxy.host, repository: "faults/tags" };
        const img = randomImage([10]);
        for (const t of ["v1", "v2", "v3", "v4", "v5"]) await pushToRegistry(c, repo, img, t);
        // the registry's own answer to n=2: distribution 2.8 ignores n (one page, every tag, in storage
        // order); the embedded registry pages sorted tags with its own relative Link (last, then n)
        proxy.clear();
        const native = await c.listTags(repo, { pageSize: 2 });
        const nativePages = proxy.log.filter((r) => r.url.includes("/tags/list")).map((r) => r.url);
        if (backend.kind === "distribution") {
          assert.deepEqual([...native].sort(), ["v1", "v2", "v3", "v4", "v5"]);
          assert.deepEqual(nativePages, ["/v2/faults/tags/tags/list?n=2"]);
        } else {
          assert.deepEqual(native, ["v1", "v2", "v3", "v4", "v5"]);
          assert.deepEqual(nativePages, [
            "/v2/faults/tags/tags/list?n=2",
            "/v2/faults/tags/tags/list?last=v2&n=2",
            "/v2/faults/tags/tags/list?last=v4&n=2",
          ]);
        }
        for (const absolute of [false, true]) {
          proxy.clear();
          proxy.add({ match: (r) => r.url.includes("/tags/list"), action: { kind: "paginateTags", absolute } });
          assert.deepEqual(await c.listTags(repo, { pageSize: 2 }), ["v1", "v2", "v3", "v4", "v5"]);
          const pages = proxy.log.filter((r) => r.url.includes("/tags/list")).map((r) => r.url);
          assert.deepEqual(pages, [
            "/v2/faults/tags/tags/list?n=2",
            "/v2/faults/tags/tags/list?n=2&last=v2",
            "/v2/faults/tags/tags/list?n=2&last=v4",
          ]);
        }
      } finally {
        proxy.clear();
        await c.close();
      }
    });

    test("requests go through HTTP_PROXY / the proxy option as CONNECT tunnels; NO_PROXY bypasses", async () => {
      const cp = await startConnectProxy();
      const saved = { ...process.env };
      try {
        const repo = { registry: reg.host, repository: "faults/proxied" };
        const c = newClient({ proxy: { http: cp.url, https: cp.url, noProxy: "" }, connectionsPerHost: 2 });
        const img = randomImage([1000, 2000, 3000, 4000, 5000, 6000]);
        await c.checkAuth(reg.host);
        assert.ok(cp.connections >= 2, `${cp.connections} tunnels`); // the https probe, then http
        await new Promise((r) => setTimeout(r, 50));
        cp.resetMax();
        await pushToRegistry(c, repo, img, "t"); // 7 blobs in parallel
        assert.equal((await c.getManifest(repo, "t")).digest, img.manifestDesc.digest);
        // 7 uploads in parallel over at most 2 connections; distribution closes the connection after
        // every HEAD, and that tunnel may still be closing when its replacement opens: hence + 1
        assert.ok(cp.maxOpen >= 1 && cp.maxOpen <= 2 + 1, `${cp.maxOpen} tunnels open at once, bounded by connectionsPerHost`);
        await c.close();
        assert.ok(cp.targets.every((t) => t === reg.host));
        for (const k of ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]) delete process.env[k];
        process.env.HTTP_PROXY = cp.url;
        process.env.HTTPS_PROXY = cp.url;
        const before = cp.connections;
        const e1 = newClient();
        assert.equal((await e1.getManifest(repo, "t")).digest, img.manifestDesc.digest);
        await e1.close();
        assert.ok(cp.connections > before, "HTTP_PROXY was used");
        process.env.NO_PROXY = "127.0.0.1";
        const mid = cp.connections;
        const e2 = newClient();
        assert.equal((await e2.getManifest(repo, "t")).digest, img.manifestDesc.digest);
        await e2.close();
        assert.equal(cp.connections, mid, "NO_PROXY bypassed the proxy");
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
        await cp.stop();
      }
    });
  });
}
