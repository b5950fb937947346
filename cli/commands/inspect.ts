/** `tcrane inspect IMAGE`: a skopeo-style JSON summary of an image in any place. */
import type { CommandModule } from "yargs";
import { inspect } from "../../src/ops/inspect.js";
import { getConfig, getManifest } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
  raw?: boolean;
  config?: boolean;
  "no-tags": boolean;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "inspect <image>",
  describe: "Summarise an image as skopeo inspect does: name, digest, tags, created, platform, layers, env",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "REF, docker://REF, docker-archive:PATH[:REF], oci:DIR[:NAME], oci-archive:PATH[:NAME]" })
      .option("raw", { type: "boolean", describe: "Print the raw manifest instead" })
      .option("config", { type: "boolean", describe: "Print the raw config instead" })
      .option("no-tags", { alias: "n", type: "boolean", default: false, describe: "Do not list the repository's tags" })
      .conflicts("raw", "config")
      .example("$0 inspect localhost:5000/app:1", "JSON summary")
      .example("$0 inspect --platform linux/arm64 ubuntu", "one image of an index")
      .example("$0 inspect --config docker-archive:app.tar", "the config of an archived image") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const o = { platform: ctx.platform, signal: ctx.signal };
      if (args.raw) {
        process.stdout.write((await getManifest(ctx, args.image, o)).bytes);
        return;
      }
      if (args.config) {
        process.stdout.write((await getConfig(ctx, args.image, o)).bytes);
        return;
      }
      printResult(true, await inspect(ctx, args.image, { ...o, noTags: args["no-tags"] }));
    }),
};
export default command;
