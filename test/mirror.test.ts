/**
 * `mirror` against the real distribution registry: filters select exactly the expected tags with
 * equal digests, a re-run makes only HEAD requests (and the tag listing), platforms, referrers and
 * cosign tags, abort + resume, and the CLI's --dry-run / --keep-going / --json / spec errors.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { tcrane, tempDir } from "./harness/tools.js";
import { MemoryStore } from "./helpers/memory.js";
import { makeIndex, randomImage } from "./fixtures/images.js";
import { RegistryClient } from "../src/registry/client.js";
import { RegistryTarget } from "../src/transports/registry.js";
import { copyDescriptor, SMALL_PER_JOB } from "../src/transfer/engine.js";
import { parseRepository } from "../src/reference/index.js";
import { referrersTag } from "../src/registry/referrers.js";
import { mirror, parseSpec, selectImages, type MirrorReport } from "../src/mirror/index.js";
import type { Descriptor } from "../src/image/types.js";
import { summary } from "../cli/commands/mirror.js";

let reg: Distribution; // source
let dst: Distribution; // destination
let work: { dir: string; cleanup: () => Promise<void> };
let seed: RegistryClient;
const H = () => reg.host;
const D = () => dst.host;

const TAGS = ["0.9.0", "1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.2.1-rc1", "2.0.0", "2.0.1-rc1", "2.1.0", "v2.2.0", "3.0.0", "3.1.0", "3.19", "3.20", "10.0.0", "latest", "stable", "edge", "dev-abc", "2.1.0-rc2"];
const multi: { index?: Descriptor; arm64?: Descriptor } = {};
const signed: { image?: Descriptor; artifact?: Descriptor } = {};
const sharedLayer: { digest?: string } = {};
/** Images of exactly the layer sizes given, stable bytes (no created time, no nonce). */
const RAW = { created: null, nonce: false } as const;

/** Push `root` (built in `mem`) to repo:tag through the engine. */
async function put(mem: MemoryStore, root: Descriptor, repo: string, tag?: string): Promise<void> {
  await copyDescriptor(mem, root, new RegistryTarget(seed, parseRepository(`${H()}/${repo}`)), { tags: tag ? [tag] : [] });
}

before(async () => {
  [reg, dst] = await Promise.all([startDistribution(), startDistribution()]);
  work = await tempDir("tcrane-mirror-");
  seed = new RegistryClient();
  const mem = new MemoryStore();
  // 20 tags of src/app, each a distinct image
  await Promise.all(TAGS.map((t) => put(mem, mem.put(randomImage([16 * 1024, 16 * 1024], RAW)).manifestDesc, "src/app", t)));
  // a 3-platform index, and a BuildKit-style attestation manifest of the amd64 image (unknown/unknown)
  const [amd64, arm64, armv7] = ["linux/amd64", "linux/arm64", "linux/arm/v7"].map((platform) => randomImage([1024, 1024], { ...RAW, platform }));
  const attestation = randomImage([300], { ...RAW, platform: "unknown/unknown" });
  const annotations = { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd64!.manifestDesc.digest };
  multi.index = mem.put(makeIndex([amd64!, arm64!, armv7!, { node: attestation, annotations }])).manifestDesc;
  multi.arm64 = arm64!.manifestDesc;
  await put(mem, multi.index, "src/multi", "1");
  // a signed image: cosign-style .sig tag + an OCI referrer behind the referrers tag schema
  signed.image = mem.put(randomImage([1024, 1024], RAW)).manifestDesc;
  await put(mem, signed.image, "src/signed", "1.0");
  const stem = referrersTag(signed.image.digest);
  await put(mem, mem.put(randomImage([200], RAW)).manifestDesc, "src/signed", `${stem}.sig`);
  const cfg = mem.add(Buffer.from("{}"));
  const art = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.example.sbom",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: cfg, size: 2 },
      layers: [{ mediaType: "application/vnd.oci.empty.v1+json", digest: cfg, size: 2 }],
      subject: signed.image,
    }),
  );
  signed.artifact = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: mem.add(art), size: art.length, artifactType: "application/vnd.example.sbom" };
  await put(mem, signed.artifact, "src/signed");
  const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [signed.artifact] }));
  await put(mem, { mediaType: "application/vnd.oci.image.index.v1+json", digest: mem.add(idx), size: idx.length }, "src/signed", stem);
  // 6 images sharing a 512 KiB base layer, and one tiny image under 8 tags
  const baseLayer = [randomBytes(512 * 1024)];
  for (let i = 0; i < 6; i++) {
    const im = mem.put(randomImage([1000], { ...RAW, shared: baseLayer })); // 2 layers, the first shared
    sharedLayer.digest = im.layers[0]!.desc.digest;
    await put(mem, im.manifestDesc, "src/shared", `s${i}`);
  }
  const same = mem.put(randomImage([3, 3], RAW)).manifestDesc;
  for (let i = 0; i < 8; i++) await put(mem, same, "src/same", `t${i}`);
  // bigger images for the abort test
  await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => put(mem, mem.put(randomImage([384 * 1024, 384 * 1024, 384 * 1024], RAW)).manifestDesc, "src/big", `b${i}`)));
});
after(async () => {
  await seed?.close();
  await reg?.stop();
  await dst?.stop();
  await work?.cleanup();
});

