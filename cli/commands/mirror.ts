/** `tcrane mirror SPEC`: scripted mirroring from a YAML spec (see src/mirror/spec.ts for the format). */
import type { CommandModule } from "yargs";
import { TcraneError } from "../../src/errors.js";
import { loadSpec } from "../../src/mirror/spec.js";
import { mirror, type ImageOutcome, type MirrorReport } from "../../src/mirror/run.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";
import { formatBytes } from "../progress.js";

interface Args extends GlobalArgs {
  spec: string;
  "dry-run": boolean;
  "keep-going": boolean;
  "image-jobs"?: number;
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
  let s = `mirror${r.dryRun ? " (dry run)" : ""}: ${parts.join(", ")} in ${r.seconds.toFixed(1)} s`;
  for (const l of r.rateLimits) if (l.remaining !== undefined) s += `; ${l.registry} rate limit: ${l.remaining}${l.limit !== undefined ? `/${l.limit}` : ""} pulls left`;
  return s;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "mirror <spec>",
  describe: "Mirror repositories as a YAML spec describes (tags, regex/semver filters, platforms, referrers)",
  builder: (y) =>
    y
      .positional("spec", { type: "string", demandOption: true, describe: "YAML (or JSON) spec file, - for stdin" })
      .option("dry-run", { type: "boolean", default: false, describe: "Print the plan (copy / up to date per image) and write nothing" })
      .option("keep-going", { type: "boolean", default: false, describe: "Go on past failed images; exit 1 at the end if any failed" })
      .option("image-jobs", { type: "number", describe: "Images copied at once (default: spec defaults.imageJobs, else 4); -j bounds blobs for all of them" })
      .example("$0 mirror mirror.yaml", "mirror what the spec names")
      .example("$0 mirror --dry-run mirror.yaml", "show what would be copied")
      .example("$0 mirror --keep-going --json mirror.yaml > report.json", "a full JSON report") as never,
  handler: async (args) => {
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
        signal: ctx.signal,
        onEvent: ctx.progress.listener,
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
