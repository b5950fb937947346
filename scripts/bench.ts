/**
 * `npm run bench`: tcrane against skopeo on the same machine, the same real registry (CNCF
 * distribution, plain HTTP on loopback) and the same deterministic images. Every scenario runs
 * tcrane and skopeo alternately (A B A B …), each run into a fresh destination, skopeo's blob-info
 * cache deleted before each of its runs, wall time and peak RSS measured by /usr/bin/time.
 * The mirroring scenarios (scripts/bench-mirror.ts) compare `tcrane mirror` with `skopeo sync`.
 * Knobs: BENCH_SCALE, BENCH_REPS, BENCH_ONLY, BENCH_TOOLS, BENCH_TCRANE_ARGS, BENCH_TCRANE, BENCH_OUT,
 * BENCH_WORK, BENCH_MIRROR_REPOS, BENCH_MIRROR_TAGS (bench/README.md).
 */
import { spawnSync } from "node:child_process";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { startDistribution, type Distribution } from "../test/harness/distribution.js";
import { generateDockerArchive, generateLayout, type GeneratedImage } from "./bench-images.js";
import { checkTime, describeMachine, measure, median, type Machine } from "./bench-measure.js";
import { generateFleet, MIRROR_IDS, mirrorTable, runMirrorBench, seedFleet, type GeneratedFleet, type MirrorSummary } from "./bench-mirror.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI entry to measure; BENCH_TCRANE points at a snapshot when others rebuild dist/ meanwhile. */
const TCRANE = process.env.BENCH_TCRANE ?? join(ROOT, "bin", "tcrane.js");
const MiB = 1 << 20;

const SCALE = Number(process.env.BENCH_SCALE ?? "1");
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? "3"));
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((s) => s.trim())) : undefined;
const TOOLS = (process.env.BENCH_TOOLS ?? "tcrane,skopeo").split(",").map((s) => s.trim()) as Tool[];
/** Pause after the sync before each timed run (ms): the kernel's own follow-up work (freeing the previous run's deleted output) settles. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? "2000");
const TCRANE_ARGS = (process.env.BENCH_TCRANE_ARGS ?? "").split(/\s+/).filter(Boolean);
/** The mirror scenarios' fleet: repositories × tags (BENCH_MIRROR_REPOS, BENCH_MIRROR_TAGS). */
const MIRROR_REPOS = Math.max(1, Number(process.env.BENCH_MIRROR_REPOS ?? "30"));
const MIRROR_TAGS = Math.max(1, Number(process.env.BENCH_MIRROR_TAGS ?? "3"));
const WORK = process.env.BENCH_WORK ?? join(ROOT, "bench", "work", `scale-${SCALE}`);
const OUT = process.env.BENCH_OUT ?? join(ROOT, "bench", "results", SCALE === 1 && !ONLY ? "latest" : `scale-${SCALE}${ONLY ? "-partial" : ""}`);
/** Where skopeo (root: /var/lib, user: ~/.local/share) keeps its blob-info cache. */
const SKOPEO_CACHES = ["/var/lib/containers/cache/blob-info-cache-v1.boltdb", join(process.env.HOME ?? "/root", ".local/share/containers/cache/blob-info-cache-v1.boltdb")];

type Tool = "tcrane" | "skopeo";

/** An image location, written per tool. */
type Place =
  | { kind: "registry"; reg: Distribution; repo: string; tag: string }
  | { kind: "oci"; path: string; name: string }
  | { kind: "docker-archive"; path: string; ref?: string }
  | { kind: "oci-archive"; path: string; name: string };

function placeArg(tool: Tool, p: Place): string {
  switch (p.kind) {
    case "registry":
      return `${tool === "skopeo" ? "docker://" : ""}${p.reg.host}/${p.repo}:${p.tag}`;
    case "oci":
      return `oci:${p.path}:${p.name}`;
    case "docker-archive":
      return `docker-archive:${p.path}${p.ref ? `:${p.ref}` : ""}`;
    case "oci-archive":
      return `oci-archive:${p.path}:${p.name}`;
  }
}

/** One scenario: a source, a fresh destination per run, and the ratio target tcrane/skopeo. */
interface Scenario {
  id: string;
  title: string;
  /** Target for median wall time tcrane / skopeo. */
  target?: number;
  src: Place;
  dst: (tool: Tool, rep: number) => Place;
}

