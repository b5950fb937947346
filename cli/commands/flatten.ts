/** `tcrane flatten IMAGE [-t TAG]`: every layer squashed into one, whiteouts applied (crane's flatten). */
import type { CommandModule } from "yargs";
import { flatten } from "../../src/mutate/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
  tag?: string;
  output?: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "flatten <image>",
  describe: "Flatten an image's layers into a single layer (each platform of an index) and push it (default: over the input tag)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Image to flatten (any place)" })
      .option("tag", { alias: "t", type: "string", describe: "Tag (reference) of the result (default: the input's tag, or by digest)" })
      .option("output", { alias: "o", type: "string", describe: "Write a docker tarball to this path instead of pushing" })
      .example("$0 flatten localhost:5000/app:1 -t localhost:5000/app:flat", "") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await flatten(ctx, args.image, { ...opOptions(ctx), tag: args.tag, output: args.output });
      if (args.output === "-") return; // the tarball went to stdout
      printResult(args.json, { destination: r.destination, digest: r.digest, mediaType: r.mediaType, images: r.images }, () => r.destination);
    }),
};
export default command;
