/** `tcrane rebase IMAGE --old_base OLD --new_base NEW [-t TAG]`: swap the base layers of an image (crane's rebase). */
import type { CommandModule } from "yargs";
import { rebase } from "../../src/mutate/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
  old_base?: string;
  new_base?: string;
  tag?: string;
  output?: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "rebase <image>",
  describe: "Rebase an image onto a new base image (each platform of an index) and push it (default: over the input tag)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Image to rebase (any place)" })
      .option("old_base", { alias: "old-base", type: "string", describe: "Base the image was built on (default: its base annotations)" })
      .option("new_base", { alias: "new-base", type: "string", describe: "Base to put under it (default: its base-name annotation)" })
      .option("tag", { alias: "t", type: "string", describe: "Tag (reference) of the result (default: the input's tag, or by digest)" })
      .option("output", { alias: "o", type: "string", describe: "Write a docker tarball to this path instead of pushing" })
      .example("$0 rebase localhost:5000/app:1 --old_base localhost:5000/base:1 --new_base localhost:5000/base:2 -t localhost:5000/app:2", "") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await rebase(ctx, args.image, { ...opOptions(ctx), oldBase: args.old_base, newBase: args.new_base, tag: args.tag, output: args.output });
      if (args.output === "-") return; // the tarball went to stdout
      printResult(args.json, { destination: r.destination, digest: r.digest, mediaType: r.mediaType, images: r.images }, () => r.destination);
    }),
};
export default command;
