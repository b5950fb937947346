/**
 * The mirroring scenarios of `npm run bench`: a fleet of source repositories × tags whose images
 * share a 2-layer base plus one own layer each, on the real registry, mirrored by `tcrane mirror SPEC`
 * and by `skopeo sync --src yaml --dest docker` with the same selection:
 *
 * - mirror-cold: into an empty registry (target: tcrane ≤ 0.5 × skopeo);
 * - mirror-rerun: the same again, nothing changed (target ≤ 0.1 × skopeo, and at most 2 requests
 *   per tag on each registry, counted in the registries' access logs);
 * - mirror-shards: `--shard 0/2` and `--shard 1/2` started at once, against one tcrane process
 *   (target: wall ≤ 0.6 ×), and nothing copied twice (each manifest PUT once);
 * - mirror-fanout: one spec entry per repository with `targets: [B, C]`: source blob GETs must be one
 *   per blob; skopeo has no fan-out, so its figure is two syncs, one per target.
 *
 * Every run goes into fresh repositories and is checked: every tag present with the source digest.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { request } from "undici";
import type { Distribution } from "../test/harness/distribution.js";
import { RegistryClient } from "../src/registry/client.js";
import { RegistryTarget } from "../src/transports/registry.js";
import { openOciLayoutSource } from "../src/transports/oci-layout.js";
import { copyDescriptor } from "../src/transfer/engine.js";
import { parseRepository } from "../src/reference/index.js";
import { layerTar, type ImageSpec } from "./bench-images.js";
import { measure, median, type Measurement } from "./bench-measure.js";

const MiB = 1 << 20;

/** The fleet's shape. */
export interface FleetSpec {
  repos: number;
  tags: number;
  /** Bytes of content of each of the 2 base layers and of each image's own layer. */
  baseSize: number;
  ownSize: number;
}

/** A generated fleet: an OCI layout holding every image (ref.name `rNN-tK`). */
export interface GeneratedFleet {
  spec: FleetSpec;
  layout: string;
  /** Manifest digest by `rNN:tK`. */
  digests: Record<string, string>;
  /** Every distinct blob (configs and layers). */
  blobs: number;
  /** Compressed bytes of every distinct blob. */
  bytes: number;
}

export const repoName = (i: number) => `r${String(i).padStart(2, "0")}`;
export const tagName = (k: number) => `t${k + 1}`;

async function gzLayer(layout: string, spec: ImageSpec, i: number): Promise<{ digest: string; size: number; diffId: string }> {
  const raw = createHash("sha256");
  const gz = createHash("sha256");
  let size = 0;
  const tmp = join(layout, "blobs", "sha256", `.tmp-${spec.name}-${i}`);
  const tapRaw = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      raw.update(c);
      yield c;
    }
  };
  const tapGz = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      gz.update(c);
      size += c.length;
      yield c;
    }
  };
  await pipeline(Readable.from(layerTar(spec, i)), tapRaw, createGzip({ level: 1 }), tapGz, createWriteStream(tmp));
  const digest = `sha256:${gz.digest("hex")}`;
  await rename(tmp, join(layout, "blobs", "sha256", digest.slice(7)));
  return { digest, size, diffId: `sha256:${raw.digest("hex")}` };
}

