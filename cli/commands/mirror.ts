/**
 * `tcrane mirror SPEC`: scripted mirroring from a YAML spec (see src/mirror/spec.ts for the format),
 * optionally one shard of it (`--shard I/N`); `tcrane mirror report A.json B.json …` merges the
 * shards' `--json` reports.
 */
import type { Argv, CommandModule } from "yargs";
import { TcraneError } from "../../src/errors.js";
import { loadSpec } from "../../src/mirror/spec.js";
import { mirror, type ImageOutcome, type MirrorReport } from "../../src/mirror/run.js";
import { mergeReports, readReport, type MergedReport } from "../../src/mirror/report.js";
import { formatShard, parseShard, type ShardBy } from "../../src/mirror/shard.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";
import { formatBytes } from "../progress.js";

interface Args extends GlobalArgs {
  spec?: string;
  "dry-run": boolean;
  "keep-going": boolean;
  "image-jobs"?: number;
  shard?: string;
  "shard-by"?: ShardBy;
}

interface ReportArgs extends GlobalArgs {
  reports: string[];
}

const LABEL: Record<ImageOutcome["status"], string> = { copied: "copied", "up-to-date": "up to date", "would-copy": "copy", failed: "FAILED" };

function line(o: ImageOutcome): string {
  const what = `${LABEL[o.status].padEnd(10)} ${o.source} -> ${o.destination}`;
  return o.error ? `${what}: ${o.error.message}` : what;
}

/** The one-line summary printed on stderr. */
export function summary(r: MirrorReport): string {
  const parts = r.dryRun ? [`${r.wouldCopy} to copy`, `${r.upToDate} up to date`] : [`${r.copied} copied`, `${r.upToDate} up to date`];
  parts.push(`${r.failed} failed`);
  if (!r.dryRun) parts.push(formatBytes(r.bytes));
  const shard = r.shard ? ` shard ${formatShard(r.shard)}` : "";
  let s = `mirror${r.dryRun ? " (dry run)" : ""}${shard}: ${parts.join(", ")} in ${r.seconds.toFixed(1)} s`;
  for (const l of r.rateLimits) if (l.remaining !== undefined) s += `; ${l.registry} rate limit: ${l.remaining}${l.limit !== undefined ? `/${l.limit}` : ""} pulls left`;
  return s;
}

/** The merged reports as a table: one row per report, then the total. */
export function reportTable(m: MergedReport): string {
  const rows = [["shard", "copied", "up to date", "to copy", "failed", "bytes", "seconds", "report"]];
  for (const s of m.shards) rows.push([s.shard ?? "-", String(s.copied), String(s.upToDate), String(s.wouldCopy), String(s.failed), formatBytes(s.bytes), s.seconds.toFixed(1), s.file]);
  rows.push(["all", String(m.copied), String(m.upToDate), String(m.wouldCopy), String(m.failed), formatBytes(m.bytes), m.seconds.toFixed(1), ""]);
  const width = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 || c === r.length - 1 ? cell.padEnd(width[c]!) : cell.padStart(width[c]!))).join("  ").trimEnd());
  for (const i of m.images) if (i.status === "failed") lines.push(`${line(i)}${i.shard ? ` (shard ${i.shard})` : ""}`);
  return lines.join("\n");
}