/** One run's figures. */
interface Sample {
  tool: Tool;
  rep: number;
  seconds: number;
  cpuSeconds: number;
  rssMiB: number;
  /** Manifest digest at a registry destination, or the bytes written for files. */
  digest?: string;
  outputMiB?: number;
}

/** Per scenario, the medians and the verdict. */
interface Summary {
  id: string;
  title: string;
  target?: number;
  samples: Sample[];
  tcraneSeconds?: number;
  skopeoSeconds?: number;
  ratio?: number;
  met?: boolean;
  tcraneRssMiB?: number;
  skopeoRssMiB?: number;
  /** Median user+system CPU seconds. */
  tcraneCpu?: number;
  skopeoCpu?: number;
}

const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

async function manifestDigest(reg: Distribution, repo: string, tag: string): Promise<string> {
  const r = await request(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
  });
  await r.body.dump();
  if (r.statusCode !== 200) throw new Error(`${reg.host}/${repo}:${tag}: manifest HEAD returned ${r.statusCode}`);
  return String(r.headers["docker-content-digest"]);
}

async function duSize(path: string): Promise<number> {
  const st = await stat(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await readdir(path)) total += await duSize(join(path, e));
  return total;
}

/** Check the destination exists (and read its digest or size), then remove files to keep the disk free. */
async function checkAndClean(p: Place): Promise<Pick<Sample, "digest" | "outputMiB">> {
  if (p.kind === "registry") return { digest: await manifestDigest(p.reg, p.repo, p.tag) };
  const size = await duSize(p.path);
  if (size === 0) throw new Error(`${p.path} is empty`);
  await rm(p.path, { recursive: true, force: true });
  return { outputMiB: Math.round((size / MiB) * 10) / 10 };
}

function command(tool: Tool, src: string, dst: string): [string, string[]] {
  if (tool === "tcrane") return [process.execPath, [TCRANE, "copy", src, dst, "--progress", "none", ...TCRANE_ARGS]];
  return ["skopeo", ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dst]];
}

async function runOne(s: Scenario, tool: Tool, rep: number): Promise<Sample> {
  const dst = s.dst(tool, rep);
  if (dst.kind !== "registry") await rm(dst.path, { recursive: true, force: true });
  if (tool === "skopeo") for (const c of SKOPEO_CACHES) await rm(c, { force: true });
  const [cmd, args] = command(tool, placeArg(tool, s.src), placeArg(tool, dst));
  // Every run starts with no dirty pages: without this, a run pays for the writeback of the GiB the
  // previous run (the other tool's) wrote, as throttled writes (seen: the same tcrane copy to a
  // docker-archive took 1.6 s after a sync and 2.6 s right after skopeo wrote 1 GiB).
  spawnSync("sync");
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const m = await measure(cmd, args);
  if (m.code !== 0) throw new Error(`${s.id}: ${tool} exited ${m.code}: ${cmd} ${args.join(" ")}\n${m.stderr.slice(-2000)}`);
  const extra = await checkAndClean(dst);
  const sample: Sample = { tool, rep, seconds: m.seconds, cpuSeconds: m.cpuSeconds, rssMiB: Math.round(m.rssMiB * 10) / 10, ...extra };
  log(`${s.id} ${tool} #${rep + 1}: ${m.seconds.toFixed(2)} s (cpu ${m.cpuSeconds.toFixed(2)} s), ${sample.rssMiB} MiB${extra.digest ? ` ${extra.digest.slice(0, 19)}` : ` ${extra.outputMiB} MiB written`} (load ${loadavg()[0]!.toFixed(2)})`);
  return sample;
}

function summarize(s: Scenario, samples: Sample[]): Summary {
  const of = (t: Tool) => samples.filter((x) => x.tool === t);
  const sec = (t: Tool) => (of(t).length ? median(of(t).map((x) => x.seconds)) : undefined);
  const cpu = (t: Tool) => (of(t).length ? median(of(t).map((x) => x.cpuSeconds)) : undefined);
  const rss = (t: Tool) => (of(t).length ? Math.max(...of(t).map((x) => x.rssMiB)) : undefined);
  const out: Summary = { id: s.id, title: s.title, target: s.target, samples, tcraneSeconds: sec("tcrane"), skopeoSeconds: sec("skopeo"), tcraneRssMiB: rss("tcrane"), skopeoRssMiB: rss("skopeo"), tcraneCpu: cpu("tcrane"), skopeoCpu: cpu("skopeo") };
  if (out.tcraneSeconds !== undefined && out.skopeoSeconds) {
    out.ratio = Math.round((out.tcraneSeconds / out.skopeoSeconds) * 1000) / 1000;
    if (s.target !== undefined) out.met = out.ratio <= s.target;
  }
  return out;
}

