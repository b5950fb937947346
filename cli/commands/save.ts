/** `tcrane save IMAGE… -o PATH [--from SPEC]`: the air-gap bundle. */
import type { CommandModule } from "yargs";
import { TcraneError } from "../../src/errors.js";
import { save } from "../../src/transfer/ops.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  images: string[];
  output?: string;
  from?: string;
  format: "oci-archive" | "docker-archive" | "oci";
  compress?: "gzip" | "none";
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "save [images..]",
  describe: "Save many images (indexes intact) into one OCI archive that docker/podman can also load",
  builder: (y) =>
    y
      .positional("images", { type: "string", array: true, default: [] as string[] })
      .option("output", { alias: "o", type: "string", describe: "PATH of the bundle (.tar, .tar.gz); default: a name made from the single IMAGE" })
      .option("from", { type: "string", describe: "Also save every image a mirror SPEC selects" })
      .option("format", { choices: ["oci-archive", "docker-archive", "oci"] as const, default: "oci-archive" as const })
      .option("compress", { choices: ["gzip", "none"] as const, describe: "Compress (default: by .gz/.tgz suffix)" })
      .example("$0 save alpine:3.20 busybox:1.36 -o bundle.tar.gz", "two images, one gzip bundle")
      .example("$0 save --from mirror.yaml -o bundle.tar", "everything a mirror spec selects")
      .example("$0 save ghcr.io/o/app:1.2", "one image into ghcr-io-o-app-1-2.tar") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const images = [...args.images];
      if (args.from) {
        const { loadSpec, selectImages } = await import("../../src/mirror/index.js");
        images.push(...(await selectImages(await loadSpec(args.from), ctx.client, { signal: ctx.signal })));
      }
      if (images.length === 0) throw new TcraneError("USAGE", "save needs at least one IMAGE or --from SPEC");
      let output = args.output;
      if (!output) {
        if (images.length !== 1) throw new TcraneError("USAGE", "save needs -o PATH when it saves several images");
        const { default: slugify } = await import("@sindresorhus/slugify");
        output = `${slugify(images[0]!.replace(/^docker:\/\//, ""))}.tar`;
        process.stderr.write(`tcrane: saving to ${output}\n`);
      }
      const rs = await save(ctx, images, output, { ...opOptions(ctx), format: args.format, compress: args.compress });
      printResult(args.json, rs.map((r, i) => ({ image: images[i], digest: r.descriptor.digest, bytes: r.bytes })), () => rs.map((r, i) => `${images[i]} ${r.descriptor.digest}`).join("\n"));
    }),
};
export default command;
