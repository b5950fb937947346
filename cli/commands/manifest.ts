/** `tcrane manifest IMAGE`: the raw manifest bytes, exactly as the place holds them. */
import type { CommandModule } from "yargs";
import { getManifest } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";

interface Args extends GlobalArgs {
  image: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "manifest <image>",
  describe: "Print an image's manifest (raw bytes; --platform picks a child of an index)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "REF, docker://REF, docker-archive:PATH[:REF], oci:DIR[:NAME], oci-archive:PATH[:NAME]" })
      .example("$0 manifest localhost:5000/app:1", "the manifest or index as served")
      .example("$0 manifest --platform linux/arm64 ubuntu", "the arm64 child of an index")
      .example("$0 manifest oci:./layout:app", "from an OCI layout") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const m = await getManifest(ctx, args.image, { platform: ctx.platform, signal: ctx.signal });
      process.stdout.write(m.bytes);
    }),
};
export default command;