/** Sorted tags of a destination repository. */
async function tagsOf(client: RegistryClient, repo: string): Promise<string[]> {
  return (await client.listTags(parseRepository(`${D()}/${repo}`))).sort();
}
/** Digest of ref in a destination (`dst/…`) or, with `src/…`, a source repository. */
async function digestOf(client: RegistryClient, repo: string, ref: string): Promise<string | undefined> {
  const host = repo.startsWith("src/") ? H() : D();
  return (await client.headManifest(parseRepository(`${host}/${repo}`), ref))?.digest;
}
const writes = (log: string) => (log.match(/"(PUT|POST|PATCH|DELETE) \/v2\//g) ?? []).length;

const filterSpec = () => `
defaults: { jobs: 4, imageJobs: 3 }
mirrors:
  - source: ${H()}/src/app
    repository: ${D()}/dst/regex
    include: ['\\d+\\.\\d+\\.\\d+']
    exclude: ['1\\..*']
  - source: ${H()}/src/app
    repository: ${D()}/dst/semver
    semver: ">=2.0.0 <10"
  - source: ${H()}/src/app
    repository: ${D()}/dst/newest
    allTags: true
    newest: 2
  - source: ${H()}/src/app
    target: ${D()}/mirror
    tags: [3.20, latest]
`;
const EXPECTED: Record<string, string[]> = {
  "dst/regex": ["0.9.0", "10.0.0", "2.0.0", "2.1.0", "3.0.0", "3.1.0"],
  "dst/semver": ["2.0.0", "2.1.0", "3.0.0", "3.1.0", "v2.2.0"],
  "dst/newest": ["10.0.0", "3.1.0"],
  "mirror/src/app": ["3.20", "latest"],
};

test("filters select exactly the expected tags, digests equal; the re-run makes only HEADs (+ one tag listing)", async () => {
  const spec = parseSpec(filterSpec(), "filters.yaml");
  const client = new RegistryClient();
  let report: MirrorReport;
  let inFlight = 0;
  let maxInFlight = 0;
  let imagesAtOnce = 0;
  let maxImages = 0;
  try {
    // -j 2 blobs shared by all images, 3 images at once
    report = await mirror(client, spec, {
      jobs: 2,
      onEvent: (e) => {
        if (e.type === "blob-start") maxInFlight = Math.max(maxInFlight, ++inFlight);
        if (e.type === "blob-done") inFlight--;
        if (e.type === "image-start") maxImages = Math.max(maxImages, ++imagesAtOnce);
        if (e.type === "image-done") imagesAtOnce--;
      },
    });
  } finally {
    await client.close();
  }
  // every blob here is small: one budget of jobs × SMALL_PER_JOB shared by all images (not one per image)
  assert.ok(maxInFlight <= 2 * SMALL_PER_JOB && maxInFlight > 0, `blobs in flight: ${maxInFlight}`);
  assert.ok(maxImages <= 3 && maxImages > 1, `images at once: ${maxImages}`);
  assert.equal(report.copied, 15, JSON.stringify(report.images.filter((i) => i.status !== "copied")));
  assert.equal(report.failed, 0);
  assert.ok(report.bytes > 15 * 16 * 1024, `bytes ${report.bytes}`);
  for (const [repo, tags] of Object.entries(EXPECTED)) {
    assert.deepEqual(await tagsOf(seed, repo), [...tags].sort(), repo);
    for (const t of tags) assert.equal(await digestOf(seed, repo, t), await digestOf(seed, "src/app", t), `${repo}:${t}`);
  }

  const logBefore = dst.logs().length;
  const requests: string[] = [];
  const again = new RegistryClient({ logger: (l) => l.startsWith("--> ") && requests.push(l.slice(4)) });
  let second: MirrorReport;
  try {
    second = await mirror(again, spec);
  } finally {
    await again.close();
  }
  assert.equal(second.upToDate, 15);
  assert.equal(second.copied, 0);
  assert.equal(second.bytes, 0);
  // besides the /v2/ pings: one HEAD per destination, one per source image (9 tags of src/app feed
  // the 15 destinations: an image planned for several destinations is resolved once) and the one
  // tag listing of src/app
  const work = requests.filter((r) => !/^GET \S+\/v2\/$/.test(r));
  const heads = work.filter((r) => r.startsWith("HEAD "));
  assert.equal(heads.filter((r) => r.includes(`//${D()}/`)).length, 15);
  assert.equal(heads.filter((r) => r.includes(`//${H()}/`)).length, new Set(Object.values(EXPECTED).flat()).size);
  assert.equal(heads.length, 15 + 9);
  assert.deepEqual(work.filter((r) => !r.startsWith("HEAD ")), [`GET http://${H()}/v2/src/app/tags/list?n=1000`]);
  assert.equal(again.stats.requests, requests.length);
  assert.deepEqual(Object.keys(again.stats.byMethod).sort(), ["GET", "HEAD"]);
  assert.equal(writes(dst.logs().slice(logBefore)), 0, "the destination saw no write");
});

test("selectImages lists the source references a spec selects", async () => {
  const client = new RegistryClient();
  try {
    const refs = await selectImages(parseSpec(filterSpec()), client);
    const want = new Set([...EXPECTED["dst/regex"]!, ...EXPECTED["dst/semver"]!, ...EXPECTED["dst/newest"]!, ...EXPECTED["mirror/src/app"]!].map((t) => `${H()}/src/app:${t}`));
    assert.deepEqual(new Set(refs), want);
    assert.equal(refs.length, want.size, "no duplicates");
  } finally {
    await client.close();
  }
});

test("platforms: one platform copies its image, two build a filtered index; re-run is up to date", async () => {
  const spec = parseSpec(`
mirrors:
  - source: ${H()}/src/multi:1
    repository: ${D()}/plat/one
    platforms: [linux/arm64]
  - source: ${H()}/src/multi:1
    repository: ${D()}/plat/two
    platforms: [linux/amd64, linux/arm/v7]
  - source: ${H()}/src/multi:1
    repository: ${D()}/plat/all
`);
  const client = new RegistryClient();
  try {
    const r = await mirror(client, spec);
    // one image per entry: the attestation in src/multi changes no count (it goes along inside the
    // whole index of plat/all, and is not one of plat/two's platforms)
    assert.equal(r.copied, 3);
    assert.equal(await digestOf(seed, "plat/one", "1"), multi.arm64!.digest);
    assert.equal(await digestOf(seed, "plat/all", "1"), multi.index!.digest);
    const two = await seed.getManifest(parseRepository(`${D()}/plat/two`), "1");
    const idx = JSON.parse(two.bytes.toString()) as { manifests: Array<{ platform: { architecture: string } }> };
    assert.deepEqual(idx.manifests.map((m) => m.platform.architecture), ["amd64", "arm"]);
    const again = await mirror(client, spec);
    assert.equal(again.upToDate, 3);
  } finally {
    await client.close();
  }
});

test("platforms: an attestation manifest is never chosen nor listed as available (unknown/unknown is not found)", async () => {
  const spec = parseSpec(`
mirrors:
  - source: ${H()}/src/multi:1
    repository: ${D()}/plat/attestation
    platforms: [unknown/unknown]
`);
  const client = new RegistryClient();
  try {
    const r = await mirror(client, spec, { keepGoing: true });
    assert.equal(r.failed, 1, JSON.stringify(r.images));
    assert.equal(r.copied, 0);
    const [img] = r.images;
    assert.equal(img?.status, "failed");
    assert.equal(img?.error?.code, "NOT_FOUND");
    const available = /available: (.*)$/.exec(img?.error?.message ?? "")?.[1];
    assert.equal(available, "linux/amd64, linux/arm64, linux/arm/v7", img?.error?.message);
    await assert.rejects(seed.listTags(parseRepository(`${D()}/plat/attestation`)), (e: unknown) => (e as { code?: string }).code === "NOT_FOUND");
  } finally {
    await client.close();
  }
});

test("referrers: true carries the cosign .sig tag, the referrers tag-schema index and the referrer by digest", async () => {
  const stem = referrersTag(signed.image!.digest);
  const spec = parseSpec(`
mirrors:
  - source: ${H()}/src/signed
    target: ${D()}/ref
    tags: ["1.0"]
    referrers: true
  - source: ${H()}/src/signed
    repository: ${D()}/noref/signed
    tags: ["1.0"]
`);
  const client = new RegistryClient();
  try {
    const r = await mirror(client, spec);
    assert.equal(r.failed, 0, JSON.stringify(r.images));
    assert.deepEqual(await tagsOf(seed, "ref/src/signed"), ["1.0", stem, `${stem}.sig`].sort());
    assert.equal(await digestOf(seed, "ref/src/signed", `${stem}.sig`), await digestOf(seed, "src/signed", `${stem}.sig`));
    assert.equal(await digestOf(seed, "ref/src/signed", signed.artifact!.digest), signed.artifact!.digest);
    assert.deepEqual(await tagsOf(seed, "noref/signed"), ["1.0"], "without referrers only the image");
    assert.deepEqual(
      r.images.filter((i) => i.entry === 0).map((i) => [i.kind, i.source, i.status]),
      [
        ["image", `${H()}/src/signed:1.0`, "copied"],
        ["referrer", `${H()}/src/signed:${stem}`, "copied"],
        ["referrer", `${H()}/src/signed:${stem}.sig`, "copied"],
        ["referrer", `${H()}/src/signed@${signed.artifact!.digest}`, "up-to-date"], // came with the tag-schema index
      ],
    );
  } finally {
    await client.close();
  }
});

test("a mirror aborted mid-run resumes: the re-run copies no blob twice and finishes", async () => {
  const spec = parseSpec(`
defaults: { jobs: 2, imageJobs: 2 }
mirrors:
  - source: ${H()}/src/big
    repository: ${D()}/dst/big
    allTags: true
`);
  const first = new Set<string>();
  const ac = new AbortController();
  const client = new RegistryClient();
  try {
    await assert.rejects(
      mirror(client, spec, {
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === "blob-done") {
            first.add(e.digest);
            if (first.size === 3) ac.abort(new Error("test abort"));
          }
        },
      }),
      (e: unknown) => (e as { code?: string }).code === "ABORTED",
    );
  } finally {
    await client.close();
  }
  const partial = await seed.listTags(parseRepository(`${D()}/dst/big`)).catch(() => [] as string[]);
  assert.ok(partial.length < 8, `aborted mid-run (${partial.length} tags arrived)`);
  const second = new Set<string>();
  const again = new RegistryClient();
  try {
    const r = await mirror(again, spec, { onEvent: (e) => e.type === "blob-done" && second.add(e.digest) });
    assert.equal(r.copied + r.upToDate, 8);
    assert.equal(r.upToDate, partial.length);
  } finally {
    await again.close();
  }
  for (const d of second) assert.ok(!first.has(d), `blob ${d} uploaded twice`);
  assert.deepEqual(await tagsOf(seed, "dst/big"), ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"]);
  for (let i = 0; i < 8; i++) assert.equal(await digestOf(seed, "dst/big", `b${i}`), await digestOf(seed, "src/big", `b${i}`));
});

test("concurrent images into one repository upload a shared layer once; one image under 8 tags copies cleanly", async () => {
  const client = new RegistryClient();
  try {
    let uploads = 0;
    const r = await mirror(client, parseSpec(`mirrors:\n  - source: ${H()}/src/shared\n    repository: ${D()}/shared/app\n    allTags: true\n`), {
      imageJobs: 6,
      jobs: 8,
      onEvent: (e) => e.type === "blob-done" && e.digest === sharedLayer.digest && uploads++,
    });
    assert.equal(r.copied, 6);
    assert.equal(uploads, 1, "the shared base layer is uploaded by one copy, the others wait for it");
    // the distribution registry fails manifest PUTs when the same blobs are committed twice at once
    // into one repository: 8 tags of one image, all at once, three times
    for (let round = 0; round < 3; round++) {
      const blobs: string[] = [];
      const s = await mirror(client, parseSpec(`mirrors:\n  - source: ${H()}/src/same\n    repository: ${D()}/same${round}/app\n    allTags: true\n`), {
        imageJobs: 8,
        jobs: 8,
        onEvent: (e) => e.type === "blob-done" && blobs.push(e.digest),
      });
      assert.equal(s.copied, 8, JSON.stringify(s.images.filter((i) => i.error)));
      assert.equal(blobs.length, 3, "config + 2 layers, once each");
      assert.equal(new Set(s.images.map((i) => i.digest)).size, 1);
    }
  } finally {
    await client.close();
  }
});

async function specFile(name: string, text: string): Promise<string> {
  const p = join(work.dir, name);
  await writeFile(p, text);
  return p;
}

test("CLI --dry-run prints the plan and writes nothing", async () => {
  const p = await specFile("dry.yaml", `mirrors:\n  - source: ${H()}/src/app\n    repository: ${D()}/dry/app\n    tags: ["1.0.0", "2.0.0"]\n  - source: ${H()}/src/app\n    repository: ${D()}/dst/newest\n    tags: ["10.0.0"]\n`);
  const before = dst.logs().length;
  const r = await tcrane(["mirror", "--dry-run", p]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.deepEqual(lines.map((l) => l.split(/\s{2,}|\s(?=\S+ -> )/)[0]!.trim()).sort(), ["copy", "copy", "up to date"].sort());
  assert.match(r.stdout, new RegExp(`copy\\s+${H()}/src/app:1\\.0\\.0 -> ${D()}/dry/app:1\\.0\\.0`));
  assert.match(r.stderr, /mirror \(dry run\): 2 to copy, 1 up to date, 0 failed/);
  assert.equal(writes(dst.logs().slice(before)), 0);
  await assert.rejects(seed.listTags(parseRepository(`${D()}/dry/app`)), (e: unknown) => (e as { code?: string }).code === "NOT_FOUND");
});

test("CLI --keep-going copies the rest past a missing image and exits 1; --json is the full report", async () => {
  const text = `mirrors:\n  - source: ${H()}/src/app\n    repository: ${D()}/kg/app\n    tags: ["1.0.0", "no-such-tag", "2.0.0"]\n`;
  const missingRepo = `  - source: ${H()}/src/none\n    repository: ${D()}/kg/none\n    allTags: true\n`;
  const p = await specFile("kg.yaml", text + missingRepo);
  const r = await tcrane(["mirror", "--keep-going", "--json", p]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stdout.trim().startsWith("{"), `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const report = JSON.parse(r.stdout) as MirrorReport;
  assert.equal(report.copied, 2);
  assert.equal(report.failed, 2);
  const bad = report.images.filter((i) => i.status === "failed").sort((a, b) => a.source.localeCompare(b.source));
  assert.deepEqual(bad.map((b) => [b.source, b.error?.code]), [[`${H()}/src/app:no-such-tag`, "NOT_FOUND"], [`${H()}/src/none`, "NOT_FOUND"]]);
  assert.match(r.stderr, /mirror: 2 copied, 0 up to date, 2 failed, [\d.]+ KiB in [\d.]+ s/);
  assert.match(r.stderr, /tcrane: .*kg\.yaml: 2 of 4 images failed/);
  assert.deepEqual(await tagsOf(seed, "kg/app"), ["1.0.0", "2.0.0"]);
  // without --keep-going the first failure stops the run with its own exit status (3: not found)
  const p2 = await specFile("kg2.yaml", text.replace("kg/app", "kg2/app"));
  const r2 = await tcrane(["mirror", "--image-jobs", "1", p2]);
  assert.equal(r2.code, 3, r2.stderr);
  assert.match(r2.stderr, /no-such-tag/);
});

test("CLI spec errors exit 2 and name file:line:col before any request", async () => {
  const p = await specFile("bad.yaml", `mirrors:\n  - source: ${H()}/src/app\n    repository: ${D()}/x/app\n    semver: ">=banana"\n`);
  const before = reg.logs().length + dst.logs().length;
  const r = await tcrane(["mirror", p]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `tcrane: ${p}:4:13: mirrors[0].semver: invalid range ">=banana"`);
  assert.equal(reg.logs().length + dst.logs().length, before, "no request reached a registry");
});

test("the source registries' pull limits (rateLimit(registry)) go into the report and summary", async () => {
  class HubLike extends RegistryClient {
    override rateLimit(registry: string) {
      return registry === H() ? { limit: 100, remaining: 42, windowSeconds: 21600 } : undefined;
    }
  }
  const client = new HubLike();
  try {
    const r = await mirror(client, parseSpec(`mirrors:\n  - source: ${H()}/src/app:stable\n    repository: ${D()}/rl/app\n`));
    assert.equal(r.copied, 1);
    assert.deepEqual(r.rateLimits, [{ registry: H(), limit: 100, remaining: 42, windowSeconds: 21600 }]);
    assert.match(summary(r), new RegExp(`^mirror: 1 copied, 0 up to date, 0 failed, .* s; ${H()} rate limit: 42/100 pulls left$`));
  } finally {
    await client.close();
  }
});
