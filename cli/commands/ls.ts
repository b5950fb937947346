/** `tcrane ls REPO`: every tag of a repository (every page). */
import type { CommandModule } from "yargs";
import { listTags } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  repo: string;
  "full-ref": boolean;
  "omit-digest-tags": boolean;
  "page-size"?: number;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "ls <repo>",
  describe: "List the tags of a repository",
  builder: (y) =>
    y
      .positional("repo", { type: "string", demandOption: true, describe: "REGISTRY/REPOSITORY, e.g. localhost:5000/app" })
      .option("full-ref", { type: "boolean", default: false, describe: "Print repo:tag instead of the tag" })
      .option("omit-digest-tags", { alias: "O", type: "boolean", default: false, describe: "Omit sha256-… tags (signatures, attestations)" })
      .option("page-size", { type: "number", describe: "Tags per request (default: the registry's)" })
      .example("$0 ls localhost:5000/app", "one tag a line")
      .example("$0 ls -O --full-ref ghcr.io/o/app", "repo:tag lines, signature tags left out")
      .example("$0 ls --json localhost:5000/app", "a JSON array") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const tags = await listTags(ctx, args.repo, {
        fullRef: args["full-ref"],
        omitDigestTags: args["omit-digest-tags"],
        pageSize: args["page-size"],
        signal: ctx.signal,
      });
      if (args.json) printResult(true, tags);
      else if (tags.length) process.stdout.write(tags.join("\n") + "\n");
    }),
};
export default command;
