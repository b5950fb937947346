/** `tcrane config IMAGE`: the raw config blob (for an index: the platform's, default linux/amd64). */
import type { CommandModule } from "yargs";
import { getConfig } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";

interface Args extends GlobalArgs {
  image: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "config <image>",
  describe: "Print an image's config (raw bytes; an index is resolved to --platform, default linux/amd64)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "REF, docker://REF, docker-archive:PATH[:REF], oci:DIR[:NAME], oci-archive:PATH[:NAME]" })
      .example("$0 config localhost:5000/app:1", "the config JSON")
      .example("$0 config --platform linux/arm64 ubuntu | jq .config.Env", "the arm64 image's environment") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const c = await getConfig(ctx, args.image, { platform: ctx.platform, signal: ctx.signal });
      process.stdout.write(c.bytes);
    }),
};
export default command;
