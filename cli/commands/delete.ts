/** `tcrane delete IMAGE`: delete a manifest (a tag is resolved to its digest first, as crane does). */
import type { CommandModule } from "yargs";
import { deleteImage } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "delete <image>",
  describe: "Delete an image's manifest from its registry (by digest)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Registry reference: a tag is resolved to its digest first" })
      .example("$0 delete localhost:5000/app:old", "prints deleted localhost:5000/app@sha256:…")
      .example("$0 delete localhost:5000/app@sha256:<64 hex>", "by digest") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await deleteImage(ctx, args.image, { signal: ctx.signal });
      printResult(args.json, { deleted: r.ref, digest: r.digest }, () => `deleted ${r.ref}`);
    }),
};
export default command;
