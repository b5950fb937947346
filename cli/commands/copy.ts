/** `tcrane copy SRC DST` (alias cp): any place to any place, one engine. */
import type { CommandModule } from "yargs";
import { copy, copyAllTags } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  src: string;
  dst: string;
  "all-tags": boolean;
  "no-clobber": boolean;
  compress?: "gzip" | "none";
  format?: "tarball" | "legacy";
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "copy <src> <dst>",
  aliases: ["cp"],
  describe: "Copy an image (or a whole index) from any place to any place",
  builder: (y) =>
    y
      .positional("src", { type: "string", demandOption: true, describe: "REF, docker://REF, docker-archive:PATH[:REF], oci:DIR[:NAME], oci-archive:PATH[:NAME]" })
      .positional("dst", { type: "string", demandOption: true, describe: "same forms as SRC" })
      .option("all-tags", { alias: "a", type: "boolean", default: false, describe: "Copy every tag of the source repository" })
      .option("no-clobber", { alias: "n", type: "boolean", default: false, describe: "Refuse to overwrite an existing tag" })
      .option("compress", { choices: ["gzip", "none"] as const, describe: "Compress a written archive (default: by .gz/.tgz suffix)" })
      .option("format", { choices: ["tarball", "legacy"] as const, describe: "docker-archive form to write" })
      .example("$0 copy ubuntu:24.04 localhost:5000/ubuntu:24.04", "registry to registry, digests kept")
      .example("$0 copy ghcr.io/o/app:1 oci-archive:app.tar", "registry to an OCI archive")
      .example("$0 copy -a src.example.com/team/app dst.example.com/team/app", "every tag") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      if (args["all-tags"]) {
        const rs = await copyAllTags(ctx, args.src, args.dst, { ...opOptions(ctx), noClobber: args["no-clobber"] });
        printResult(args.json, rs.map((r) => ({ destination: r.destination, digest: r.descriptor.digest, upToDate: r.upToDate })), () => rs.map((r) => r.destination).join("\n"));
        return;
      }
      const r = await copy(ctx, args.src, args.dst, { ...opOptions(ctx), noClobber: args["no-clobber"], compress: args.compress, format: args.format });
      printResult(args.json, { destination: r.destination, digest: r.descriptor.digest, upToDate: r.upToDate, bytes: r.bytes, blobs: r.blobs }, () => r.destination);
    }),
};
export default command;
