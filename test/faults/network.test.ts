/**
 * Fault suite, network: the built CLI (and the library where the CLI cannot shorten a timeout)
 * against the real registry (htpasswd, canary password) behind fault proxies. Every case checks the
 * outcome AND the state afterwards: nothing temp left, the destination complete or without the tag.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import type { Recorded } from "../harness/fault-proxy.js";
import { code, freePort } from "../harness/tools.js";
import { parseDuration } from "../../cli/globals.js";
import { RegistryClient } from "../../src/registry/client.js";
import { copy } from "../../src/transfer/ops.js";
import { readFile } from "node:fs/promises";
import { CANARY_PASSWORD, CANARY_USER, CaseTable, assertNoTemp, assertOnly, assertTmpClean, cli, failsWith, listTree, ok, waitFor } from "./lib/cases.js";
import { tagState } from "./lib/images.js";
import { makeImage, writeLayout } from "../fixtures/images.js";
import { endSuite, outDirs, startProxiedRegistry, type ProxiedRegistry } from "./lib/suite.js";

const table = new CaseTable("network faults");
/** The proxied registry and its work dir, env and seeded image: set in before(). */
let { reg, fp, tap, work, env, img } = {} as ProxiedRegistry;
const big = () => img.layers[0]!.desc;
const small = () => img.layers[1]!.desc;
const src = () => `${reg.host}/src/app:1`;

before(async () => {
  ({ reg, fp, tap, work, env, img } = await startProxiedRegistry("tcrane-faults-net-", [3 * 1024 * 1024, 200 * 1024]));
});
after(() => endSuite(table, work, fp, tap, reg));

/** A fresh (existing, empty) output directory under the work dir. */
const outDir = outDirs(() => work);
const manifestTag = (r: { method: string; url: string }) => (r.method === "GET" || r.method === "HEAD") && r.url.endsWith("/manifests/1");
const blobGet = (digest: string) => (r: Recorded | { method: string; url: string }) => r.method === "GET" && r.url.includes(`/blobs/${digest}`);

/** Library client with short timeouts and backoff (the CLI has no flag for them). */
function fastClient(extra: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  return new RegistryClient({ credentials: { username: CANARY_USER, password: CANARY_PASSWORD }, backoff: { baseMs: 20, maxMs: 100 }, retries: 3, ...extra });
}

test("connection refused: gives up after the retries, saying how many; nothing written", async () => {
  await table.case("connection refused (copy to a new oci:DIR, --retries 1)", "exit 1 naming ECONNREFUSED; no image, no blob, no temp", async () => {
    const port = await freePort();
    const out = join(outDir(), "new-layout");
    const r = await cli(env, ["copy", "--retries", "1", `127.0.0.1:${port}/a/b:1`, `oci:${out}:b`]);
    const o = failsWith(r, 1, /refused|ECONNREFUSED/i);
    await assertNoTemp(out);
    // the layout sink initialises an EMPTY layout on open (see /work/notes/faults-patches.md #6)
    if (existsSync(out)) {
      assert.deepEqual(JSON.parse(await readFile(join(out, "index.json"), "utf8")).manifests, []);
      assert.deepEqual(await listTree(join(out, "blobs")), []);
    }
    await assertTmpClean(env);
    return o;
  });
});

test("a reset mid-blob resumes with Range; the pulled archive is complete", async () => {
  await table.case("reset at 50% of a 3 MiB layer download (pull)", "exit 0, resumed with Range, archive validates", async () => {
    fp.clear();
    fp.add({ match: blobGet(big().digest), times: 1, action: { kind: "reset", atBytes: (len) => Math.floor(len / 2) } });
    const out = outDir();
    const r = await cli(env, ["pull", "--retries", "2", `${fp.host}/src/app:1`, join(out, "img.tar")]);
    const o = ok(r);
    const gets = fp.log.filter(blobGet(big().digest));
    assert.equal(gets.length, 2, "one resumed GET");
    assert.match(String(gets[1]!.headers.range), /^bytes=[1-9]\d*-/);
    await assertOnly(out, ["img.tar"]);
    ok(await cli(env, ["validate", `docker-archive:${join(out, "img.tar")}`]));
    await assertTmpClean(env);
    return `${o}; 2nd GET ${gets[1]!.headers.range}`;
  });
});

test("a reset mid-upload restarts the upload; the destination is complete", async () => {
  await table.case("connection cut after 1 MiB of a 3 MiB upload (copy)", "exit 0, upload restarted, tag complete", async () => {
    tap.clear();
    const isBigBody = (r: { method: string; headers: Record<string, unknown> }) =>
      (r.method === "PATCH" || r.method === "PUT") && Number(r.headers["content-length"] ?? 0) > 2_000_000;
    const rule = tap.add({ match: (r) => isBigBody(r), times: 1, action: { kind: "cutUpload", atBytes: 1024 * 1024 } });
    const r = await cli(env, ["copy", "--retries", "2", src(), `${tap.host}/dst/upload:1`]);
    const o = ok(r);
    assert.equal(rule.hits, 1);
    assert.equal(tap.log.filter((x) => isBigBody(x)).length, 2, "the big blob was sent twice");
    assert.equal(await tagState(reg.host, "dst/upload", "1"), `complete:${img.manifestDesc.digest}`);
    return `${o}; big body sent 2x`;
  });
});