const f = (n: number | undefined, d = 2) => (n === undefined ? "–" : n.toFixed(d));

/** The results table (markdown) and the memory verdicts. */
function table(rows: Summary[]): string {
  const lines = [
    "| scenario | tcrane s | skopeo s | ratio | target | met | tcrane MiB | skopeo MiB | tcrane CPU s | skopeo CPU s |",
    "|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const met = r.met === undefined ? "" : r.met ? "yes" : "**no**";
    lines.push(`| ${r.title} | ${f(r.tcraneSeconds)} | ${f(r.skopeoSeconds)} | ${f(r.ratio)} | ${r.target === undefined ? "" : `≤ ${r.target}`} | ${met} | ${f(r.tcraneRssMiB, 0)} | ${f(r.skopeoRssMiB, 0)} | ${f(r.tcraneCpu)} | ${f(r.skopeoCpu)} |`);
  }
  const rssMax = Math.max(0, ...rows.map((r) => r.tcraneRssMiB ?? 0));
  lines.push("", `tcrane peak RSS, worst scenario: ${rssMax.toFixed(0)} MiB (target ≤ 120 MiB): ${rssMax <= 120 ? "met" : "**missed**"}.`);
  const big = rows.find((r) => r.id === "big-reg-reg")?.tcraneRssMiB;
  const huge = rows.find((r) => r.id === "huge-reg-reg")?.tcraneRssMiB;
  if (big && huge) {
    const d = (huge - big) / big;
    // The check is that memory does not grow with layer size: the one-layer image may need less
    // (one blob in flight instead of -j of them), never more than 10 % above.
    lines.push(`1 GiB-layer image vs 8 × 128 MiB image, registry → registry: ${huge.toFixed(0)} vs ${big.toFixed(0)} MiB (${d >= 0 ? "+" : ""}${(d * 100).toFixed(1)} %, target at most 10 % above): ${d <= 0.1 ? "met" : "**missed**"}.`);
  }
  return lines.join("\n");
}

