/** `tcrane pull IMAGE… PATH`: crane's pull (tarball, legacy, oci, oci-archive). */
import type { CommandModule } from "yargs";
import { TcraneError } from "../../src/errors.js";
import { pull } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  args: string[];
  format: "tarball" | "legacy" | "oci" | "oci-archive";
  "annotate-ref": boolean;
  compress?: "gzip" | "none";
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "pull <args..>",
  describe: "Pull images into one file or OCI layout (IMAGE… PATH)",
  builder: (y) =>
    y
      .positional("args", { type: "string", array: true, demandOption: true, describe: "IMAGE… PATH" })
      .option("format", { choices: ["tarball", "legacy", "oci", "oci-archive"] as const, default: "tarball" as const, describe: "Output format" })
      .option("annotate-ref", { type: "boolean", default: false, describe: "Set org.opencontainers.image.ref.name to the full reference (oci; always on in tcrane)" })
      .option("compress", { choices: ["gzip", "none"] as const, describe: "Compress the archive (default: by .gz/.tgz suffix)" })
      .example("$0 pull alpine:3.20 alpine.tar", "a docker-loadable tarball (crane's tarball form)")
      .example("$0 pull --format oci alpine:3.20 busybox ./layout", "two images into an OCI layout directory") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      if (args.args.length < 2) throw new TcraneError("USAGE", "pull needs at least one IMAGE and a PATH");
      const path = args.args[args.args.length - 1]!;
      const images = args.args.slice(0, -1);
      const rs = await pull(ctx, images, path, { ...opOptions(ctx), format: args.format, compress: args.compress });
      printResult(args.json, rs.map((r, i) => ({ image: images[i], digest: r.descriptor.digest, bytes: r.bytes })), () => rs.map((r, i) => `${images[i]} ${r.descriptor.digest}`).join("\n"));
    }),
};
export default command;