test("a stall with no bytes times out and is retried (library: headersTimeout 400 ms)", async () => {
  await table.case("manifest GET answered after 3 s (no bytes), headersTimeout 400 ms", "success after retry, well before 3 s", async () => {
    fp.clear();
    fp.add({ match: manifestTag, times: 1, action: { kind: "delay", ms: 3000 } });
    const c = fastClient({ headersTimeout: 400, bodyTimeout: 400 });
    const out = outDir();
    const t0 = Date.now();
    try {
      await copy({ client: c }, `${fp.host}/src/app:1`, `oci:${out}:x`);
    } finally {
      await c.close();
    }
    const ms = Date.now() - t0;
    assert.ok(ms < 2900, `took ${ms} ms`);
    assert.ok(c.stats.retries >= 1);
    await assertNoTemp(out);
    return `ok in ${ms} ms, ${c.stats.retries} retry`;
  });
  await table.case("body stalls after 1 MiB (socket open), bodyTimeout 400 ms", "resumed with Range, complete", async () => {
    fp.clear();
    fp.add({ match: blobGet(big().digest), times: 1, action: { kind: "stall", atBytes: 1024 * 1024 } });
    const c = fastClient({ bodyTimeout: 400 });
    const out = outDir();
    try {
      await copy({ client: c }, `${fp.host}/src/app:1`, `oci:${out}:x`);
    } finally {
      await c.close();
    }
    assert.equal(c.stats.resumes, 1);
    const gets = fp.log.filter(blobGet(big().digest));
    assert.match(String(gets[1]?.headers.range), /^bytes=\d+-/);
    await assertNoTemp(out);
    return `ok, resumed at ${gets[1]!.headers.range}`;
  });
});

