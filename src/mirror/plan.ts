/**
 * Expanding a mirror spec into (source reference, destination reference) pairs: explicit tags and
 * digests as given, listed tags through the entry's filters (include / exclude / semver / newest).
 * Listing a repository's tags is the only request planning makes.
 */
import semver from "semver";
import { toTcraneError, type TcraneError } from "../errors.js";
import type { Platform } from "../image/types.js";
import { withDigest, withTag, type Reference } from "../reference/index.js";
import type { RegistryClient } from "../registry/client.js";
import { needsTagList, type MirrorEntry, type MirrorSpec } from "./spec.js";

/** One image to mirror. */
export interface PlanItem {
  /** Position of the spec entry in `mirrors[]`. */
  entry: number;
  /** Source, with a tag or a digest. */
  source: Reference;
  /** Destination, with the same tag or digest. */
  destination: Reference;
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
}

/** Options of planMirror. */
export interface PlanOptions {
  signal?: AbortSignal;
  /** Stop at the first repository whose tags cannot be listed (default true). */
  failFast?: boolean;
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
  return [
    ...tags.map((t) => ({ ...base, source: withTag(entry.source, t), destination: withTag(entry.destination, t) })),
    ...entry.digests.map((d) => ({ ...base, source: withDigest(entry.source, d), destination: withDigest(entry.destination, d) })),
  ];
}

/**
 * Expand a spec into the images to mirror, listing the tags of the repositories whose entries
 * filter tags (once per repository). A destination named twice is planned once (the first entry wins).
 */
export async function planMirror(spec: MirrorSpec, client: RegistryClient, opts: PlanOptions = {}): Promise<Plan> {
  const listed = new Map<string, Promise<string[]>>();
  const list = (e: MirrorEntry) => {
    let p = listed.get(e.source.context);
    if (!p) {
      p = client.listTags(e.source, { signal: opts.signal });
      listed.set(e.source.context, p);
      p.catch(() => undefined);
    }
    return p;
  };
  const perEntry = await Promise.all(
    spec.mirrors.map(async (e) => {
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
  for (const r of perEntry) {
    if (r.failure) failures.push(r.failure);
    for (const it of r.items) {
      if (seen.has(it.destination.name)) continue;
      seen.add(it.destination.name);
      items.push(it);
    }
  }
  const done = new Map<string, string[]>();
  for (const [k, p] of listed) {
    const tags = await p.catch(() => undefined);
    if (tags) done.set(k, tags);
  }
  return { items, failures, listed: done };
}

/**
 * The source references a spec selects (`registry/repo:tag` or `registry/repo@digest`), in spec
 * order, without duplicates. Lists tags where the spec filters them. Used by `save --from SPEC`.
 */
export async function selectImages(spec: MirrorSpec, client: RegistryClient, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
  const plan = await planMirror(spec, client, { signal: opts.signal });
  return [...new Set(plan.items.map((i) => i.source.name))];
}
