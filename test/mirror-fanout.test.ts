/**
 * Fan-out: the tee (backpressure, a dropped branch, a source error), the FanoutSink under the one
 * engine (one read per blob, a failing target dropped while the others finish), and `targets: [..]`
 * against real registries: the source's access log shows each blob fetched once and each manifest
 * once, every target gets every tag with the source digest, a down target fails only its own items.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { freePort, tcrane, tempDir } from "./harness/tools.js";
import { MemoryStore } from "./helpers/memory.js";
import { randomImage } from "./fixtures/images.js";
import { assertMirrored, blobGets, manifestPuts, requests, seedFleet, type Fleet } from "./mirror-fleet.js";
import { RegistryClient } from "../src/registry/client.js";
import { parseRepository } from "../src/reference/index.js";
import { copyDescriptor } from "../src/transfer/engine.js";
import { FanoutSink, tee } from "../src/transports/fanout.js";
import { TcraneError } from "../src/errors.js";
import type { MirrorReport } from "../src/mirror/index.js";
import type { Descriptor } from "../src/image/types.js";
import type { PushOptions } from "../src/transports/types.js";

let src: Distribution;
let b: Distribution;
let c: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let fleet: Fleet;
const REPOS = ["team/a", "team/b", "team/c", "team/d"];
const TAGS = ["1", "2", "3"];

before(async () => {
  [src, b, c] = await Promise.all([startDistribution(), startDistribution(), startDistribution()]);
  work = await tempDir("tcrane-mirror-fanout-");
  fleet = await seedFleet(src, REPOS, TAGS, 64 * 1024);
});
after(async () => {
  await src?.stop();
  await b?.stop();
  await c?.stop();
  await work?.cleanup();
});

/** Collect a stream, reading slowly when `delayMs` is set. */
async function drain(s: Readable, delayMs = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    s,
    new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        if (delayMs) setTimeout(cb, delayMs);
        else cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

test("tee: every branch gets every byte, the slowest sets the pace, a dropped branch frees the rest, a source error reaches all", async () => {
  const data = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
  const whole = Buffer.concat(data);
  let maxAhead = 0;
  let pulled = 0;
  const src = new Readable({
    read() {
      pulled++;
      this.push(pulled <= data.length ? data[pulled - 1] : null);
    },
  });
  const [fast, slow, quitter] = tee(src, 3);
  let slowGot = 0;
  slow!.on("data", (d: Buffer) => (slowGot += d.length));
  const fastDone = drain(fast!);
  const slowDone = drain(slow!, 2);
  // the quitter reads a bit, then its consumer gives up
  quitter!.once("data", () => quitter!.destroy(new Error("target full")));
  const timer = setInterval(() => (maxAhead = Math.max(maxAhead, pulled * 16 * 1024 - slowGot)), 1);
  const [f, s] = await Promise.all([fastDone, slowDone]);
  clearInterval(timer);
  assert.ok(f.equals(whole) && s.equals(whole), "both live branches got every byte, in order");
  assert.ok(maxAhead < 8 * 16 * 1024 * 2, `the source waits for the slow branch (ahead by ${maxAhead} bytes)`);

  const failing = new PassThrough();
  const [x, y] = tee(failing, 2);
  failing.write(Buffer.from("abc"));
  setImmediate(() => failing.destroy(new Error("digest mismatch")));
  await assert.rejects(drain(x!), /digest mismatch/);
  await assert.rejects(drain(y!), /digest mismatch/);
});

/** A sink that fails every push after its first (a registry that filled up). */
class FillingUp extends MemoryStore {
  override async push(desc: Descriptor, stream: Readable, o?: PushOptions): Promise<void> {
    if (this.pushes.length >= 1) {
      stream.destroy();
      throw new TcraneError("DENIED", "quota exceeded", { what: this.description });
    }
    return super.push(desc, stream, o);
  }
}

test("FanoutSink under the engine: one fetch per blob, every target verified and complete, a failing target dropped", async () => {
  const mem = new MemoryStore("source");
  const img = mem.put(randomImage([200 * 1024, 200 * 1024, 200 * 1024, 200 * 1024], { created: null, nonce: false }));
  const blobs = [img.configDesc, ...img.layers.map((l) => l.desc)];
  const a = new MemoryStore("a");
  const full = new FillingUp("full");
  const z = new MemoryStore("z");
  const dropped: number[] = [];
  const fan = new FanoutSink([a, full, z], (i) => dropped.push(i));
  const r = await copyDescriptor(mem, img.manifestDesc, fan, { tags: ["v1"] });
  assert.equal(r.descriptor.digest, img.manifestDesc.digest);
  const want = blobs.map((d) => d.digest).sort();
  assert.deepEqual(mem.fetches.filter((d) => d !== img.manifestDesc.digest).sort(), want, "each blob fetched once");
  assert.equal(mem.fetches.filter((d) => d === img.manifestDesc.digest).length, 1, "the manifest fetched once");
  for (const t of [a, z]) {
    for (const d of [...want, img.manifestDesc.digest]) assert.ok(t.blobs.get(d)?.equals(mem.blobs.get(d)!), `${t.description} has ${d}`);
    assert.equal(t.tags.get("v1")?.digest, img.manifestDesc.digest);
  }
  assert.deepEqual(dropped, [1]);
  assert.match(fan.failures().get(1)!.message, /quota exceeded/);
  assert.equal(fan.written[0], fan.written[2]);
  assert.equal(fan.written[0], blobs.reduce((n, d) => n + d.size, 0));

  // a corrupt source blob reaches no target: every branch fails, the copy fails
  const bad = new MemoryStore("bad");
  const img2 = bad.put(randomImage([1000], { created: null, nonce: false }));
  const layer2 = img2.layers[0]!.desc;
  bad.corrupt.set(layer2.digest, Buffer.alloc(layer2.size));
  const p = new MemoryStore("p");
  const q = new MemoryStore("q");
  await assert.rejects(copyDescriptor(bad, img2.manifestDesc, new FanoutSink([p, q]), { tags: ["x"] }), /digest|size/i);
  assert.ok(!p.blobs.has(layer2.digest) && !q.blobs.has(layer2.digest), "no target stored the corrupt blob");
});

/** A sink that restarts every upload before reading it (a retried session): it reads the reopened source. */
class Restarter extends MemoryStore {
  override async push(desc: Descriptor, _first: Readable, o?: PushOptions): Promise<void> {
    return super.push(desc, await o!.reopen!(), o);
  }
}

test("a target that restarts its upload reads the source again for itself; the others are not held up", { timeout: 20_000 }, async () => {
  const mem = new MemoryStore("source");
  // layers bigger than a tee branch's buffer: a branch nobody reads would stop the source
  const img = mem.put(randomImage([512 * 1024, 512 * 1024], { created: null, nonce: false }));
  const layers = img.layers.map((l) => l.desc);
  const a = new MemoryStore("a");
  const r = new Restarter("restarter");
  await copyDescriptor(mem, img.manifestDesc, new FanoutSink([a, r]), { tags: ["v1"] });
  for (const t of [a, r]) for (const l of layers) assert.ok(t.blobs.get(l.digest)?.equals(mem.blobs.get(l.digest)!), `${t.description} has ${l.digest}`);
  for (const l of layers) assert.equal(mem.fetches.filter((d) => d === l.digest).length, 2, "one read for the tee, one for the restart");
});

async function specFile(name: string, text: string): Promise<string> {
  const p = join(work.dir, name);
  await writeFile(p, text);
  return p;
}
const spec = (targets: string[], prefix = "") =>
  `mirrors:\n` + REPOS.map((r) => `  - source: ${src.host}/${r}\n    targets: [${targets.map((t) => `"${t}${prefix}"`).join(", ")}]\n    allTags: true\n`).join("");

test("targets: [B, C]: each source blob and manifest fetched once, both targets complete, each manifest PUT once per target", async () => {
  const p = await specFile("fan.yaml", spec([`${b.host}/m`, `${c.host}/m`]));
  const mark = { src: src.logs().length, b: b.logs().length, c: c.logs().length };
  const r = await tcrane(["mirror", "--json", "--progress", "none", p]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as MirrorReport;
  assert.equal(report.copied, 2 * REPOS.length * TAGS.length);
  const srcReqs = requests(src, mark.src);
  const gets = blobGets(srcReqs);
  assert.deepEqual([...gets.keys()].sort(), [...fleet.blobs].sort(), "every blob fetched");
  for (const [d, n] of gets) assert.equal(n, 1, `${d} fetched ${n} times from the source`);
  const manifestGets = srcReqs.filter((x) => x.method === "GET" && x.path.includes("/manifests/"));
  assert.equal(manifestGets.length, REPOS.length * TAGS.length, "each manifest fetched once");
  for (const reg of [b, c]) await assertMirrored(fleet.digests, reg.host, "m");
  for (const [reg, since] of [[b, mark.b], [c, mark.c]] as const) {
    const reqs = requests(reg, since);
    const puts = manifestPuts(reqs);
    assert.equal(puts.size, REPOS.length * TAGS.length);
    for (const [k, n] of puts) assert.equal(n, 1, `${reg.host} ${k} PUT ${n} times`);
    // the shared base is uploaded into one repository and mounted into the others
    const mounts = reqs.filter((x) => x.method === "POST" && x.path.includes("mount=" + encodeURIComponent(fleet.baseLayers[0]!)) || (x.method === "POST" && x.path.includes(`mount=${fleet.baseLayers[0]}`)));
    assert.equal(mounts.length, REPOS.length - 1, `${reg.host}: base layer mounted into ${REPOS.length - 1} repositories`);
  }

  // a re-run: up to date, one HEAD per source image and one per target, no blob read
  const again = { src: src.logs().length };
  const r2 = await tcrane(["mirror", "--json", p]);
  assert.equal((JSON.parse(r2.stdout) as MirrorReport).upToDate, 2 * REPOS.length * TAGS.length);
  assert.equal(blobGets(requests(src, again.src)).size, 0);
});

test("a down target fails only its own items (--keep-going); the other target completes, the source is read once", async () => {
  const down = `127.0.0.1:${await freePort()}`;
  const p = await specFile("fan-down.yaml", spec([`${b.host}/k`, `${down}/k`]));
  const mark = src.logs().length;
  const r = await tcrane(["mirror", "--keep-going", "--json", "--retries", "0", "--progress", "none", p]);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as MirrorReport;
  const n = REPOS.length * TAGS.length;
  assert.equal(report.copied, n);
  assert.equal(report.failed, n);
  for (const i of report.images) {
    if (i.destination.startsWith(down)) assert.equal(i.status, "failed", i.destination);
    else assert.equal(i.status, "copied", i.destination);
  }
  assert.match(report.images.find((i) => i.status === "failed")!.error!.message, /connect|refused|ECONNREFUSED/i);
  for (const [d, k] of blobGets(requests(src, mark))) assert.equal(k, 1, `${d} fetched ${k} times`);
  await assertMirrored(fleet.digests, b.host, "k");
  assert.match(r.stderr, new RegExp(`mirror: ${n} copied, 0 up to date, ${n} failed`));
  // without --keep-going the first failure stops the run with its own status
  const stop = await tcrane(["mirror", "--retries", "0", "--progress", "none", await specFile("fan-down2.yaml", spec([`${b.host}/k2`, `${down}/k2`]))]);
  assert.notEqual(stop.code, 0);
  assert.match(stop.stderr, new RegExp(`tcrane: .*${down.replace(/\./g, "\\.")}`));
});
