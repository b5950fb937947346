/**
 * The embedded registry's HTTP API driven by raw undici requests: happy paths (chunked and
 * monolithic uploads, mount, Range, pagination, referrers, content negotiation) and bad requests,
 * each of which must answer the right OCI error and store nothing.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Client } from "undici";
import { startRegistry, type RunningRegistry } from "../src/server/index.js";
import { tempDir } from "./harness/tools.js";
import { makeIndex, manifestOf, sha256 as sha } from "./fixtures/images.js";

let reg: RunningRegistry;
let dir: string;
let cleanup: () => Promise<void>;
let onDisk = true;

for (const kind of ["dir", "memory"] as const) {
  describe(`${kind} store`, () => {
    before(async () => {
      ({ dir, cleanup } = await tempDir("tcrane-server-api-"));
      onDisk = kind === "dir";
      reg = await startRegistry({ dir: onDisk ? dir : undefined, maxManifestBytes: 64 * 1024 });
    });
    after(async () => {
      await reg.close();
      await cleanup();
    });
    apiTests();
  });
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Res> {
  // a Client sends the raw path (no URL normalisation of "..", "%2e%2e" or "//")
  const client = new Client(reg.url);
  const r = await client.request({ path, method: method as "GET", headers: opts.headers, body: opts.body });
  const text = await r.body.text();
  await client.close();
  return { status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) };
}

function errCode(r: Res): string {
  const j = r.json();
  assert.ok(Array.isArray(j.errors) && j.errors.length > 0, `OCI error JSON expected, got ${r.text}`);
  return j.errors[0].code;
}

async function blobFiles(): Promise<string[]> {
  if (!onDisk) return [];
  return (await readdir(join(dir, "blobs", "sha256")).catch(() => [])).sort();
}
async function uploadFiles(): Promise<string[]> {
  if (!onDisk) return [];
  return readdir(join(dir, "tcrane-registry", "uploads"));
}

async function pushBlob(repo: string, data: Buffer): Promise<string> {
  const d = sha(data);
  const r = await call("POST", `/v2/${repo}/blobs/uploads/?digest=${d}`, { body: data, headers: { "content-type": "application/octet-stream" } });
  assert.equal(r.status, 201, r.text);
  return d;
}

function manifestFor(config: { digest: string; size: number }, layers: Array<{ digest: string; size: number }>, extra: Record<string, unknown> = {}): Buffer {
  return manifestOf(config, layers, { extra }).manifest;
}

const OCI_MANIFEST = { "content-type": "application/vnd.oci.image.manifest.v1+json" };

function apiTests(): void {
test("ping answers 200 with the API version header", async () => {
  const r = await call("GET", "/v2/");
  assert.equal(r.status, 200);
  assert.equal(r.headers["docker-distribution-api-version"], "registry/2.0");
});

test("chunked upload: POST, PATCH with Content-Range, status, out-of-order 416, PUT verifies", async () => {
  const data = Buffer.from("0123456789abcdefghij");
  const start = await call("POST", "/v2/chunky/blobs/uploads/");
  assert.equal(start.status, 202);
  const loc = String(start.headers.location);
  assert.match(loc, /^\/v2\/chunky\/blobs\/uploads\/[0-9a-f-]{36}$/);
  assert.equal(start.headers.range, "0-0");
  const short = await call("PATCH", loc, { body: data.subarray(0, 5), headers: { "content-range": "0-9" } });
  assert.equal(short.status, 416, "a chunk shorter than its Content-Range is refused");
  assert.equal((await call("GET", loc)).headers.range, "0-0", "and rolled back");
  const p1 = await call("PATCH", loc, { body: data.subarray(0, 10), headers: { "content-range": "0-9", "content-type": "application/octet-stream" } });
  assert.equal(p1.status, 202);
  assert.equal(p1.headers.range, "0-9");
  const bad = await call("PATCH", loc, { body: data.subarray(15), headers: { "content-range": "15-19" } });
  assert.equal(bad.status, 416);
  assert.equal(errCode(bad), "BLOB_UPLOAD_INVALID");
  assert.equal(bad.headers.range, "0-9");
  const status = await call("GET", loc);
  assert.equal(status.status, 204);
  assert.equal(status.headers.range, "0-9");
  const p2 = await call("PATCH", loc, { body: data.subarray(10), headers: { "content-range": "10-19" } });
  assert.equal(p2.status, 202);
  assert.equal(p2.headers.range, "0-19");
  const done = await call("PUT", `${loc}?digest=${sha(data)}`);
  assert.equal(done.status, 201, done.text);
  assert.equal(done.headers.location, `/v2/chunky/blobs/${sha(data)}`);
  assert.equal(done.headers["docker-content-digest"], sha(data));
  const got = await call("GET", `/v2/chunky/blobs/${sha(data)}`);
  assert.equal(got.text, data.toString());
  assert.deepEqual(await uploadFiles(), []);
});

test("wrong digest on PUT: 400 DIGEST_INVALID and nothing stored", async () => {
  const before = await blobFiles();
  const data = Buffer.from("some bytes that will be lied about");
  const wrong = sha("something else");
  const start = await call("POST", "/v2/liar/blobs/uploads/");
  const loc = String(start.headers.location);
  await call("PATCH", loc, { body: data });
  const r = await call("PUT", `${loc}?digest=${wrong}`);
  assert.equal(r.status, 400);
  assert.equal(errCode(r), "DIGEST_INVALID");
  // monolithic POST with a wrong digest too
  const m = await call("POST", `/v2/liar/blobs/uploads/?digest=${wrong}`, { body: data });
  assert.equal(m.status, 400);
  assert.equal(errCode(m), "DIGEST_INVALID");
  for (const d of [wrong, sha(data)]) assert.equal((await call("HEAD", `/v2/liar/blobs/${d}`)).status, 404);
  assert.deepEqual(await blobFiles(), before);
  assert.deepEqual(await uploadFiles(), []);
  assert.equal((await call("GET", loc)).status, 404, "the failed session is gone");
});

test("sha512 digests: monolithic and chunked uploads verify, a wrong one is refused", async () => {
  const { createHash } = await import("node:crypto");
  const data = Buffer.from("sha512 content ".repeat(100));
  const d512 = "sha512:" + createHash("sha512").update(data).digest("hex");
  const mono = await call("POST", `/v2/five12/blobs/uploads/?digest=${d512}`, { body: data });
  assert.equal(mono.status, 201, mono.text);
  const got = await call("GET", `/v2/five12/blobs/${d512}`);
  assert.equal(got.text, data.toString());
  const start = await call("POST", "/v2/five12b/blobs/uploads/");
  const loc = String(start.headers.location);
  await call("PATCH", loc, { body: data });
  const bad = await call("PUT", `${loc}?digest=sha512:${"0".repeat(128)}`);
  assert.equal(errCode(bad), "DIGEST_INVALID");
  const start2 = await call("POST", "/v2/five12b/blobs/uploads/");
  const loc2 = String(start2.headers.location);
  await call("PATCH", loc2, { body: data.subarray(0, 100) });
  const fin = await call("PUT", `${loc2}?digest=${d512}`, { body: data.subarray(100) });
  assert.equal(fin.status, 201, fin.text);
  assert.equal((await call("HEAD", `/v2/five12b/blobs/${d512}`)).headers["content-length"], String(data.length));
});

test("blob GET with Range answers 206; HEAD gives size and digest; DELETE removes", async () => {
  const data = Buffer.from("abcdefghijklmnopqrstuvwxyz");
  const d = await pushBlob("ranges", data);
  const h = await call("HEAD", `/v2/ranges/blobs/${d}`);
  assert.equal(h.status, 200);
  assert.equal(h.headers["content-length"], String(data.length));
  assert.equal(h.headers["docker-content-digest"], d);
  const r = await call("GET", `/v2/ranges/blobs/${d}`, { headers: { range: "bytes=3-7" } });
  assert.equal(r.status, 206);
  assert.equal(r.text, "defgh");
  assert.equal(r.headers["content-range"], `bytes 3-7/${data.length}`);
  const tail = await call("GET", `/v2/ranges/blobs/${d}`, { headers: { range: "bytes=-3" } });
  assert.equal(tail.text, "xyz");
  const bad = await call("GET", `/v2/ranges/blobs/${d}`, { headers: { range: "bytes=100-200" } });
  assert.equal(bad.status, 416);
  assert.equal((await call("DELETE", `/v2/ranges/blobs/${d}`)).status, 202);
  const gone = await call("GET", `/v2/ranges/blobs/${d}`);
  assert.equal(gone.status, 404);
  assert.equal(errCode(gone), "BLOB_UNKNOWN");
});

test("mount: 201 when the source repository holds the blob, else a 202 session; GET is repository-scoped", async () => {
  const d = await pushBlob("mount/src", Buffer.from("mount me"));
  assert.equal((await call("HEAD", `/v2/mount/dst/blobs/${d}`)).status, 404, "not visible in another repository");
  const m = await call("POST", `/v2/mount/dst/blobs/uploads/?mount=${d}&from=mount/src`);
  assert.equal(m.status, 201);
  assert.equal(m.headers.location, `/v2/mount/dst/blobs/${d}`);
  assert.equal((await call("HEAD", `/v2/mount/dst/blobs/${d}`)).status, 200);
  const miss = await call("POST", `/v2/mount/other/blobs/uploads/?mount=${d}&from=nowhere`);
  assert.equal(miss.status, 202);
  assert.match(String(miss.headers.location), /^\/v2\/mount\/other\/blobs\/uploads\//);
  assert.equal((await call("DELETE", String(miss.headers.location))).status, 204);
});

test("manifest PUT/GET/HEAD/DELETE, content negotiation, tags and by-digest checks", async () => {
  const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const layer = Buffer.from("layer bytes");
  const cd = await pushBlob("app", cfg);
  const ld = await pushBlob("app", layer);
  const man = manifestFor({ digest: cd, size: cfg.length }, [{ digest: ld, size: layer.length }]);
  const put = await call("PUT", "/v2/app/manifests/v1", { body: man, headers: OCI_MANIFEST });
  assert.equal(put.status, 201, put.text);
  assert.equal(put.headers["docker-content-digest"], sha(man));
  assert.equal(put.headers.location, `/v2/app/manifests/${sha(man)}`);
  const get = await call("GET", "/v2/app/manifests/v1", { headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json" } });
  assert.equal(get.status, 200);
  assert.equal(get.headers["content-type"], "application/vnd.oci.image.manifest.v1+json");
  assert.equal(get.text, man.toString());
  const head = await call("HEAD", `/v2/app/manifests/${sha(man)}`);
  assert.equal(head.status, 200);
  assert.equal(head.headers["docker-content-digest"], sha(man));
  assert.equal(head.headers["content-length"], String(man.length));
  const notAccepted = await call("GET", "/v2/app/manifests/v1", { headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" } });
  assert.equal(notAccepted.status, 404);
  assert.equal(errCode(notAccepted), "MANIFEST_UNKNOWN");
  // by digest: must match
  const wrong = await call("PUT", `/v2/app/manifests/${sha("nope")}`, { body: man, headers: OCI_MANIFEST });
  assert.equal(wrong.status, 400);
  assert.equal(errCode(wrong), "DIGEST_INVALID");
  const badTag = await call("PUT", "/v2/app/manifests/-bad", { body: man, headers: OCI_MANIFEST });
  assert.equal(badTag.status, 400);
  assert.equal(errCode(badTag), "TAG_INVALID");
  // an index over it
  const idx = makeIndex([{ desc: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha(man), size: man.length }, platform: "linux/amd64" }]).manifest;
  const pi = await call("PUT", "/v2/app/manifests/multi", { body: idx, headers: { "content-type": "application/vnd.oci.image.index.v1+json" } });
  assert.equal(pi.status, 201, pi.text);
  const tags = await call("GET", "/v2/app/tags/list");
  assert.deepEqual(tags.json(), { name: "app", tags: ["multi", "v1"] });
  // delete by digest removes its tags
  assert.equal((await call("DELETE", `/v2/app/manifests/${sha(idx)}`)).status, 202);
  assert.deepEqual((await call("GET", "/v2/app/tags/list")).json().tags, ["v1"]);
  const gone = await call("GET", `/v2/app/manifests/${sha(idx)}`);
  assert.equal(gone.status, 404);
  assert.equal(errCode(gone), "MANIFEST_UNKNOWN");
  const noRepo = await call("GET", "/v2/nosuchrepo/manifests/latest");
  assert.equal(noRepo.status, 404);
  assert.equal(errCode(noRepo), "NAME_UNKNOWN");
  // the tag is in the layout's index.json with both annotations
  if (!onDisk) return;
  const { readFile } = await import("node:fs/promises");
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
  const entry = index.manifests.find((m: { digest: string }) => m.digest === sha(man));
  assert.equal(entry.annotations["org.opencontainers.image.ref.name"], "app:v1");
  assert.equal(entry.annotations["io.containerd.image.name"], "app:v1");
});

test("bad manifests: malformed, missing blob, missing child, oversized; nothing stored", async () => {
  const before = await blobFiles();
  const mal = await call("PUT", "/v2/bad/manifests/x", { body: "{not json", headers: OCI_MANIFEST });
  assert.equal(mal.status, 400);
  assert.equal(errCode(mal), "MANIFEST_INVALID");
  const noConfig = await call("PUT", "/v2/bad/manifests/x", { body: JSON.stringify({ schemaVersion: 2, layers: [] }), headers: OCI_MANIFEST });
  assert.equal(errCode(noConfig), "MANIFEST_INVALID");
  const typeClash = await call("PUT", "/v2/bad/manifests/x", {
    body: JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] }),
    headers: OCI_MANIFEST,
  });
  assert.equal(errCode(typeClash), "MANIFEST_INVALID");
  const missing = manifestFor({ digest: sha("absent config"), size: 14 }, []);
  const mb = await call("PUT", "/v2/bad/manifests/x", { body: missing, headers: OCI_MANIFEST });
  assert.equal(mb.status, 400);
  assert.equal(errCode(mb), "MANIFEST_BLOB_UNKNOWN");
  const idx = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha("x"), size: 1 }] });
  const mc = await call("PUT", "/v2/bad/manifests/x", { body: idx, headers: { "content-type": "application/vnd.oci.image.index.v1+json" } });
  assert.equal(errCode(mc), "MANIFEST_BLOB_UNKNOWN");
  const huge = manifestFor({ digest: sha("c"), size: 1 }, [], { annotations: { pad: "x".repeat(70 * 1024) } });
  const big = await call("PUT", "/v2/bad/manifests/x", { body: huge, headers: OCI_MANIFEST });
  assert.equal(big.status, 413);
  assert.ok(errCode(big));
  assert.equal((await call("GET", "/v2/bad/tags/list")).status, 404, "the repository was never created");
  assert.deepEqual(await blobFiles(), before);
});

test("path traversal and invalid names: 400 NAME_INVALID, nothing touched", async () => {
  const before = await blobFiles();
  const data = Buffer.from("traversal");
  for (const name of ["..", "a/../../b", "%2e%2e/%2e%2e/etc", "a/%2e%2e", "/abs", "UPPER", "a//b", "-a", `${"a".repeat(256)}`]) {
    for (const [method, path] of [
      ["POST", `/v2/${name}/blobs/uploads/?digest=${sha(data)}`],
      ["PUT", `/v2/${name}/manifests/latest`],
      ["GET", `/v2/${name}/tags/list`],
      ["GET", `/v2/${name}/blobs/${sha(data)}`],
    ] as const) {
      const r = await call(method, path, { body: method === "GET" ? undefined : data });
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.equal(errCode(r), "NAME_INVALID", `${method} ${path}`);
    }
  }
  assert.deepEqual(await blobFiles(), before);
  assert.deepEqual(await uploadFiles(), []);
  if (!onDisk) return;
  const { readdir: rd } = await import("node:fs/promises");
  const top = (await rd(dir)).sort();
  assert.deepEqual(top, ["blobs", "index.json", "oci-layout", "tcrane-registry"]);
});

test("tags list and catalog paginate with n/last and a Link header", async () => {
  const cfg = await pushBlob("pages", Buffer.from("{}"));
  const man = manifestFor({ digest: cfg, size: 2 }, []);
  for (const t of ["a", "b", "c", "d", "e"]) {
    assert.equal((await call("PUT", `/v2/pages/manifests/${t}`, { body: man, headers: OCI_MANIFEST })).status, 201);
  }
  const p1 = await call("GET", "/v2/pages/tags/list?n=2");
  assert.deepEqual(p1.json().tags, ["a", "b"]);
  assert.equal(p1.headers.link, '</v2/pages/tags/list?last=b&n=2>; rel="next"');
  const p3 = await call("GET", "/v2/pages/tags/list?n=2&last=d");
  assert.deepEqual(p3.json().tags, ["e"]);
  assert.equal(p3.headers.link, undefined);
  const cat = await call("GET", "/v2/_catalog?n=1");
  assert.equal(cat.json().repositories.length, 1);
  assert.match(String(cat.headers.link), /^<\/v2\/_catalog\?last=[^&]+&n=1>; rel="next"$/);
  const all = await call("GET", "/v2/_catalog");
  for (const r of ["app", "chunky", "pages"]) assert.ok(all.json().repositories.includes(r), r);
  const unknown = await call("GET", "/v2/never/pushed/tags/list");
  assert.equal(unknown.status, 404);
  assert.equal(errCode(unknown), "NAME_UNKNOWN");
});

test("referrers: a manifest with a subject is listed (OCI-Subject on PUT), artifactType filter applied", async () => {
  const cfg = await pushBlob("refs", Buffer.from("{}"));
  const subject = manifestFor({ digest: cfg, size: 2 }, []);
  assert.equal((await call("PUT", "/v2/refs/manifests/base", { body: subject, headers: OCI_MANIFEST })).status, 201);
  const empty = await pushBlob("refs", Buffer.from("{}"));
  const sig = manifestFor({ digest: empty, size: 2 }, [], {
    artifactType: "application/vnd.example.sig",
    subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha(subject), size: subject.length },
    annotations: { "org.example": "yes" },
  });
  const put = await call("PUT", `/v2/refs/manifests/${sha(sig)}`, { body: sig, headers: OCI_MANIFEST });
  assert.equal(put.status, 201, put.text);
  assert.equal(put.headers["oci-subject"], sha(subject));
  const r = await call("GET", `/v2/refs/referrers/${sha(subject)}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/vnd.oci.image.index.v1+json");
  const idx = r.json();
  assert.equal(idx.manifests.length, 1);
  assert.equal(idx.manifests[0].digest, sha(sig));
  assert.equal(idx.manifests[0].artifactType, "application/vnd.example.sig");
  assert.deepEqual(idx.manifests[0].annotations, { "org.example": "yes" });
  const f = await call("GET", `/v2/refs/referrers/${sha(subject)}?artifactType=application/vnd.other`);
  assert.equal(f.headers["oci-filters-applied"], "artifactType");
  assert.deepEqual(f.json().manifests, []);
  const bad = await call("GET", "/v2/refs/referrers/sha256:zz");
  assert.equal(bad.status, 400);
  assert.equal(errCode(bad), "DIGEST_INVALID");
});

test("unknown endpoints and methods answer OCI errors", async () => {
  const r = await call("GET", "/nope");
  assert.equal(r.status, 404);
  assert.ok(errCode(r));
  const m = await call("POST", "/v2/app/manifests/v1");
  assert.equal(m.status, 405);
  assert.equal(errCode(m), "UNSUPPORTED");
  const u = await call("PATCH", "/v2/app/blobs/uploads/00000000-0000-0000-0000-000000000000", { body: "x" });
  assert.equal(u.status, 404);
  assert.equal(errCode(u), "BLOB_UPLOAD_UNKNOWN");
});
}

test("memory store: concurrent first uploads share one temp dir, and close removes it", async () => {
  const { MemoryStore } = await import("../src/server/memory-store.js");
  const { existsSync } = await import("node:fs");
  const store = new MemoryStore();
  const dirs = await Promise.all([store.uploadDir(), store.uploadDir(), store.uploadDir(), store.uploadDir()]);
  assert.equal(new Set(dirs).size, 1, `one directory, not ${new Set(dirs).size}`);
  assert.ok(existsSync(dirs[0]!));
  await store.close();
  assert.equal(existsSync(dirs[0]!), false, "removed on close");
});
