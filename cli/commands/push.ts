/** `tcrane push PATH IMAGE` and `tcrane push PATH --to REGISTRY[/PREFIX]`. */
import type { CommandModule } from "yargs";
import { writeFile } from "node:fs/promises";
import { TcraneError } from "../../src/errors.js";
import { push, pushAll } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  path: string;
  image?: string;
  to?: string;
  index: boolean;
  "image-refs"?: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "push <path> [image]",
  describe: "Push an archive or OCI layout to a registry; prints repo@digest",
  builder: (y) =>
    y
      .positional("path", { type: "string", demandOption: true, describe: "archive file or OCI layout directory" })
      .positional("image", { type: "string", describe: "destination reference" })
      .option("to", { type: "string", describe: "Push every image the archive holds under REGISTRY[/PREFIX]" })
      .option("index", { type: "boolean", default: false, describe: "Push the layout's whole index (default: its single image)" })
      .option("image-refs", { type: "string", describe: "Write the pushed repo@digest lines to FILE" })
      .example("$0 push app.tar localhost:5000/app:1", "one image")
      .example("$0 push bundle.tar --to registry.internal:5000/mirror", "every image of an air-gap bundle, re-rooted") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      let lines: string[];
      let json: unknown;
      if (args.to) {
        if (args.image) throw new TcraneError("USAGE", "give either IMAGE or --to, not both");
        const rs = await pushAll(ctx, args.path, args.to, opOptions(ctx));
        lines = rs.map((r) => r.destination);
        json = rs.map((r) => ({ destination: r.destination, digest: r.descriptor.digest, upToDate: r.upToDate }));
      } else {
        if (!args.image) throw new TcraneError("USAGE", "push needs an IMAGE or --to REGISTRY[/PREFIX]");
        const r = await push(ctx, args.path, args.image, { ...opOptions(ctx), index: args.index });
        lines = [r.destination];
        json = { destination: r.destination, digest: r.descriptor.digest, upToDate: r.upToDate };
      }
      if (args["image-refs"]) await writeFile(args["image-refs"], lines.join("\n") + "\n");
      printResult(args.json, json, () => lines.join("\n"));
    }),
};
export default command;
