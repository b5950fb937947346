/**
 * Registry client pieces without a registry: WWW-Authenticate parsing, scopes, Retry-After, Link,
 * error mapping, upload locations, referrers tags, Content-Range, certs.d reading, the https probe.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  parseChallenges,
  pickChallenge,
  scopesCover,
  mergeScopes,
  parseScope,
  parseRetryAfter,
  backoffDelay,
  isRetryableError,
  nextLink,
  registryError,
  uploadUrlWithDigest,
  referrersTag,
  parseContentRange,
  readCertsD,
  RegistryClient,
} from "../src/registry/index.js";
import { TcraneError } from "../src/errors.js";
import { tempDir, withTempDir } from "./harness/tools.js";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { makePki } from "./harness/tls.js";
import type { AddressInfo } from "node:net";

test("WWW-Authenticate: a table of challenges", () => {
  const cases: [string | string[], { scheme: string; params: Record<string, string> }[]][] = [
    ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io"', [{ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io" } }]],
    [
      'Bearer realm="https://r/token",service="svc",scope="repository:a/b:pull repository:c:push,pull",error="insufficient_scope"',
      [{ scheme: "bearer", params: { realm: "https://r/token", service: "svc", scope: "repository:a/b:pull repository:c:push,pull", error: "insufficient_scope" } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    ['BASIC Realm="x"', [{ scheme: "basic", params: { realm: "x" } }]],
    ['Bearer realm="a\\"b\\\\c"', [{ scheme: "bearer", params: { realm: 'a"b\\c' } }]],
    ['Bearer realm="r",service="",scope="s"', [{ scheme: "bearer", params: { realm: "r", service: "", scope: "s" } }]],
    ["Bearer realm=https://x/token, service=reg", [{ scheme: "bearer", params: { realm: "https://x/token", service: "reg" } }]],
    [
      'Negotiate, Basic realm="b", Bearer realm="t",service="s"',
      [
        { scheme: "negotiate", params: {} },
        { scheme: "basic", params: { realm: "b" } },
        { scheme: "bearer", params: { realm: "t", service: "s" } },
      ],
    ],
    [["Basic realm=\"one\"", "Bearer realm=\"two\""], [{ scheme: "basic", params: { realm: "one" } }, { scheme: "bearer", params: { realm: "two" } }]],
    ['Bearer realm="unterminated', [{ scheme: "bearer", params: {} }]],
    ["", []],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseChallenges(input), want, JSON.stringify(input));
  assert.equal(pickChallenge(parseChallenges('Negotiate, Basic realm="b"'))?.scheme, "basic");
  assert.equal(pickChallenge(parseChallenges("Negotiate"))?.scheme, "negotiate");
  assert.equal(pickChallenge([]), undefined);
});

test("scopes: parse with a port in the name, coverage, merge puts new scopes first", () => {
  assert.deepEqual(parseScope("repository:localhost:5000/a/b:push,pull"), { type: "repository", name: "localhost:5000/a/b", actions: ["push", "pull"] });
  assert.deepEqual(parseScope("registry:catalog:*"), { type: "registry", name: "catalog", actions: ["*"] });
  assert.equal(parseScope("nonsense"), undefined);
  assert.ok(scopesCover(["repository:a:push,pull"], ["repository:a:pull"]));
  assert.ok(scopesCover(["repository:a:push,pull", "repository:b:pull"], ["repository:b:pull", "repository:a:push"]));
  assert.ok(!scopesCover(["repository:a:pull"], ["repository:a:push,pull"]));
  assert.ok(!scopesCover(["repository:a:pull"], ["repository:b:pull"]));
  assert.ok(scopesCover(["registry:catalog:*"], ["registry:catalog:*"]));
  assert.ok(scopesCover(["repository:a:*"], ["repository:a:delete"]));
  assert.ok(scopesCover([], []));
  assert.deepEqual(mergeScopes(["repository:a:pull"], ["repository:b:pull", "repository:a:pull"]), ["repository:b:pull", "repository:a:pull"]);
});

test("Retry-After in seconds and as an HTTP date; backoff grows with jitter and honours Retry-After", () => {
  assert.equal(parseRetryAfter("2"), 2000);
  assert.equal(parseRetryAfter(["0"]), 0);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 00:00:05 GMT", now), 0);
  assert.equal(parseRetryAfter("soon"), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
  for (let i = 0; i < 20; i++) {
    const d0 = backoffDelay(0, undefined);
    const d3 = backoffDelay(3, undefined);
    assert.ok(d0 >= 250 && d0 <= 500, `${d0}`);
    assert.ok(d3 >= 2000 && d3 <= 4000, `${d3}`);
    assert.ok(backoffDelay(30, undefined) <= 10_000);
  }
  assert.equal(backoffDelay(0, 2000), 2000);
  assert.equal(backoffDelay(0, 10_000_000), 120_000);
  assert.ok(isRetryableError(Object.assign(new Error("x"), { code: "ECONNRESET" })));
  assert.ok(isRetryableError(Object.assign(new Error("x"), { code: "UND_ERR_BODY_TIMEOUT" })));
  assert.ok(!isRetryableError(Object.assign(new Error("x"), { name: "AbortError", code: "ECONNRESET" })));
  assert.ok(!isRetryableError(Object.assign(new Error("x"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" })));
});

test("Link: rel=next, relative or absolute, same host only", () => {
  const req = new URL("http://r:5000/v2/a/tags/list?n=2");
  assert.equal(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', req)?.href, "http://r:5000/v2/a/tags/list?n=2&last=b");
  assert.equal(nextLink('<http://r:5000/v2/a/tags/list?last=b>; rel=next', req)?.href, "http://r:5000/v2/a/tags/list?last=b");
  assert.equal(nextLink('</x?p=1>; rel="prev", </x?p=3>; rel="next"', req)?.href, "http://r:5000/x?p=3");
  assert.equal(nextLink('</x?p=1>; rel="prev"', req), undefined);
  assert.equal(nextLink(undefined, req), undefined);
  assert.throws(() => nextLink('<http://evil:5000/v2/a/tags/list>; rel="next"', req), /another host/);
  assert.throws(() => nextLink('<https://r:5000/v2/a/tags/list>; rel="next"', req), /another host/);
});

test("registry errors: OCI JSON, HTML pages, plain text; codes and exit statuses; URLs redacted", () => {
  const e1 = registryError({ method: "GET", url: "https://u:p@r/v2/a/manifests/x?token=abc", status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}' });
  assert.equal(e1.code, "NOT_FOUND");
  assert.equal(e1.exitCode, 3);
  assert.equal(e1.line, 'GET https://r/v2/a/manifests/x?token=REDACTED: MANIFEST_UNKNOWN: manifest unknown; {"Tag":"x"}');
  assert.deepEqual(e1.errors.map((e) => e.code), ["MANIFEST_UNKNOWN"]);
  for (const [code, want, exit] of [["NAME_UNKNOWN", "NOT_FOUND", 3], ["BLOB_UNKNOWN", "NOT_FOUND", 3], ["UNAUTHORIZED", "UNAUTHORIZED", 4], ["DENIED", "DENIED", 4], ["TOOMANYREQUESTS", "TOOMANYREQUESTS", 1], ["MANIFEST_INVALID", "REGISTRY", 1]] as const) {
    const e = registryError({ method: "PUT", url: "https://r/v2/x", status: 400, body: JSON.stringify({ errors: [{ code }] }), registry: "r" });
    assert.equal(e.code, want, code);
    assert.equal(e.exitCode, exit, code);
  }
  const e401 = registryError({ method: "GET", url: "https://r/v2/", status: 401, registry: "r" });
  assert.equal(e401.message, "unexpected status 401 Unauthorized (authentication required by r)");
  const html = registryError({ method: "GET", url: "https://r/v2/", status: 503, body: "<html><body>down</body></html>", contentType: "text/html" });
  assert.equal(html.message, "unexpected status 503 Service Unavailable (HTML error page)");
  const text = registryError({ method: "GET", url: "https://r/v2/", status: 500, body: "boom\nsecond line" });
  assert.equal(text.message, "unexpected status 500 Internal Server Error: boom");
  const leak = registryError({ method: "GET", url: "https://r/v2/", status: 400, body: '{"errors":[{"code":"X","message":"bad Authorization: Bearer abcdefghijkl"}]}' });
  assert.ok(!leak.message.includes("abcdefghijkl"));
});

test("upload locations keep their query; referrers tags; Content-Range", () => {
  assert.equal(uploadUrlWithDigest(new URL("http://r/v2/a/blobs/uploads/u?_state=a%2Bb=="), "sha256:00").href, "http://r/v2/a/blobs/uploads/u?_state=a%2Bb==&digest=sha256%3A00");
  assert.equal(uploadUrlWithDigest(new URL("http://r/v2/a/blobs/uploads/u"), "sha256:00").href, "http://r/v2/a/blobs/uploads/u?digest=sha256%3A00");
  const hex = "a".repeat(64);
  assert.equal(referrersTag(`sha256:${hex}`), `sha256-${hex}`);
  assert.equal(referrersTag(`sha512:${"b".repeat(128)}`), `sha512-${"b".repeat(64)}`);
  assert.throws(() => referrersTag("md5:abc"), (e: TcraneError) => e.code === "INVALID_DIGEST");
  assert.deepEqual(parseContentRange("bytes 100-199/1000"), { start: 100, end: 199, total: 1000 });
  assert.deepEqual(parseContentRange("bytes 0-9/*"), { start: 0, end: 9, total: undefined });
  assert.equal(parseContentRange("0-9"), undefined);
});

test("certs.d: *.crt are CAs, *.cert needs its *.key", async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, "r:5000"));
    await writeFile(join(dir, "r:5000", "a.crt"), "CA-A");
    await writeFile(join(dir, "r:5000", "b.crt"), "CA-B");
    await writeFile(join(dir, "r:5000", "client.cert"), "CERT");
    await writeFile(join(dir, "r:5000", "client.key"), "KEY");
    assert.deepEqual(readCertsD(dir, "r:5000"), { ca: ["CA-A", "CA-B"], cert: "CERT", key: "KEY" });
    assert.deepEqual(readCertsD(dir, "other"), { ca: [] });
    await mkdir(join(dir, "bad"));
    await writeFile(join(dir, "bad", "lonely.cert"), "CERT");
    assert.throws(() => readCertsD(dir, "bad"), (e: TcraneError) => e.code === "CONFIG" && /missing key lonely.key/.test(e.message));
  }, "tcrane-certsd-unit-");
});

test("an unreachable registry fails with NETWORK after the retries, saying how many tries; abort stops at once", async () => {
  const c = new RegistryClient({ retries: 2, backoff: { baseMs: 5, maxMs: 10 } });
  try {
    // port 9 on loopback: connection refused, https only (not a fallback host)
    await assert.rejects(c.checkAuth("127.0.0.2:9"), (e: TcraneError) => {
      assert.equal(e.code, "NETWORK");
      assert.match(e.message, /gave up after 3 tries/);
      assert.equal(c.stats.retries >= 2, true);
      return true;
    });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(c.checkAuth("127.0.0.3:9", [], ac.signal), (e: TcraneError) => e.code === "ABORTED");
  } finally {
    await c.close();
  }
});

test("redirects: at most 10 hops are followed", async () => {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url === "/v2/") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
      return;
    }
    const n = Number(new URL(req.url ?? "/", "http://x").searchParams.get("n") ?? "0");
    res.writeHead(307, { location: `/v2/r/blobs/sha256:${"0".repeat(64)}?n=${n + 1}` });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const c = new RegistryClient({ retries: 0 });
  try {
    await assert.rejects(c.fetchBlob({ registry: host, repository: "r" }, { digest: `sha256:${"0".repeat(64)}` }), /too many redirects \(10\)/);
    assert.equal(c.stats.redirects, 10);
  } finally {
    await c.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  assert.equal(hits, 1 + 1 + 10, "ping, first GET, 10 redirects (the https probe never parses as a request)");
});

test("a certificate the client rejects proves TLS: no plain-http fallback, the certificate error is reported", async () => {
  const { dir, cleanup } = await tempDir("tcrane-unit-tls-");
  const pki = await makePki(dir);
  let connections = 0;
  // node:https (unlike Go) just closes a plain-http connection: a fallback would hide the real error
  const server = createHttpsServer({ key: await readFile(pki.keyPath), cert: await readFile(pki.certPath) }, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const c = new RegistryClient({ retries: 0, certDir: "/nonexistent" });
  const trusting = new RegistryClient({ caFile: pki.caCertPath, certDir: "/nonexistent" });
  try {
    await assert.rejects(c.checkAuth(host), (e: TcraneError) => {
      assert.equal(e.code, "NETWORK");
      assert.match(e.line, new RegExp(`^GET https://${host}/v2/: .*certificate`));
      return true;
    });
    // both probes start at once (a plain-http registry costs one round trip); the http one that
    // node:https drops is not what gets reported
    assert.ok(connections >= 1 && connections <= 2, `${connections} connections`);
    await trusting.checkAuth(host);
  } finally {
    await Promise.all([c.close(), trusting.close()]);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await cleanup();
  }
});

test("a blob stream destroyed before it was read frees its response: the client still closes", async () => {
  // 1 MiB answered in full but never read: the connection stays busy until the body is freed.
  const blob = Buffer.alloc(1 << 20, 7);
  const server = createServer((req, res) => {
    if (req.url === "/v2/") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(blob.length) });
    res.end(blob);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const c = new RegistryClient({ retries: 0 });
  try {
    const s = await c.fetchBlob({ registry: host, repository: "r" }, { digest: `sha256:${"0".repeat(64)}`, size: blob.length }, { verify: false });
    s.destroy();
    const closed = await Promise.race([c.close().then(() => "closed"), new Promise((r) => setTimeout(() => r("still open after 3 s"), 3000))]);
    assert.equal(closed, "closed");
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
