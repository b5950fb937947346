/** `tcrane export IMAGE|- TAR|-`: the flattened filesystem of an image as one tar, whiteouts applied. */
import type { CommandModule } from "yargs";
import { DEFAULT_EXPORT_MAX_BYTES, DEFAULT_EXPORT_MAX_ENTRIES, exportImage } from "../../src/ops/export.js";
import { TcraneError } from "../../src/errors.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
  tar: string;
  "max-bytes": number;
  "max-entries": number;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "export <image> <tar>",
  describe: "Export an image's flattened filesystem as a tar (whiteouts applied as docker does)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "any place, or - for an image tarball on stdin" })
      .positional("tar", { type: "string", demandOption: true, describe: "output file, or - for stdout" })
      .option("max-bytes", {
        type: "number",
        default: DEFAULT_EXPORT_MAX_BYTES,
        describe: "Abort after this many uncompressed bytes (decompression-bomb guard; default 64 GiB)",
      })
      .option("max-entries", {
        type: "number",
        default: DEFAULT_EXPORT_MAX_ENTRIES,
        describe: "Abort after this many distinct paths (bounds the memory of the seen-path set)",
      })
      .example("$0 export localhost:5000/app:1 fs.tar", "the image's filesystem")
      .example("$0 export ubuntu - | tar t", "to stdout")
      .example("docker save app | $0 export - fs.tar", "from an image tarball on stdin") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const max = args["max-bytes"];
      const maxEntries = args["max-entries"];
      if (!Number.isSafeInteger(max) || max <= 0) throw new TcraneError("USAGE", "--max-bytes must be a positive integer", { what: String(max) });
      if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) throw new TcraneError("USAGE", "--max-entries must be a positive integer", { what: String(maxEntries) });
      // yargs hands a lone `-` positional over as "" (nothing else can be empty here).
      const image = args.image === "" ? "-" : String(args.image);
      const out = args.tar === "" ? "-" : String(args.tar);
      const r = await exportImage(ctx, image, out, { platform: ctx.platform, maxBytes: max, maxEntries, signal: ctx.signal });
      if (out !== "-" && args.json) printResult(true, { output: out, digest: r.digest, entries: r.entries, layers: r.layers, bytesRead: r.bytesRead });
    }),
};
export default command;