test("--timeout shortens the wait for a silent registry; a bad value is a usage error", async () => {
  await table.case("manifest HEAD and GET answered after 10 s (no bytes), CLI --timeout 500ms --retries 0", "exit 1 naming the timeout, long before 10 s", async () => {
    fp.clear();
    fp.add({ match: manifestTag, times: 2, action: { kind: "delay", ms: 10_000 } }); // a HEAD, then the GET tcrane falls back to
    const out = outDir();
    const r = await cli(env, ["copy", "--timeout", "500ms", "--retries", "0", `${fp.host}/src/app:1`, `oci:${out}:x`]);
    const o = failsWith(r, 1, /timed out waiting for the response \(--timeout/);
    assert.ok(r.ms < 8000, `took ${r.ms} ms`);
    assert.deepEqual(await listTree(out), []);
    return `${o} (${r.ms} ms)`;
  });
  await table.case("--timeout abc", "exit 2 naming the flag", async () => {
    const r = await cli(env, ["digest", "--timeout", "abc", src()]);
    return failsWith(r, 2, /--timeout: "abc" is not a duration/);
  });
  fp.clear();
  // the parser alone: Go-style durations or plain seconds
  assert.equal(parseDuration("timeout", "500ms"), 500);
  assert.equal(parseDuration("timeout", "1m30s"), 90_000);
  assert.equal(parseDuration("timeout", "2"), 2000);
  assert.equal(parseDuration("timeout", "1.5h"), 5_400_000);
  for (const bad of ["0s", "5 minutes", "-1s", "", "10x"]) assert.throws(() => parseDuration("timeout", bad), code("USAGE"), bad);
});

test("a slow trickle completes (each gap shorter than the body timeout, the whole longer)", async () => {
  await table.case("3 MiB layer trickled 128 KiB / 40 ms, bodyTimeout 400 ms", "completes without a retry", async () => {
    tap.clear();
    tap.add({ match: blobGet(big().digest), times: 1, action: { kind: "trickle", chunk: 128 * 1024, everyMs: 40 } });
    const c = fastClient({ bodyTimeout: 400 });
    const out = outDir();
    const t0 = Date.now();
    try {
      await copy({ client: c }, `${tap.host}/src/app:1`, `oci:${out}:x`);
    } finally {
      await c.close();
    }
    const ms = Date.now() - t0;
    assert.ok(ms > 400, `the trickle should outlast one body timeout (${ms} ms)`);
    assert.equal(c.stats.retries, 0);
    assert.equal(c.stats.resumes, 0);
    await assertNoTemp(out);
    return `ok in ${ms} ms, 0 retries`;
  });
});

test("429 with Retry-After (seconds, HTTP date) waits and succeeds", async () => {
  for (const [label, value, min] of [
    ["seconds", () => "1", 950],
    ["HTTP date", () => new Date(Date.now() + 2000).toUTCString(), 900],
  ] as const) {
    await table.case(`429 Retry-After as ${label} on the manifest GET`, "waits, then exit 0", async () => {
      fp.clear();
      fp.add({ match: manifestTag, times: 1, action: { kind: "status", status: 429, headers: { "retry-after": value() } } });
      const out = outDir();
      const r = await cli(env, ["copy", `${fp.host}/src/app:1`, `oci:${out}:x`]);
      const o = ok(r);
      assert.ok(r.ms >= min, `did not wait: ${r.ms} ms`);
      assert.equal(fp.log.filter((x) => x.status === 429).length, 1);
      await assertNoTemp(out);
      return o;
    });
  }
});

test("a 500/502/503 burst then OK", async () => {
  await table.case("500, 502, 503 on a blob GET, then 200 (--retries 4)", "exit 0 after 3 retries", async () => {
    fp.clear();
    for (const status of [500, 502, 503]) fp.add({ match: blobGet(small().digest), times: 1, action: { kind: "status", status } });
    const out = outDir();
    const r = await cli(env, ["copy", "--retries", "4", `${fp.host}/src/app:1`, `oci:${out}:x`]);
    const o = ok(r);
    assert.deepEqual(fp.log.filter(blobGet(small().digest)).map((x) => x.status), [500, 502, 503, 200]);
    ok(await cli(env, ["validate", `oci:${out}:x`]));
    await assertNoTemp(out);
    return o;
  });
});

test("a persistent 503 gives up after N tries, saying how many; no tag pushed", async () => {
  await table.case("503 on every manifest PUT (--retries 2)", "exit 1, 'gave up after 3 tries', tag absent", async () => {
    fp.clear();
    fp.add({ match: (r) => r.method === "PUT" && r.url.includes("/manifests/"), action: { kind: "status", status: 503, body: "unavailable" } });
    const r = await cli(env, ["copy", "--retries", "2", src(), `${fp.host}/dst/p503:1`]);
    const o = failsWith(r, 1, /503|unavailable/i);
    assert.match(r.stderr, /gave up after 3 tries/);
    assert.equal(fp.log.filter((x) => x.method === "PUT" && x.url.includes("/manifests/")).length, 3);
    assert.equal(await tagState(reg.host, "dst/p503", "1"), "absent");
    await assertTmpClean(env);
    return o;
  });
});

test("the registry killed and restarted mid-copy: the run fails cleanly, a re-run completes skipping what is there", async () => {
  const layout = join(work.dir, "kill-layout");
  const kimg = await makeImage({ layers: [8 * 1024 * 1024, 100 * 1024] });
  await writeLayout(layout, [{ node: kimg, ref: "k" }], { indexMediaType: false });
  const isBig = (r: { method: string; headers: Record<string, unknown> }) =>
    (r.method === "PATCH" || r.method === "PUT") && Number(r.headers["content-length"] ?? 0) > 4_000_000;
  await table.case("registry killed while an 8 MiB upload is in flight (push, --retries 0)", "exit 1, one line, tag absent", async () => {
    tap.clear();
    let held = false;
    tap.add({ match: (r) => isBig(r), times: 1, action: { kind: "watchUpload", fn: (b) => (b >= 2 * 1024 * 1024 ? (held = true) : false) } });
    const running = cli(env, ["push", "--retries", "0", `oci:${layout}:k`, `${tap.host}/dst/killed:1`]);
    // wait until the small blobs are stored and the big one is held mid-body, then kill the registry
    await waitFor(() => held && tap.log.filter((x) => x.method === "PUT" && x.url.includes("digest=") && x.status === 201).length >= 2, 15_000, "uploads");
    await reg.restart();
    const r = await running;
    const o = failsWith(r, 1);
    assert.equal(await tagState(reg.host, "dst/killed", "1"), "absent");
    await assertTmpClean(env);
    return o;
  });
  await table.case("re-run after the restart", "exit 0, only the missing blob uploaded, tag complete", async () => {
    tap.clear();
    const r = await cli(env, ["push", `oci:${layout}:k`, `${tap.host}/dst/killed:1`]);
    const o = ok(r);
    const uploads = tap.log.filter((x) => x.method === "PUT" && x.url.includes("digest="));
    assert.equal(uploads.length, 1, "only the big blob is uploaded again");
    assert.ok(uploads[0]!.url.includes(encodeURIComponent(kimg.layers[0]!.desc.digest)) || uploads[0]!.url.includes(kimg.layers[0]!.desc.digest));
    assert.equal(await tagState(reg.host, "dst/killed", "1"), `complete:${kimg.manifestDesc.digest}`);
    return `${o}; 1 of 3 blobs re-uploaded`;
  });
});

test("the source is untouched after every fault above", async () => {
  await table.case("source src/app:1 after all network faults", "complete, same digest", async () => {
    assert.equal(await tagState(reg.host, "src/app", "1"), `complete:${img.manifestDesc.digest}`);
    return "complete, same digest";
  });
});
