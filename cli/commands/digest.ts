/** `tcrane digest IMAGE`: the digest of an image in any place. */
import type { CommandModule } from "yargs";
import { digest } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
  "full-ref": boolean;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "digest <image>",
  describe: "Print the digest of an image (registry, archive or layout)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true })
      .option("full-ref", { type: "boolean", default: false, describe: "Print repo@digest" })
      .example("$0 digest localhost:5000/app:1", "HEAD first, GET fallback")
      .example("$0 digest oci-archive:bundle.tar:app", "in an archive") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await digest(ctx, args.image, { platform: ctx.platform, signal: ctx.signal });
      const full = args["full-ref"] && r.place.reference ? `${r.place.reference.context}@${r.digest}` : r.digest;
      printResult(args.json, { digest: r.digest, mediaType: r.mediaType, ref: full }, () => full);
    }),
};
export default command;
