/**
 * Running a mirror: the planned images go through the one engine, `imageJobs` images at once, all
 * sharing one blob limiter of `jobs` (and the client's per-host connection cap), so mirroring 500
 * tags never opens 500 connections. Idempotent: an image whose destination tag already holds the
 * source digest costs one HEAD on each side and no engine call (with a platform list, the source
 * index is also read once to compute the filtered digest); an image copied halfway resumes (the
 * engine skips the blobs already there). Concurrent copies into one repository never upload the
 * same content twice at once: the same root under several tags is copied once and then tagged,
 * and shared blobs are claimed by one copy (claims.ts). Referrers are carried when the entry asks:
 * the source tags `sha256-<hex>` (the OCI referrers tag schema), `.sig`, `.att`, `.sbom` of each
 * copied image's digest, then every manifest the referrers API lists (by digest), one level deep.
 * They follow the source digest: with a platform filter they refer to the unfiltered source root.
 * An image with several targets (fan-out) is one engine copy into a FanoutSink: one read of each
 * source blob and manifest, written to every target that lacks it; a failing target fails only its
 * own outcomes. Into each destination registry, a blob already stored in one repository during the
 * run is mounted into the next (claims.ts). With a shard, only that shard's items run (shard.ts).
 */
import { setMaxListeners } from "node:events";
import pLimit from "p-limit";
import { TcraneError, toTcraneError } from "../errors.js";
import { isIndex } from "../image/mediatypes.js";
import { formatPlatform, isAttestation, platformMatches } from "../image/platform.js";
import type { Descriptor, ImageIndex } from "../image/types.js";
import { withDigest, withTag, type Reference } from "../reference/index.js";
import type { RegistryClient } from "../registry/client.js";
import { referrersTag } from "../registry/referrers.js";
import { copyDescriptor, DEFAULT_JOBS, smallBlobLimit, readManifest } from "../transfer/engine.js";
import type { EventListener } from "../transfer/events.js";
import { OverlaySource } from "../transports/overlay.js";
import { RegistryTarget } from "../transports/registry.js";
import type { Source } from "../transports/types.js";
import { FanoutSink } from "../transports/fanout.js";
import { ClaimingSink, type RepoClaims, RegistryBlobs } from "./claims.js";
import { planMirror, type PlanItem, type PlanTarget } from "./plan.js";
import type { Shard } from "./shard.js";
import type { MirrorSpec } from "./spec.js";

/** Default number of images copied at once. */
export const DEFAULT_IMAGE_JOBS = 4;

/**
 * Up-to-date lookups in flight (a source HEAD and one HEAD per target each): they move no data, so
 * a re-run of an unchanged mirror is bounded by the client's 8 connections per host, not by
 * --image-jobs; only the images that need copying wait for an image slot.
 */
const LOOKUPS_IN_FLIGHT = 16;

/** Options of one mirror run; fields left out come from the spec's defaults, then the defaults here. */
export interface MirrorOptions {
  /** Blobs in flight, shared by every image (default spec.defaults.jobs, then DEFAULT_JOBS). */
  jobs?: number;
  /** Images at once (default spec.defaults.imageJobs, then DEFAULT_IMAGE_JOBS). */
  imageJobs?: number;
  /** Resolve and compare only: report what would be copied, write nothing. */
  dryRun?: boolean;
  /** Go on past failed images (the report lists them); default: stop at the first failure and throw it. */
  keepGoing?: boolean;
  allowNondistributable?: boolean;
  signal?: AbortSignal;
  onEvent?: EventListener;
  /** Called as each image finishes (copied, up to date, failed). */
  onImage?: (outcome: ImageOutcome) => void;
  /** Run only this shard's part of the spec (shard.ts). */
  shard?: Shard;
}

/** What happened to one image. */
export type ImageStatus = "copied" | "up-to-date" | "would-copy" | "failed";

/** One image of the report. */
export interface ImageOutcome {
  entry: number;
  kind: "image" | "referrer";
  source: string;
  destination: string;
  status: ImageStatus;
  /** Digest of what is (or would be) in the destination. */
  digest?: string;
  bytes: number;
  seconds: number;
  error?: { code: string; message: string };
}

