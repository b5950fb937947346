/**
 * Expanding a mirror spec into (source reference, destination reference) pairs: explicit tags and
 * digests as given, listed tags through the entry's filters (include / exclude / semver / newest).
 * Listing a repository's tags is the only request planning makes. Items with the same source image
 * (and platforms and referrers) are one item with several targets: its blobs are read once and
 * written to every target (fan-out). With a shard, only that shard's items are planned (shard.ts);
 * sharded by repository, the other repositories' tags are not even listed.
 */
import semver from "semver";
import { toTcraneError, type TcraneError } from "../errors.js";
import type { Platform } from "../image/types.js";
import { withDigest, withTag, type Reference } from "../reference/index.js";
import type { RegistryClient } from "../registry/client.js";
import { owns, type Shard } from "./shard.js";
import { needsTagList, type MirrorEntry, type MirrorSpec } from "./spec.js";

/** One destination of an item, and the spec entry that named it. */
export interface PlanTarget {
  entry: number;
  /** Destination, with the item's tag or digest. */
  destination: Reference;
}

/** One image to mirror. */
export interface PlanItem {
  /** Position of the spec entry in `mirrors[]`. */
  entry: number;
  /** Source, with a tag or a digest. */
  source: Reference;
  /** Destination, with the same tag or digest: the first of `targets`. */
  destination: Reference;
  /** Every destination of this source image (more than one: fan-out). */
  targets: PlanTarget[];
  platforms: Platform[] | "all";
  referrers: boolean;
}

/** An entry whose tags could not be listed. */
export interface PlanFailure {
  entry: number;
  source: string;
  error: TcraneError;
}

/** The expanded spec. */
export interface Plan {
  items: PlanItem[];
  failures: PlanFailure[];
  /** Tags listed per source repository (`registry/repository`), reused for cosign-style referrer tags. */
  listed: Map<string, string[]>;
  /** The shard planned (absent: everything). */
  shard?: Shard;
}

/** Options of planMirror. */
export interface PlanOptions {
  signal?: AbortSignal;
  /** Stop at the first repository whose tags cannot be listed (default true). */
  failFast?: boolean;
  /** Plan only this shard's items. */
  shard?: Shard;
}

/** The strict semver version of a tag (`v` prefix allowed), or null: `3.20` and `latest` are not versions. */
export function tagVersion(tag: string): string | null {
  return semver.valid(tag);
}

/**
 * The listed tags an entry selects: every filter given must pass (include: one regex matches;
 * exclude: none matches; semver: a version in range), then `newest` keeps the N highest versions
 * (pre-releases compete only when a `semver` range admitted them; non-versions are dropped).
 * The result keeps the order of `tags`.
 */
export function filterTags(entry: Pick<MirrorEntry, "include" | "exclude" | "semver" | "newest">, tags: string[]): string[] {
  let out = tags.filter((t) => {
    if (entry.include.length > 0 && !entry.include.some((r) => r.test(t))) return false;
    if (entry.exclude.some((r) => r.test(t))) return false;
    if (entry.semver !== undefined) {
      const v = tagVersion(t);
      if (v === null || !semver.satisfies(v, entry.semver)) return false;
    }
    return true;
  });
  if (entry.newest !== undefined) {
    const ranked = out
      .map((t) => ({ t, v: tagVersion(t) }))
      // pre-releases rank only when a semver range admitted them
      .filter((x): x is { t: string; v: string } => x.v !== null && (entry.semver !== undefined || semver.prerelease(x.v) === null))
      .sort((a, b) => semver.rcompare(a.v, b.v) || a.t.localeCompare(b.t));
    const keep = new Set(ranked.slice(0, entry.newest).map((x) => x.t));
    out = out.filter((t) => keep.has(t));
  }
  return out;
}

