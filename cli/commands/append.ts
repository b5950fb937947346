/** `tcrane append -f LAYER.tar… -t NEW [-b BASE] [-o PATH]`: new layers on a base image (crane's append). */
import type { CommandModule } from "yargs";
import { append } from "../../src/mutate/ops.js";
import { stringSlice } from "../../src/mutate/args.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  base?: string;
  new_layer?: string | string[];
  new_tag?: string;
  output?: string;
  "oci-empty-base": boolean;
  "set-base-image-annotations": boolean;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "append",
  describe: "Append tarballs as layers to a base image (each platform of an index) and push or save the result",
  builder: (y) =>
    y
      .option("base", { alias: "b", type: "string", describe: "Base image (any place); default: an empty image" })
      .option("new_layer", { alias: ["f", "new-layer"], type: "string", describe: "Tar file to append as a layer (- = stdin); repeatable, comma-separated" })
      .option("new_tag", { alias: ["t", "new-tag"], type: "string", describe: "Tag (reference) of the new image" })
      .option("output", { alias: "o", type: "string", describe: "Write a docker tarball to this path instead of pushing" })
      .option("oci-empty-base", { type: "boolean", default: false, describe: "Empty base with OCI media types instead of Docker" })
      .option("set-base-image-annotations", { type: "boolean", default: false, describe: "Annotate the result with the base image's name and digest" })
      .example("$0 append -f <(tar -c -C dir .) -t localhost:5000/app:1", "a one-layer image from a directory")
      .example("$0 append -b alpine -f app.tar -t localhost:5000/app:1", "a layer on top of a base") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await append(ctx, {
        ...opOptions(ctx),
        base: args.base,
        layers: stringSlice(args.new_layer),
        tag: args.new_tag,
        output: args.output,
        ociEmptyBase: args["oci-empty-base"],
        setBaseImageAnnotations: args["set-base-image-annotations"],
      });
      if (args.output === "-") return; // the tarball went to stdout
      printResult(args.json, { destination: r.destination, digest: r.digest, mediaType: r.mediaType, images: r.images }, () => r.destination);
    }),
};
export default command;
