/** `tcrane validate IMAGE|PATH [--fast]`: re-read everything and check every digest and size. */
import type { CommandModule } from "yargs";
import { validate } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  target: string;
  fast: boolean;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "validate <target>",
  describe: "Check every blob of an image, archive or layout; exit 1 naming the first bad blob",
  builder: (y) =>
    y
      .positional("target", { type: "string", demandOption: true })
      .option("fast", { type: "boolean", default: false, describe: "Check manifests and configs, only the presence of layers" })
      .example("$0 validate bundle.tar.gz", "every image of a bundle, offline")
      .example("$0 validate localhost:5000/app:1 --fast", "an image in a registry") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const rs = await validate(ctx, args.target, { ...opOptions(ctx), fast: args.fast });
      printResult(args.json, rs, () => rs.map((r) => `${r.name} ${r.digest} ok (${r.blobs} blobs)`).join("\n"));
    }),
};
export default command;