async function writeResults(machine: Machine, rows: Summary[], images: Record<string, GeneratedImage>, mirrorRows: MirrorSummary[] = [], fleet?: GeneratedFleet): Promise<void> {
  await mkdir(join(OUT, ".."), { recursive: true });
  const settings = { scale: SCALE, reps: REPS, tools: TOOLS, tcrane: TCRANE, tcraneArgs: TCRANE_ARGS, only: ONLY ? [...ONLY] : undefined, mirrorRepos: MIRROR_REPOS, mirrorTags: MIRROR_TAGS };
  const imgs = Object.fromEntries(Object.entries(images).map(([k, v]) => [k, { ...v.spec, manifestDigest: v.manifestDigest, compressedMiB: Math.round((v.bytes / MiB) * 10) / 10 }]));
  const fleetInfo = fleet ? { ...fleet.spec, blobs: fleet.blobs, compressedMiB: Math.round((fleet.bytes / MiB) * 10) / 10 } : undefined;
  await writeFile(`${OUT}.json`, JSON.stringify({ machine, settings, images: imgs, fleet: fleetInfo, scenarios: rows, mirror: mirrorRows }, null, 2) + "\n");
  const md = [
    `# tcrane vs skopeo: benchmark results`,
    "",
    `Run ${machine.date} at commit ${machine.commit ?? "?"}; BENCH_SCALE=${SCALE}, BENCH_REPS=${REPS}${TCRANE_ARGS.length ? `, tcrane args \`${TCRANE_ARGS.join(" ")}\`` : ""}. Wall time and CPU time (user + system) are medians of the repetitions, RSS the largest peak.`,
    "",
    "## Machine",
    "",
    `- ${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGiB} GiB memory`,
    `- node ${machine.node}; ${machine.skopeo}; ${machine.registry}`,
    `- load average at start ${machine.loadavgStart.join(" ")}, at end ${machine.loadavgEnd?.join(" ") ?? "?"} (other work was running on this machine: the figures are noisy)`,
    "",
    "## Images",
    "",
    ...Object.values(imgs).map((i) => `- ${i.name}: ${i.layers} × ${i.layerSize} bytes of random content, gzip level 1 (${i.compressedMiB} MiB compressed), ${i.manifestDigest}`),
    ...(fleetInfo
      ? [`- mirror fleet: ${fleetInfo.repos} repositories × ${fleetInfo.tags} tags, each image a 2-layer base shared by all (${fleetInfo.baseSize} bytes of content per layer) plus one own layer (${fleetInfo.ownSize} bytes); ${fleetInfo.blobs} distinct blobs, ${fleetInfo.compressedMiB} MiB`]
      : []),
    "",
    ...(rows.length ? ["## Results", "", table(rows), ""] : []),
    ...(mirrorRows.length ? ["## Mirroring at scale (tcrane mirror vs skopeo sync)", "", mirrorTable(mirrorRows), ""] : []),
  ].join("\n");
  await writeFile(`${OUT}.md`, md);
}

/** The copy scenarios' ids, in the order they run. */
const COPY_IDS = ["big-oci-reg", "big-reg-reg", "big-reg-same", "big-reg-docker", "big-reg-ociarchive", "big-reg-ocidir", "big-docker-reg", "small-oci-reg", "small-reg-reg", "huge-reg-reg"];

async function main(): Promise<void> {
  checkTime();
  if (!(SCALE > 0)) throw new Error(`BENCH_SCALE must be a positive number, not ${process.env.BENCH_SCALE}`);
  const unknown = [...(ONLY ?? [])].filter((id) => !COPY_IDS.includes(id) && !MIRROR_IDS.includes(id) && id !== "mirror");
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown scenario ${unknown.join(", ")} (known: ${[...COPY_IDS, ...MIRROR_IDS, "mirror"].join(", ")})`);
  const copying = !ONLY || COPY_IDS.some((id) => ONLY.has(id));
  const mirroring = !ONLY || ONLY.has("mirror") || MIRROR_IDS.some((id) => ONLY.has(id));
  const machine = await describeMachine(ROOT);
  log(`scale ${SCALE}, ${REPS} repetitions, work dir ${WORK}, results ${OUT}.{md,json}`);
  await mkdir(WORK, { recursive: true });
  const size = (n: number) => Math.max(1, Math.round(n * SCALE));
  const images: Record<string, GeneratedImage> = {};
  let dockerArchive = "";
  if (copying) {
    images.big = await generateLayout(WORK, { name: "big", layers: 8, layerSize: size(128 * MiB) }, log);
    images.small = await generateLayout(WORK, { name: "small", layers: 200, layerSize: size(64 * 1024) }, log);
    images.huge = await generateLayout(WORK, { name: "huge", layers: 1, layerSize: size(1024 * MiB) }, log);
    dockerArchive = await generateDockerArchive(WORK, images.big, "bench/big:latest", log);
  }
  const fleet = mirroring ? await generateFleet(WORK, { repos: MIRROR_REPOS, tags: MIRROR_TAGS, baseSize: size(4 * MiB), ownSize: size(1 * MiB) }, log) : undefined;

  const a = await startDistribution();
  const b = await startDistribution();
  const c = mirroring ? await startDistribution() : undefined;
  const stopAll = () => Promise.all([a.stop(), b.stop(), c?.stop()]);
  const onSignal = () => {
    log("interrupted: stopping the registries");
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const out = join(WORK, "out");
  await mkdir(out, { recursive: true });
  const rows: Summary[] = [];
  let mirrorRows: MirrorSummary[] = [];
  try {
    log(`registry A ${a.host}, registry B ${b.host}${c ? `, registry C ${c.host}` : ""}; seeding A`);
    for (const img of Object.values(images)) {
      const dst = `${a.host}/bench/${img.spec.name}:latest`;
      const m = await measure(process.execPath, [TCRANE, "copy", `oci:${img.layout}:${img.spec.name}`, dst, "--progress", "none"]);
      if (m.code !== 0) throw new Error(`seeding ${dst} failed: ${m.stderr}`);
      const d = await manifestDigest(a, `bench/${img.spec.name}`, "latest");
      if (d !== img.manifestDigest) throw new Error(`seeded ${dst} has digest ${d}, not ${img.manifestDigest}`);
    }
    if (fleet) await seedFleet(fleet, a);
    if (copying) {
      const { big, small } = images as Record<"big" | "small" | "huge", GeneratedImage>;
      const reg = (r: Distribution, name: string) => (tool: Tool, rep: number): Place => ({ kind: "registry", reg: r, repo: `bench/${name}-${tool}-${rep}`, tag: "latest" });
      const file = (kind: "docker-archive" | "oci-archive" | "oci", name: string) => (tool: Tool, rep: number): Place => {
        const path = join(out, `${name}-${tool}-${rep}${kind === "oci" ? "" : ".tar"}`);
        return kind === "docker-archive" ? { kind, path, ref: "bench/big:latest" } : { kind, path, name: "big" };
      };
      const fromA = (name: string): Place => ({ kind: "registry", reg: a, repo: `bench/${name}`, tag: "latest" });
      const scenarios: Scenario[] = [
        { id: "big-oci-reg", title: "big OCI dir → registry", target: 0.9, src: { kind: "oci", path: big.layout, name: "big" }, dst: reg(b, "big-oci") },
        { id: "big-reg-reg", title: "big registry → other registry", target: 0.9, src: fromA("big"), dst: reg(b, "big-rr") },
        { id: "big-reg-same", title: "big registry → same registry, other repo", target: 0.05, src: fromA("big"), dst: reg(a, "big-same") },
        { id: "big-reg-docker", title: "big registry → docker-archive", target: 0.5, src: fromA("big"), dst: file("docker-archive", "big-docker") },
        { id: "big-reg-ociarchive", title: "big registry → oci-archive", target: 0.35, src: fromA("big"), dst: file("oci-archive", "big-ociarchive") },
        { id: "big-reg-ocidir", title: "big registry → OCI dir", target: 0.8, src: fromA("big"), dst: file("oci", "big-ocidir") },
        { id: "big-docker-reg", title: "big docker-archive (uncompressed) → registry", target: 1.0, src: { kind: "docker-archive", path: dockerArchive }, dst: reg(b, "big-docker") },
        { id: "small-oci-reg", title: "small OCI dir → registry", target: 0.4, src: { kind: "oci", path: small.layout, name: "small" }, dst: reg(b, "small-oci") },
        { id: "small-reg-reg", title: "small registry → other registry", target: 0.5, src: fromA("small"), dst: reg(b, "small-rr") },
        { id: "huge-reg-reg", title: "1 GiB layer registry → other registry (memory)", src: fromA("huge"), dst: reg(b, "huge-rr") },
      ];
      for (const s of scenarios) {
        if (ONLY && !ONLY.has(s.id)) continue;
        const samples: Sample[] = [];
        for (let rep = 0; rep < REPS; rep++) for (const tool of TOOLS) samples.push(await runOne(s, tool, rep));
        const sum = summarize(s, samples);
        rows.push(sum);
        log(`${s.id}: tcrane ${f(sum.tcraneSeconds)} s / skopeo ${f(sum.skopeoSeconds)} s = ${f(sum.ratio)} (target ${s.target ?? "–"}), RSS ${f(sum.tcraneRssMiB, 0)} / ${f(sum.skopeoRssMiB, 0)} MiB`);
        machine.loadavgEnd = loadavg().map((x) => Math.round(x * 100) / 100);
        await writeResults(machine, rows, images, mirrorRows, fleet);
      }
    }
    if (fleet && c) {
      mirrorRows = await runMirrorBench(
        {
          tcrane: TCRANE,
          tcraneArgs: TCRANE_ARGS,
          reps: REPS,
          only: ONLY,
          work: WORK,
          log,
          beforeRun: async (tool) => {
            if (tool === "skopeo") for (const p of SKOPEO_CACHES) await rm(p, { force: true });
            spawnSync("sync");
            await new Promise((r) => setTimeout(r, SETTLE_MS));
          },
        },
        fleet,
        a,
        b,
        c,
        async (done) => {
          for (const r of done.slice(mirrorRows.length)) log(`${r.id}: tcrane ${f(r.tcraneSeconds)} s / ${r.reference} ${f(r.referenceSeconds)} s = ${f(r.ratio)} (target ${r.target ?? "–"}); ${r.checks.map((x) => `${x.ok ? "ok" : "FAILED"}: ${x.what}`).join("; ")}`);
          mirrorRows = [...done];
          machine.loadavgEnd = loadavg().map((x) => Math.round(x * 100) / 100);
          await writeResults(machine, rows, images, mirrorRows, fleet);
        },
      );
    }
  } finally {
    await stopAll();
    await rm(out, { recursive: true, force: true });
  }
  machine.loadavgEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  await writeResults(machine, rows, images, mirrorRows, fleet);
  if (rows.length) process.stdout.write(table(rows) + "\n");
  if (mirrorRows.length) process.stdout.write(mirrorTable(mirrorRows) + "\n");
  log(`wrote ${OUT}.md and ${OUT}.json`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