/** The images one entry selects, given the source's tags when the entry lists them. */
export function entryItems(entry: MirrorEntry, listedTags?: string[]): PlanItem[] {
  const tags = [...entry.tags];
  if (needsTagList(entry) && listedTags) {
    const seen = new Set(tags);
    for (const t of filterTags(entry, listedTags)) if (!seen.has(t)) tags.push(t);
  }
  const base = { entry: entry.index, platforms: entry.platforms, referrers: entry.referrers };
  const dests = entry.destinations.length > 0 ? entry.destinations : [entry.destination];
  const item = (source: Reference, at: (r: MirrorEntry["destination"]) => Reference): PlanItem => {
    const targets = dests.map((d) => ({ entry: entry.index, destination: at(d) }));
    return { ...base, source, destination: targets[0]!.destination, targets };
  };
  return [
    ...tags.map((t) => item(withTag(entry.source, t), (d) => withTag(d, t))),
    ...entry.digests.map((dg) => item(withDigest(entry.source, dg), (d) => withDigest(d, dg))),
  ];
}

/**
 * Expand a spec into the images to mirror, listing the tags of the repositories whose entries
 * filter tags (once per repository; listed tags are taken in sorted order, so a plan does not depend
 * on the order a registry lists them in). A destination named twice is planned once (the first entry
 * wins); the same source image planned for several destinations is one item with several targets.
 */
export async function planMirror(spec: MirrorSpec, client: RegistryClient, opts: PlanOptions = {}): Promise<Plan> {
  const shard = opts.shard;
  const listed = new Map<string, Promise<string[]>>();
  const list = (e: MirrorEntry) => {
    let p = listed.get(e.source.context);
    if (!p) {
      p = client.listTags(e.source, { signal: opts.signal }).then((t) => [...t].sort());
      listed.set(e.source.context, p);
      p.catch(() => undefined);
    }
    return p;
  };
  // Sharded by repository, an entry belongs to one shard as a whole: the others never list it.
  const entries = shard?.by === "repo" ? spec.mirrors.filter((e) => owns(shard, { context: e.source.context, name: e.source.context })) : spec.mirrors;
  const perEntry = await Promise.all(
    entries.map(async (e) => {
      if (!needsTagList(e)) return { items: entryItems(e) };
      try {
        return { items: entryItems(e, await list(e)) };
      } catch (err) {
        if (opts.failFast !== false) throw err;
        return { items: entryItems(e), failure: { entry: e.index, source: e.source.context, error: toTcraneError(err) } };
      }
    }),
  );
  const items: PlanItem[] = [];
  const failures: PlanFailure[] = [];
  const seen = new Set<string>();
  const bySource = new Map<string, PlanItem>();
  for (const r of perEntry) {
    if (r.failure) failures.push(r.failure);
    for (const it of r.items) {
      // by repository the entries were filtered above (an item's repository is its entry's)
      if (shard?.by === "tag" && !owns(shard, it.source)) continue;
      const targets = it.targets.filter((t) => !seen.has(t.destination.name));
      if (targets.length === 0) continue;
      for (const t of targets) seen.add(t.destination.name);
      const key = `${it.source.name}\n${JSON.stringify(it.platforms)}\n${it.referrers}`;
      const same = bySource.get(key);
      if (same) same.targets.push(...targets);
      else {
        const item = { ...it, targets, destination: targets[0]!.destination, entry: targets[0]!.entry };
        bySource.set(key, item);
        items.push(item);
      }
    }
  }
  const done = new Map<string, string[]>();
  for (const [k, p] of listed) {
    const tags = await p.catch(() => undefined);
    if (tags) done.set(k, tags);
  }
  return { items, failures, listed: done, shard };
}

/**
 * The source references a spec selects (`registry/repo:tag` or `registry/repo@digest`), in spec
 * order, without duplicates. Lists tags where the spec filters them. Used by `save --from SPEC`.
 */
export async function selectImages(spec: MirrorSpec, client: RegistryClient, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
  const plan = await planMirror(spec, client, { signal: opts.signal });
  return [...new Set(plan.items.map((i) => i.source.name))];
}
