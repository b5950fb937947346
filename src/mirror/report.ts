/**
 * Shard reports (`tcrane mirror --json --shard I/N SPEC > shard-I.json`) merged into one summary
 * (`tcrane mirror report shard-*.json`): copied, up to date, failed, bytes and time, per shard and in
 * all, the shards missing from a complete set, and any destination two reports both name (a
 * partition that overlapped: it never happens with one spec and one N).
 */
import { readFile } from "node:fs/promises";
import { TcraneError, toTcraneError } from "../errors.js";
import type { ImageOutcome, MirrorCounts, MirrorReport } from "./run.js";
import { formatShard, type Shard } from "./shard.js";

/** A report and the file it came from. */
export interface ShardReport {
  file: string;
  report: MirrorReport;
}

/** One row of the merged summary. */
export interface MergedShard extends MirrorCounts {
  file: string;
  /** `I/N`, absent for a report of a whole (unsharded) run. */
  shard?: string;
}

/** Several reports as one. */
export interface MergedReport extends MirrorCounts {
  shards: MergedShard[];
  /** (seconds: wall time, first start to last end over every report; the longest run when times are absent.) */
  /** Every image of every report, with its shard. */
  images: Array<ImageOutcome & { shard?: string }>;
  /** Shards (`I/N`) of the set that have no report: their part was not mirrored. */
  missing: string[];
  /** Files replaced by a later report of the same shard (a retried job). */
  superseded: string[];
  /** Destinations named by more than one report. */
  overlapping: string[];
}

const COUNTS = ["copied", "upToDate", "wouldCopy", "failed", "bytes", "seconds"] as const satisfies ReadonlyArray<keyof MirrorCounts>;

/** Read and check one report file (MALFORMED, exit 2, when it is not a tcrane mirror report). */
export async function readReport(path: string): Promise<ShardReport> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const err = toTcraneError(e);
    throw new TcraneError(err.code, err.message, { what: path, cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TcraneError("MALFORMED", `not JSON (${(e as Error).message})`, { what: path });
  }
  const r = value as Partial<MirrorReport> | null;
  const bad = (why: string) => new TcraneError("MALFORMED", `not a tcrane mirror report: ${why} (write one with tcrane mirror --json SPEC)`, { what: path });
  if (!r || typeof r !== "object" || Array.isArray(r)) throw bad("expected a JSON object");
  if (!Array.isArray(r.images)) throw bad('no "images" list');
  for (const k of COUNTS) if (typeof r[k] !== "number") throw bad(`"${k}" is not a number`);
  if (r.shard !== undefined) {
    const s = r.shard as Partial<Shard>;
    if (!Number.isInteger(s.index) || !Number.isInteger(s.count) || s.index! < 0 || s.index! >= s.count! || (s.by !== "repo" && s.by !== "tag")) throw bad('"shard" is not {index, count, by}');
  }
  return { file: path, report: r as MirrorReport };
}

/**
 * Merge reports. Sharded reports must agree on N and the shard key (else USAGE: they are not one
 * partition); of two reports of one shard the later (finishedAt) counts.
 */
export function mergeReports(list: ShardReport[]): MergedReport {
  const sharded = list.filter((r) => r.report.shard);
  const first = sharded[0]?.report.shard;
  for (const r of sharded) {
    const s = r.report.shard!;
    if (s.count !== first!.count || s.by !== first!.by) {
      throw new TcraneError("USAGE", `${r.file} is shard ${formatShard(s)} by ${s.by} but ${sharded[0]!.file} is shard ${formatShard(first!)} by ${first!.by}: not one set of shards`);
    }
  }
  const byIndex = new Map<number, ShardReport>();
  const superseded: string[] = [];
  const kept: ShardReport[] = [];
  for (const r of list) {
    const s = r.report.shard;
    if (!s) {
      kept.push(r);
      continue;
    }
    const other = byIndex.get(s.index);
    if (!other) byIndex.set(s.index, r);
    else if ((r.report.finishedAt ?? "") >= (other.report.finishedAt ?? "")) {
      superseded.push(other.file);
      byIndex.set(s.index, r);
    } else superseded.push(r.file);
  }
  kept.push(...[...byIndex.values()].sort((a, b) => a.report.shard!.index - b.report.shard!.index));
  const missing: string[] = [];
  if (first) for (let i = 0; i < first.count; i++) if (!byIndex.has(i)) missing.push(`${i}/${first.count}`);

  const images: MergedReport["images"] = [];
  const owner = new Map<string, string>();
  const overlapping = new Set<string>();
  for (const { file, report } of kept) {
    const shard = report.shard ? formatShard(report.shard) : undefined;
    for (const img of report.images) {
      images.push(shard ? { ...img, shard } : { ...img });
      if (!img.destination) continue;
      const seen = owner.get(img.destination);
      if (seen !== undefined && seen !== file) overlapping.add(img.destination);
      owner.set(img.destination, file);
    }
  }
  const sum = (k: (typeof COUNTS)[number]) => kept.reduce((n, r) => n + r.report[k], 0);
  const starts = kept.map((r) => Date.parse(r.report.startedAt ?? "")).filter(Number.isFinite);
  const ends = kept.map((r) => Date.parse(r.report.finishedAt ?? "")).filter(Number.isFinite);
  const seconds =
    starts.length === kept.length && ends.length === kept.length && kept.length > 0
      ? (Math.max(...ends) - Math.min(...starts)) / 1000
      : Math.max(0, ...kept.map((r) => r.report.seconds));
  return {
    shards: kept.map(({ file, report }) => ({
      file,
      ...(report.shard ? { shard: formatShard(report.shard) } : {}),
      ...(Object.fromEntries(COUNTS.map((k) => [k, report[k]])) as unknown as MirrorCounts),
    })),
    copied: sum("copied"),
    upToDate: sum("upToDate"),
    wouldCopy: sum("wouldCopy"),
    failed: sum("failed"),
    bytes: sum("bytes"),
    seconds,
    images,
    missing,
    superseded,
    overlapping: [...overlapping].sort(),
  };
}
