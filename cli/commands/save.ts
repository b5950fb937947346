/** `tcrane save IMAGE… -o PATH`: the air-gap bundle. */
import type { CommandModule } from "yargs";
import { save } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  images: string[];
  output: string;
  format: "oci-archive" | "docker-archive" | "oci";
  compress?: "gzip" | "none";
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "save <images..>",
  describe: "Save many images (indexes intact) into one OCI archive that docker/podman can also load",
  builder: (y) =>
    y
      .positional("images", { type: "string", array: true, demandOption: true })
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "PATH of the bundle (.tar, .tar.gz)" })
      .option("format", { choices: ["oci-archive", "docker-archive", "oci"] as const, default: "oci-archive" as const })
      .option("compress", { choices: ["gzip", "none"] as const, describe: "Compress (default: by .gz/.tgz suffix)" })
      .example("$0 save alpine:3.20 busybox:1.36 -o bundle.tar.gz", "two images, one gzip bundle") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const rs = await save(ctx, args.images, args.output, { ...opOptions(ctx), format: args.format, compress: args.compress });
      printResult(args.json, rs.map((r, i) => ({ image: args.images[i], digest: r.descriptor.digest, bytes: r.bytes })), () => rs.map((r, i) => `${args.images[i]} ${r.descriptor.digest}`).join("\n"));
    }),
};
export default command;