const report: CommandModule<GlobalArgs, ReportArgs> = {
  command: "report <reports..>",
  describe: "Merge shard reports (mirror --json) into one summary; exit 1 if any image failed or a shard is missing",
  builder: (y) =>
    y
      .positional("reports", { type: "string", array: true, demandOption: true, describe: "JSON reports of tcrane mirror --json" })
      .example("$0 mirror report shard-*.json", "one summary of every shard") as never,
  handler: async (args) => {
    const m = mergeReports(await Promise.all(args.reports.map((f) => readReport(f))));
    printResult(args.json, m, () => reportTable(m));
    for (const f of m.superseded) process.stderr.write(`tcrane: warning: ${f}: a later report of the same shard counts instead\n`);
    for (const d of m.overlapping) process.stderr.write(`tcrane: warning: ${d} is in more than one report\n`);
    const n = m.shards.length;
    process.stderr.write(`mirror report: ${m.copied} copied, ${m.upToDate} up to date${m.wouldCopy ? `, ${m.wouldCopy} to copy` : ""}, ${m.failed} failed, ${formatBytes(m.bytes)} in ${m.seconds.toFixed(1)} s over ${n} report${n === 1 ? "" : "s"}\n`);
    if (m.missing.length > 0) throw new TcraneError("FAILED", `no report for shard ${m.missing.join(", ")}: that part was not mirrored`, { what: "mirror report" });
    if (m.failed > 0) throw new TcraneError("FAILED", `${m.failed} of ${m.images.length} images failed`, { what: "mirror report" });
  },
};

const command: CommandModule<GlobalArgs, Args> = {
  command: "mirror [spec]",
  describe: "Mirror repositories as a YAML spec describes (tags, filters, platforms, referrers, fan-out, shards); mirror report merges shard reports",
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(report as never)
      .positional("spec", { type: "string", describe: "YAML (or JSON) spec file, - for stdin (a file named report: ./report)" })
      .option("dry-run", { type: "boolean", default: false, describe: "Print the plan (copy / up to date per image) and write nothing" })
      .option("keep-going", { type: "boolean", default: false, describe: "Go on past failed images; exit 1 at the end if any failed" })
      .option("image-jobs", { type: "number", describe: "Images copied at once (default: spec defaults.imageJobs, else 4); -j bounds blobs for all of them" })
      .option("shard", { type: "string", describe: 'Run part I of N (I from 0 to N-1), e.g. --shard "$JOB_COMPLETION_INDEX/8": N processes together mirror the spec, each item once' })
      .option("shard-by", { choices: ["repo", "tag"] as const, describe: "Shard key (default repo): repo keeps all tags of a source repository in one shard; tag splits a large repository" })
      .example("$0 mirror mirror.yaml", "mirror what the spec names")
      .example("$0 mirror --dry-run mirror.yaml", "show what would be copied")
      .example("$0 mirror --keep-going --json mirror.yaml > report.json", "a full JSON report")
      .example("$0 mirror --shard 2/8 --json mirror.yaml > shard-2.json", "part 2 of 8 (an Indexed Job's index)")
      .example("$0 mirror report shard-*.json", "merge the shards' reports") as never,
  handler: async (args) => {
    if (args.spec === undefined) throw new TcraneError("USAGE", "mirror needs a spec file (or: tcrane mirror report A.json B.json …)");
    const shard = args.shard !== undefined ? parseShard(args.shard, args["shard-by"] ?? "repo") : undefined;
    if (!shard && args["shard-by"] !== undefined) throw new TcraneError("USAGE", "--shard-by needs --shard I/N");
    const spec = await loadSpec(args.spec); // validated before any network
    if (args.retries === undefined && spec.defaults.retries !== undefined) args.retries = spec.defaults.retries;
    await withContext(args, async (ctx) => {
      if (ctx.platform !== undefined) for (const m of spec.mirrors) m.platforms = ctx.platform === "all" ? "all" : [ctx.platform];
      const report = await mirror(ctx.client, spec, {
        jobs: args.jobs,
        imageJobs: args["image-jobs"],
        dryRun: args["dry-run"],
        keepGoing: args["keep-going"],
        allowNondistributable: args["allow-nondistributable-artifacts"],
        shard,
        signal: ctx.signal,
        onEvent: opOptions(ctx).onEvent,
      });
      ctx.progress.done();
      if (args.json || report.images.length > 0) printResult(args.json, report, () => report.images.map(line).join("\n"));
      process.stderr.write(summary(report) + "\n");
      if (report.failed > 0) {
        throw new TcraneError("FAILED", `${report.failed} of ${report.images.length} images failed`, { what: args.spec });
      }
    });
  },
};
export default command;