async function putJson(layout: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  await writeFile(join(layout, "blobs", "sha256", digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** Generate (or reuse) the fleet's OCI layout under `work`. */
export async function generateFleet(work: string, spec: FleetSpec, log: (s: string) => void): Promise<GeneratedFleet> {
  const layout = join(work, `fleet-${spec.repos}x${spec.tags}`);
  const marker = join(layout, "done.json");
  try {
    const done = JSON.parse(await readFile(marker, "utf8")) as GeneratedFleet;
    if (JSON.stringify(done.spec) === JSON.stringify(spec)) return done;
  } catch {
    /* not generated yet */
  }
  const t0 = Date.now();
  await rm(layout, { recursive: true, force: true });
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
  const baseSpec: ImageSpec = { name: "fleet-base", layers: 2, layerSize: spec.baseSize };
  const base = [await gzLayer(layout, baseSpec, 0), await gzLayer(layout, baseSpec, 1)];
  let bytes = base[0]!.size + base[1]!.size;
  let blobs = 2;
  const manifests: unknown[] = [];
  const digests: Record<string, string> = {};
  for (let r = 0; r < spec.repos; r++) {
    for (let k = 0; k < spec.tags; k++) {
      const name = `${repoName(r)}-${tagName(k)}`;
      const own = await gzLayer(layout, { name: `fleet-${name}`, layers: 1, layerSize: spec.ownSize }, 0);
      const layers = [...base, own];
      const config = await putJson(layout, {
        created: "2026-01-01T00:00:00Z",
        architecture: "amd64",
        os: "linux",
        config: { Cmd: ["/bin/true"], Labels: { "tcrane.bench": name } },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      });
      const m = await putJson(layout, {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: layers.map((l) => ({ mediaType: LAYER, digest: l.digest, size: l.size })),
      });
      bytes += own.size + config.size;
      blobs += 2;
      digests[`${repoName(r)}:${tagName(k)}`] = m.digest;
      manifests.push({ mediaType: "application/vnd.oci.image.manifest.v1+json", ...m, annotations: { "org.opencontainers.image.ref.name": name } });
    }
  }
  await writeFile(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  const out: GeneratedFleet = { spec, layout, digests, blobs, bytes };
  await writeFile(marker, JSON.stringify(out, null, 2));
  log(`generated the fleet: ${spec.repos} repositories × ${spec.tags} tags, ${blobs} blobs, ${(bytes / MiB).toFixed(1)} MiB, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

/** Push the fleet into `reg` under `bench/fleet/rNN:tK` (untimed). */
export async function seedFleet(fleet: GeneratedFleet, reg: Distribution): Promise<void> {
  const src = await openOciLayoutSource(fleet.layout);
  const client = new RegistryClient();
  try {
    const all = await src.list();
    const byRepo = new Map<string, Array<{ tag: string; desc: (typeof all)[number]["descriptor"] }>>();
    for (const e of all) {
      const [repo, tag] = e.names[0]!.split("-");
      if (!byRepo.has(repo!)) byRepo.set(repo!, []);
      byRepo.get(repo!)!.push({ tag: tag!, desc: e.descriptor });
    }
    // repositories 8 at once, the tags of one in turn
    const repos = [...byRepo.entries()];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let next = repos.shift(); next; next = repos.shift()) {
          const dst = new RegistryTarget(client, parseRepository(`${reg.host}/bench/fleet/${next[0]}`));
          for (const { tag, desc } of next[1]) await copyDescriptor(src, desc, dst, { tags: [tag] });
        }
      }),
    );
  } finally {
    await client.close();
  }
}

/** The tcrane spec: one entry per repository, explicit tags, into `targets` (REGISTRY/PREFIX each). */
export function tcraneSpec(fleet: GeneratedFleet, src: Distribution, targets: string[]): string {
  const lines = ["defaults: { imageJobs: 4 }", "mirrors:"];
  for (let r = 0; r < fleet.spec.repos; r++) {
    lines.push(`  - source: ${src.host}/bench/fleet/${repoName(r)}`);
    lines.push(targets.length === 1 ? `    target: ${targets[0]}` : `    targets: [${targets.join(", ")}]`);
    lines.push(`    tags: [${Array.from({ length: fleet.spec.tags }, (_, k) => `"${tagName(k)}"`).join(", ")}]`);
  }
  return lines.join("\n") + "\n";
}

/** The same selection as a `skopeo sync --src yaml` file. */
export function skopeoSyncYaml(fleet: GeneratedFleet, src: Distribution): string {
  const lines = [`${src.host}:`, "  tls-verify: false", "  images:"];
  for (let r = 0; r < fleet.spec.repos; r++) {
    lines.push(`    bench/fleet/${repoName(r)}: [${Array.from({ length: fleet.spec.tags }, (_, k) => `"${tagName(k)}"`).join(", ")}]`);
  }
  return lines.join("\n") + "\n";
}

/** Requests a registry logged from byte offset `since`, by method. */
function logged(reg: Distribution, since: number): { total: number; byMethod: Record<string, number>; blobGets: Map<string, number>; manifestPuts: Map<string, number> } {
  const byMethod: Record<string, number> = {};
  const blobGets = new Map<string, number>();
  const manifestPuts = new Map<string, number>();
  let total = 0;
  for (const m of reg.logs().slice(since).matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\/v2\/[^ "]*) HTTP/g)) {
    total++;
    byMethod[m[1]!] = (byMethod[m[1]!] ?? 0) + 1;
    const blob = m[1] === "GET" ? /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(m[2]!) : null;
    if (blob) blobGets.set(blob[1]!, (blobGets.get(blob[1]!) ?? 0) + 1);
    const put = m[1] === "PUT" ? /^\/v2\/(.+)\/manifests\/([^?]+)$/.exec(m[2]!) : null;
    if (put) manifestPuts.set(`${put[1]}:${put[2]}`, (manifestPuts.get(`${put[1]}:${put[2]}`) ?? 0) + 1);
  }
  return { total, byMethod, blobGets, manifestPuts };
}

async function headDigest(reg: Distribution, repo: string, tag: string): Promise<string | undefined> {
  const r = await request(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
  });
  await r.body.dump();
  return r.statusCode === 200 ? String(r.headers["docker-content-digest"]) : undefined;
}

/** Every tag under `prefix` in `reg` with the source digest; the number that are not. */
async function check(fleet: GeneratedFleet, reg: Distribution, repoOf: (r: string) => string): Promise<number> {
  let wrong = 0;
  for (const [ref, digest] of Object.entries(fleet.digests)) {
    const [r, t] = ref.split(":");
    if ((await headDigest(reg, repoOf(r!), t!)) !== digest) wrong++;
  }
  return wrong;
}

/** One measured run of a mirror scenario. */
export interface MirrorSample {
  tool: "tcrane" | "skopeo";
  rep: number;
  seconds: number;
  cpuSeconds: number;
  rssMiB: number;
  /** Requests per tag seen by the source and the destination registry(ies). */
  sourceRequestsPerTag?: number;
  destRequestsPerTag?: number;
  /** Source blob GETs, and the distinct blobs fetched. */
  sourceBlobGets?: number;
  /** Manifest PUTs at the destination(s) and the most PUTs of one manifest. */
  manifestPuts?: number;
  maxPutsPerManifest?: number;
  /** Tags not present with the source digest. */
  wrong: number;
  /** Shards: images each shard copied (the split depends on the keys, registry host:port included). */
  split?: number[];
}

/** Per mirror scenario: the medians, the ratio against the reference and the verdict. */
export interface MirrorSummary {
  id: string;
  title: string;
  /** What the tcrane figure is compared with. */
  reference: string;
  target?: number;
  samples: MirrorSample[];
  tcraneSeconds?: number;
  referenceSeconds?: number;
  ratio?: number;
  met?: boolean;
  /** Other checks: text and whether they held. */
  checks: Array<{ what: string; ok: boolean }>;
}

/** Settings the bench passes in. */
export interface MirrorBenchContext {
  tcrane: string;
  tcraneArgs: string[];
  reps: number;
  only?: Set<string>;
  work: string;
  /** Called before every timed run (sync and settle; skopeo's cache removed). */
  beforeRun: (tool: "tcrane" | "skopeo") => Promise<void>;
  log: (s: string) => void;
}

export const MIRROR_IDS = ["mirror-cold", "mirror-rerun", "mirror-shards", "mirror-fanout"];

/** Run the selected mirror scenarios against registries a (source), b and c (targets). */
export async function runMirrorBench(ctx: MirrorBenchContext, fleet: GeneratedFleet, a: Distribution, b: Distribution, c: Distribution, onRow: (rows: MirrorSummary[]) => Promise<void>): Promise<MirrorSummary[]> {
  const want = (id: string) => !ctx.only || ctx.only.has(id) || ctx.only.has("mirror");
  const tags = fleet.spec.repos * fleet.spec.tags;
  const dir = join(ctx.work, "mirror-specs");
  await mkdir(dir, { recursive: true });
  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const syncYaml = await file("sync.yaml", skopeoSyncYaml(fleet, a));
  const tcraneCmd = (spec: string, extra: string[] = []): [string, string[]] => [process.execPath, [ctx.tcrane, "mirror", spec, "--progress", "none", ...extra, ...ctx.tcraneArgs]];
  const skopeoCmd = (dest: string): [string, string[]] => ["skopeo", ["sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false", syncYaml, dest]];
  // where each tool puts repository rNN under a prefix: tcrane keeps the path, skopeo only the last part
  const tcraneRepo = (prefix: string) => (r: string) => `${prefix}/bench/fleet/${r}`;
  const skopeoRepo = (prefix: string) => (r: string) => `${prefix}/${r}`;

  const timed = async (tool: "tcrane" | "skopeo", cmd: [string, string[]]): Promise<Measurement> => {
    await ctx.beforeRun(tool);
    const m = await measure(cmd[0], cmd[1]);
    if (m.code !== 0) throw new Error(`${tool} exited ${m.code}: ${cmd[0]} ${cmd[1].join(" ")}\n${m.stderr.slice(-2000)}`);
    return m;
  };
  const sample = (tool: "tcrane" | "skopeo", rep: number, m: Pick<Measurement, "seconds" | "cpuSeconds" | "rssMiB">, extra: Partial<MirrorSample> & { wrong: number }): MirrorSample => ({
    tool,
    rep,
    seconds: m.seconds,
    cpuSeconds: m.cpuSeconds,
    rssMiB: Math.round(m.rssMiB * 10) / 10,
    ...extra,
  });
  const note = (id: string, s: MirrorSample) =>
    ctx.log(`${id} ${s.tool} #${s.rep + 1}: ${s.seconds.toFixed(2)} s (cpu ${s.cpuSeconds.toFixed(2)} s), ${s.rssMiB} MiB${s.sourceRequestsPerTag !== undefined ? `, requests/tag src ${s.sourceRequestsPerTag.toFixed(2)} dst ${s.destRequestsPerTag?.toFixed(2)}` : ""}${s.sourceBlobGets !== undefined ? `, source blob GETs ${s.sourceBlobGets}` : ""}${s.split ? `, split ${s.split.join("/")}` : ""}${s.wrong ? `, ${s.wrong} WRONG` : ""} (load ${loadavg()[0]!.toFixed(2)})`);

  const cold: MirrorSample[] = [];
  const rerun: MirrorSample[] = [];
  const rows: MirrorSummary[] = [];
  const summarize = (id: string, title: string, reference: string, target: number | undefined, samples: MirrorSample[], ref: MirrorSample[], checks: MirrorSummary["checks"]): MirrorSummary => {
    const t = samples.filter((s) => s.tool === "tcrane").map((s) => s.seconds);
    const r = ref.map((s) => s.seconds);
    const row: MirrorSummary = { id, title, reference, target, samples, checks, tcraneSeconds: t.length ? median(t) : undefined, referenceSeconds: r.length ? median(r) : undefined };
    if (row.tcraneSeconds !== undefined && row.referenceSeconds) {
      row.ratio = Math.round((row.tcraneSeconds / row.referenceSeconds) * 1000) / 1000;
      if (target !== undefined) row.met = row.ratio <= target;
    }
    return row;
  };

  const needCold = want("mirror-cold") || want("mirror-rerun") || want("mirror-shards");
  if (needCold) {
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const tool of ["tcrane", "skopeo"] as const) {
        const prefix = `${b.host}/mc-${tool}-${rep}`;
        const cmd = tool === "tcrane" ? tcraneCmd(await file(`cold-${rep}.yaml`, tcraneSpec(fleet, a, [prefix]))) : skopeoCmd(prefix);
        const repoOf = tool === "tcrane" ? tcraneRepo(`mc-${tool}-${rep}`) : skopeoRepo(`mc-${tool}-${rep}`);
        const m0 = { a: a.logs().length, b: b.logs().length };
        const m = await timed(tool, cmd);
        const puts = logged(b, m0.b).manifestPuts;
        const s = sample(tool, rep, m, { wrong: await check(fleet, b, repoOf), manifestPuts: [...puts.values()].reduce((x, y) => x + y, 0), maxPutsPerManifest: Math.max(0, ...puts.values()), sourceBlobGets: [...logged(a, m0.a).blobGets.values()].reduce((x, y) => x + y, 0) });
        cold.push(s);
        note("mirror-cold", s);
        if (tool === "tcrane" && s.wrong) throw new Error(`mirror-cold: ${s.wrong} tags missing or wrong after tcrane`);
        if (want("mirror-rerun")) {
          const r0 = { a: a.logs().length, b: b.logs().length };
          const mr = await timed(tool, cmd);
          // (the logs are read before check() adds its own HEADs)
          const perTag = { src: logged(a, r0.a).total / tags, dst: logged(b, r0.b).total / tags };
          const s2 = sample(tool, rep, mr, { sourceRequestsPerTag: perTag.src, destRequestsPerTag: perTag.dst, wrong: await check(fleet, b, repoOf) });
          rerun.push(s2);
          note("mirror-rerun", s2);
        }
      }
    }
    const t = (xs: MirrorSample[]) => xs.filter((x) => x.tool === "tcrane");
    const sk = (xs: MirrorSample[]) => xs.filter((x) => x.tool === "skopeo");
    if (want("mirror-cold")) {
      rows.push(
        summarize("mirror-cold", `cold mirror, ${fleet.spec.repos} repos × ${fleet.spec.tags} tags`, "skopeo sync", 0.5, cold, sk(cold), [
          { what: "every tag present with the source digest (tcrane)", ok: t(cold).every((x) => x.wrong === 0) },
          { what: "each manifest PUT once (tcrane)", ok: t(cold).every((x) => x.maxPutsPerManifest === 1) },
        ]),
      );
      await onRow(rows);
    }
    if (want("mirror-rerun")) {
      const worst = Math.max(...t(rerun).map((x) => Math.max(x.sourceRequestsPerTag!, x.destRequestsPerTag!)));
      rows.push(summarize("mirror-rerun", "re-run of the unchanged mirror", "skopeo sync", 0.1, rerun, sk(rerun), [{ what: `at most 2 requests per tag on each registry (tcrane: ${worst.toFixed(2)})`, ok: worst <= 2 }]));
      await onRow(rows);
    }
  }

  if (want("mirror-shards")) {
    const samples: MirrorSample[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const prefix = `${b.host}/ms-${rep}`;
      const spec = await file(`shards-${rep}.yaml`, tcraneSpec(fleet, a, [prefix]));
      await ctx.beforeRun("tcrane");
      const m0 = b.logs().length;
      const t0 = Date.now();
      const ms = await Promise.all([0, 1].map((i) => measure(...tcraneCmd(spec, ["--shard", `${i}/2`, "--json"]))));
      const wall = (Date.now() - t0) / 1000;
      for (const m of ms) if (m.code !== 0) throw new Error(`mirror-shards: tcrane exited ${m.code}: ${m.stderr.slice(-2000)}`);
      const split = ms.map((m) => (JSON.parse(m.stdout) as { copied: number }).copied);
      const puts = logged(b, m0).manifestPuts;
      const s = sample("tcrane", rep, { seconds: wall, cpuSeconds: ms[0]!.cpuSeconds + ms[1]!.cpuSeconds, rssMiB: Math.max(ms[0]!.rssMiB, ms[1]!.rssMiB) }, { split, wrong: await check(fleet, b, tcraneRepo(`ms-${rep}`)), manifestPuts: [...puts.values()].reduce((x, y) => x + y, 0), maxPutsPerManifest: Math.max(0, ...puts.values()) });
      samples.push(s);
      note("mirror-shards", s);
    }
    rows.push(
      summarize("mirror-shards", "2 shards at once (wall)", "one tcrane process (mirror-cold)", 0.6, samples, cold.filter((x) => x.tool === "tcrane"), [
        { what: "every tag present with the source digest", ok: samples.every((x) => x.wrong === 0) },
        { what: `nothing copied twice: ${tags} manifest PUTs, each once`, ok: samples.every((x) => x.manifestPuts === tags && x.maxPutsPerManifest === 1) },
        { what: `split between the shards (images): ${samples.map((x) => x.split!.join("/")).join(", ")}`, ok: samples.every((x) => x.split!.reduce((p, q) => p + q, 0) === tags) },
      ]),
    );
    await onRow(rows);
  }

  if (want("mirror-fanout")) {
    const samples: MirrorSample[] = [];
    const ref: MirrorSample[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const targets = [`${b.host}/mf-${rep}`, `${c.host}/mf-${rep}`];
      const spec = await file(`fanout-${rep}.yaml`, tcraneSpec(fleet, a, targets));
      const m0 = a.logs().length;
      const m = await timed("tcrane", tcraneCmd(spec));
      const gets = logged(a, m0).blobGets;
      const wrong = (await check(fleet, b, tcraneRepo(`mf-${rep}`))) + (await check(fleet, c, tcraneRepo(`mf-${rep}`)));
      const s = sample("tcrane", rep, m, { wrong, sourceBlobGets: [...gets.values()].reduce((x, y) => x + y, 0) });
      samples.push(s);
      note("mirror-fanout", s);
      if (wrong) throw new Error(`mirror-fanout: ${wrong} tags missing or wrong after tcrane`);
      // skopeo: one sync per target, one after the other
      const k0 = a.logs().length;
      const m1 = await timed("skopeo", skopeoCmd(`${b.host}/mfs-${rep}`));
      const m2 = await timed("skopeo", skopeoCmd(`${c.host}/mfs-${rep}`));
      const kg = logged(a, k0).blobGets;
      const s2 = sample("skopeo", rep, { seconds: m1.seconds + m2.seconds, cpuSeconds: m1.cpuSeconds + m2.cpuSeconds, rssMiB: Math.max(m1.rssMiB, m2.rssMiB) }, { wrong: 0, sourceBlobGets: [...kg.values()].reduce((x, y) => x + y, 0) });
      ref.push(s2);
      note("mirror-fanout", s2);
    }
    rows.push(
      summarize("mirror-fanout", "fan-out to 2 targets", "skopeo sync once per target", undefined, samples, ref, [
        { what: `source blob GETs = one per blob (${fleet.blobs} blobs; tcrane: ${samples.map((x) => x.sourceBlobGets).join(", ")}; skopeo: ${ref.map((x) => x.sourceBlobGets).join(", ")})`, ok: samples.every((x) => x.sourceBlobGets === fleet.blobs) },
      ]),
    );
    await onRow(rows);
  }
  return rows;
}

const f = (n: number | undefined, d = 2) => (n === undefined ? "–" : n.toFixed(d));

/** The mirror results as markdown. */
export function mirrorTable(rows: MirrorSummary[]): string {
  const lines = ["| scenario | tcrane s | compared with | its s | ratio | target | met | checks |", "|---|---:|---|---:|---:|---:|:-:|---|"];
  for (const r of rows) {
    const met = r.met === undefined ? "" : r.met ? "yes" : "**no**";
    const checks = r.checks.map((c) => `${c.ok ? "✓" : "✗"} ${c.what}`).join("; ");
    lines.push(`| ${r.title} | ${f(r.tcraneSeconds)} | ${r.reference} | ${f(r.referenceSeconds)} | ${f(r.ratio)} | ${r.target === undefined ? "" : `≤ ${r.target}`} | ${met} | ${checks} |`);
  }
  return lines.join("\n");
}