/** Docker Hub-style rate limit seen on a registry (when the client exposes it). */
export interface RateLimitInfo {
  registry: string;
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
}

/** The totals of a run (or of merged runs). */
export interface MirrorCounts {
  copied: number;
  upToDate: number;
  wouldCopy: number;
  failed: number;
  bytes: number;
  seconds: number;
}

/** The whole run (or one shard of it). */
export interface MirrorReport extends MirrorCounts {
  dryRun: boolean;
  /** The spec file, as named on the command line. */
  spec?: string;
  /** The shard this run was (absent: the whole spec). */
  shard?: Shard;
  /** When the run started and ended (ISO 8601). */
  startedAt?: string;
  finishedAt?: string;
  images: ImageOutcome[];
  rateLimits: RateLimitInfo[];
}

/** Optional client power: the last `ratelimit-*` headers seen per registry. */
interface RateLimitAware {
  rateLimit(registry: string): Omit<RateLimitInfo, "registry"> | undefined;
}
function isRateLimitAware(x: unknown): x is RateLimitAware {
  return typeof (x as RateLimitAware)?.rateLimit === "function";
}

/** Mirror a spec with a registry client. Throws the first failure unless `keepGoing`. */
export async function mirror(client: RegistryClient, spec: MirrorSpec, opts: MirrorOptions = {}): Promise<MirrorReport> {
  const started = Date.now();
  const keepGoing = opts.keepGoing === true;
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onOuterAbort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const signal = stop.signal;
  setMaxListeners(0, signal); // one listener per request in flight
  const shared: Shared = { claims: new Map(), images: new Map(), blobs: new RegistryBlobs() };
  const jobs = Math.max(1, opts.jobs ?? spec.defaults.jobs ?? DEFAULT_JOBS);
  const blobLimit = pLimit(jobs);
  const smallLimit = smallBlobLimit(jobs, blobLimit);
  const imageJobs = Math.max(1, opts.imageJobs ?? spec.defaults.imageJobs ?? DEFAULT_IMAGE_JOBS);
  const imageLimit = pLimit(imageJobs);
  const lookupLimit = pLimit(Math.max(imageJobs, LOOKUPS_IN_FLIGHT));
  const images: ImageOutcome[] = [];
  let firstError: TcraneError | undefined;
  const fail = (e: unknown): TcraneError => {
    const err = toTcraneError(e);
    firstError ??= err; // later failures of a stopped run are its aborts
    if (!keepGoing && !signal.aborted) stop.abort(err);
    return err;
  };

  try {
    const plan = await planMirror(spec, client, { signal, failFast: !keepGoing, shard: opts.shard });
    for (const f of plan.failures) {
      fail(f.error);
      const o: ImageOutcome = { entry: f.entry, kind: "image", source: f.source, destination: "", status: "failed", bytes: 0, seconds: 0, error: { code: f.error.code, message: f.error.line } };
      images.push(o);
      opts.onImage?.(o);
    }
    const tagLists = new Map<string, Promise<Set<string>>>();
    for (const [k, v] of plan.listed) tagLists.set(k, Promise.resolve(new Set(v)));
    const sourceTags = (ref: Reference) => {
      let p = tagLists.get(ref.context);
      if (!p) {
        p = client.listTags(ref, { signal }).then((t) => new Set(t));
        tagLists.set(ref.context, p);
      }
      return p;
    };
    const claimed = new Set<string>(plan.items.flatMap((i) => i.targets.map((t) => t.destination.name)));

    // the report lists images in plan order, each image's targets in spec order, its referrers after it
    const rank = new Map<ImageOutcome, number[]>();
    const record = (o: ImageOutcome, pos: number[]) => {
      images.push(o);
      rank.set(o, pos);
      opts.onImage?.(o);
    };
    const one = async (item: PlanItem, pos: number[], kind: ImageOutcome["kind"], root?: Descriptor): Promise<string | undefined> => {
      const t0 = Date.now();
      let r: ImageResult | undefined;
      try {
        r = await mirrorImage(client, item, { ...opts, signal, limit: blobLimit, smallLimit, lookupLimit, imageLimit, root, shared, onTargetFailure: fail });
      } catch (e) {
        const err = fail(e); // the source failed: every target with it
        const seconds = (Date.now() - t0) / 1000;
        item.targets.forEach((t, j) => record({ entry: t.entry, kind, source: item.source.name, destination: t.destination.name, status: "failed", bytes: 0, seconds, error: { code: err.code, message: err.line } }, [...pos, j]));
        return undefined;
      }
      if (!r) return undefined;
      const seconds = r.seconds;
      r.targets.forEach((t, j) => {
        const base = { entry: t.target.entry, kind, source: item.source.name, destination: t.destination, bytes: t.bytes, seconds };
        if (t.error) {
          const err = fail(t.error);
          record({ ...base, status: "failed", error: { code: err.code, message: err.line } }, [...pos, j]);
        } else record({ ...base, status: t.status!, digest: t.digest }, [...pos, j]);
      });
      return r.targets.some((t) => !t.error) ? r.sourceDigest : undefined;
    };

    // Referrers of one image, one at a time (they share blobs and manifests with each other):
    // the cosign / tag-schema tags first, then the referrers API's manifests by digest. They go to
    // every target of the image that has not got them planned already.
    const referrersOf = async (item: PlanItem, pos: number, digest: string): Promise<void> => {
      let n = 0;
      const next = () => [pos, ++n];
      const todo: Array<{ item: PlanItem; root?: Descriptor }> = [];
      const add = (source: Reference, at: (d: Reference) => Reference, root?: Descriptor) => {
        const targets = item.targets.map((t) => ({ entry: t.entry, destination: at(t.destination) })).filter((t) => !claimed.has(t.destination.name));
        if (targets.length === 0) return;
        for (const t of targets) claimed.add(t.destination.name);
        todo.push({ item: { entry: targets[0]!.entry, platforms: "all", referrers: false, source, destination: targets[0]!.destination, targets }, root });
      };
      try {
        const tags = await sourceTags(item.source);
        const stem = referrersTag(digest);
        for (const t of [stem, `${stem}.sig`, `${stem}.att`, `${stem}.sbom`]) {
          if (tags.has(t)) add(withTag(item.source, t), (d) => withTag(d, t));
        }
        const idx = await client.referrers(item.source, digest, { signal });
        for (const d of idx.manifests) add(withDigest(item.source, d.digest), (x) => withDigest(x, d.digest), d);
      } catch (e) {
        const err = fail(e);
        record({ entry: item.entry, kind: "referrer", source: `${item.source.context}@${digest} (referrers)`, destination: item.destination.context, status: "failed", bytes: 0, seconds: 0, error: { code: err.code, message: err.line } }, next());
      }
      for (const t of todo) {
        if (signal.aborted) return;
        await one(t.item, next(), "referrer", t.root);
      }
    };

    await Promise.all(
      plan.items.map((item, i) =>
        (async () => {
          // lookups run LOOKUPS_IN_FLIGHT at once, copies imageJobs at once (mirrorImage)
          const digest = await one(item, [i, 0], "image");
          if (digest && item.referrers) await referrersOf(item, i, digest);
        })(),
      ),
    );
    const before = (a: number[], b: number[]) => {
      for (let k = 0; k < Math.max(a.length, b.length); k++) if ((a[k] ?? -1) !== (b[k] ?? -1)) return (a[k] ?? -1) - (b[k] ?? -1);
      return 0;
    };
    images.sort((a, b) => before(rank.get(a) ?? [-1], rank.get(b) ?? [-1]));
  } catch (e) {
    fail(e);
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
  if (opts.signal?.aborted) throw new TcraneError("ABORTED", "mirror interrupted", { cause: opts.signal.reason });
  if (firstError && !keepGoing) throw firstError;
  const rateLimits: RateLimitInfo[] = [];
  if (isRateLimitAware(client)) {
    for (const r of new Set(spec.mirrors.map((m) => m.source.registry))) {
      const info = client.rateLimit(r);
      if (info) rateLimits.push({ registry: r, ...info });
    }
  }
  const count = (s: ImageStatus) => images.filter((i) => i.status === s).length;
  const finished = Date.now();
  return {
    dryRun: opts.dryRun === true,
    spec: spec.file,
    ...(opts.shard ? { shard: { ...opts.shard } } : {}),
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    images,
    copied: count("copied"),
    upToDate: count("up-to-date"),
    wouldCopy: count("would-copy"),
    failed: count("failed"),
    bytes: images.reduce((n, i) => n + i.bytes, 0),
    seconds: (finished - started) / 1000,
    rateLimits,
  };
}

/** State shared by the concurrent copies of one run. */
interface Shared {
  /** Blob claims per destination repository (see claims.ts). */
  claims: Map<string, RepoClaims>;
  /** Copies in flight by `destination-repository@root-digest`: the same image under another tag waits for it. */
  images: Map<string, Promise<unknown>>;
  /** Where each blob is (or is being brought), per destination registry: mounted from there (claims.ts). */
  blobs: RegistryBlobs;
}

/** What mirrorImage needs beside the options of the run. */
interface MirrorImageOptions extends MirrorOptions {
  signal: AbortSignal;
  limit: ReturnType<typeof pLimit>;
  smallLimit: ReturnType<typeof pLimit>;
  /** Lookups (source resolve, target HEADs) in flight: they move no data, so more than imageJobs. */
  lookupLimit: ReturnType<typeof pLimit>;
  /** Copies in flight (imageJobs). */
  imageLimit: ReturnType<typeof pLimit>;
  root?: Descriptor;
  shared: Shared;
  onTargetFailure: (e: TcraneError) => void;
}

/** What happened at one target of an image. */
interface TargetResult {
  target: PlanTarget;
  destination: string;
  status?: Exclude<ImageStatus, "failed">;
  digest: string;
  bytes: number;
  error?: TcraneError;
}

/** Result of mirroring one image to its targets (undefined: not started, the run was stopped). */
interface ImageResult {
  sourceDigest: string;
  targets: TargetResult[];
  /** From the start of its lookup (not counting the wait for a slot). */
  seconds: number;
}

/**
 * Mirror one image to its targets: resolve the source (HEAD) once, pick platforms, HEAD each
 * target; a target whose digest is equal is up to date with no engine call. The others get ONE
 * engine copy through a FanoutSink: each blob read once and written to every target that lacks it,
 * each manifest fetched once; a target that fails is dropped from the copy with its own error (the
 * others finish). `root` skips the source lookup (a referrer's descriptor).
 */
async function mirrorImage(client: RegistryClient, item: PlanItem, o: MirrorImageOptions): Promise<ImageResult | undefined> {
  const signal = o.signal;
  const src = new RegistryTarget(client, item.source);
  // What each target holds now (never rejects: DENIED means unknown, so copy; other errors fail
  // that target only). By tag, asked while the source resolves: one request round, not two.
  const head = (t: PlanTarget, ref: string) =>
    client.headManifest(t.destination, ref, { signal }).then(
      (have) => ({ have }),
      (e: unknown) => (e instanceof TcraneError && e.code === "DENIED" ? { have: undefined } : { error: toTcraneError(e) }),
    );
  const tag = item.destination.tag;
  const looked = await o.lookupLimit(async () => {
    if (signal.aborted) return undefined; // interrupted, or stopped by a failure without keepGoing
    const started = Date.now();
    const early = tag ? item.targets.map((t) => head(t, tag)) : undefined;
    const sourceRoot = o.root ?? (await src.resolve(item.source.tag ?? item.source.digest, { signal }));
    const picked = item.platforms !== "all" && isIndex(sourceRoot.mediaType) ? await pickPlatforms(src, sourceRoot, item.platforms, signal) : { source: src as Source, root: sourceRoot };
    const looks = await Promise.all(early ?? item.targets.map((t) => head(t, picked.root.digest)));
    return { started, sourceRoot, ...picked, looks };
  });
  if (!looked) return undefined;
  const { started, sourceRoot, source, root, looks } = looked;
  const results: TargetResult[] = item.targets.map((t) => ({ target: t, destination: tag ? t.destination.name : `${t.destination.context}@${root.digest}`, digest: root.digest, bytes: 0 }));
  results.forEach((r, j) => {
    const l = looks[j]!;
    if ("error" in l && l.error) {
      r.error = l.error;
      o.onTargetFailure(r.error);
    } else if (l.have?.digest === root.digest) r.status = "up-to-date";
    else if (o.dryRun) r.status = "would-copy";
  });
  const todo = results.filter((r) => !r.status && !r.error);
  if (todo.length > 0) await o.imageLimit(() => copyTo(client, item, source, root, todo, o));
  return { sourceDigest: sourceRoot.digest, targets: results, seconds: (Date.now() - started) / 1000 };
}

/** The copy of one image to the targets that need it (`todo`, updated in place). */
async function copyTo(client: RegistryClient, item: PlanItem, source: Source, root: Descriptor, todo: TargetResult[], o: MirrorImageOptions): Promise<void> {
  const signal = o.signal;
  const tag = item.destination.tag;
  signal.throwIfAborted();
  // The same image under another tag is being copied into one of these repositories: let it finish
  // (then this copy only tags), so a registry never commits the same blobs twice at once.
  const keys = todo.map((r) => `${r.target.destination.context}@${root.digest}`);
  for (const key of keys) for (let p = o.shared.images.get(key); p; p = o.shared.images.get(key)) await p.catch(() => undefined);
  const group = {};
  const sinks = todo.map((r) => {
    const repo = r.target.destination.context;
    let claims = o.shared.claims.get(repo);
    if (!claims) o.shared.claims.set(repo, (claims = new Map()));
    return new ClaimingSink(new RegistryTarget(client, r.target.destination), claims, o.shared.blobs, group);
  });
  const fan = new FanoutSink(sinks, (_i, e) => o.onTargetFailure(e));
  const job = copyDescriptor(source, root, fan, {
    tags: tag ? [tag] : [],
    limit: o.limit,
    smallLimit: o.smallLimit,
    skipUpToDate: false,
    signal,
    onEvent: o.onEvent,
    allowNondistributable: o.allowNondistributable,
  }).finally(() => sinks.forEach((s) => s.release()));
  for (const key of keys) o.shared.images.set(key, job);
  try {
    const r = await job;
    todo.forEach((t, k) => {
      const err = fan.failures().get(k);
      if (err) t.error = err;
      else Object.assign(t, { status: "copied", digest: r.descriptor.digest, bytes: fan.written[k]! });
    });
  } catch (e) {
    const err = toTcraneError(e);
    todo.forEach((t, k) => (t.error = fan.failures().get(k) ?? err));
  } finally {
    for (const key of keys) if (o.shared.images.get(key) === job) o.shared.images.delete(key);
  }
}

/** The root to copy for a platform list: the one matching image, or an index of the matching ones. */
async function pickPlatforms(
  src: RegistryTarget,
  index: Descriptor,
  platforms: NonNullable<Exclude<PlanItem["platforms"], "all">>,
  signal: AbortSignal,
): Promise<{ source: Source; root: Descriptor }> {
  const bytes = await readManifest(src, index, signal);
  let parsed: ImageIndex;
  try {
    parsed = JSON.parse(bytes.toString("utf8")) as ImageIndex;
  } catch {
    throw new TcraneError("MALFORMED", "index is not JSON", { what: `${src.description}@${index.digest}` });
  }
  const manifests = Array.isArray(parsed.manifests) ? parsed.manifests : [];
  // attestations describe images, they are not one: never chosen for a platform (as selectManifest)
  const images = manifests.filter((d) => !isAttestation(d));
  const chosen = images.filter((d) => platforms.some((p) => platformMatches(p, d.platform)));
  if (chosen.length === 0) {
    const avail = [...new Set(images.map((d) => (d.platform ? formatPlatform(d.platform) : "unknown")))].join(", ") || "none";
    throw new TcraneError("NOT_FOUND", `no image for ${platforms.map(formatPlatform).join(", ")} in the index; available: ${avail}`, { what: `${src.description}@${index.digest}` });
  }
  if (chosen.length === manifests.length) return { source: src, root: index };
  if (platforms.length === 1) return { source: src, root: chosen[0]! };
  const overlay = new OverlaySource(src);
  return { source: overlay, root: overlay.addJson({ ...parsed, manifests: chosen }, index.mediaType) };
}
