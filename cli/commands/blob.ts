/** `tcrane blob REPO@DIGEST`: stream a blob to stdout, verified against its digest (never buffered). */
import type { CommandModule } from "yargs";
import { streamBlob } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";

interface Args extends GlobalArgs {
  blob: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "blob <blob>",
  describe: "Write a blob to stdout, verified while it streams (exit 1 on a digest mismatch)",
  builder: (y) =>
    y
      .positional("blob", { type: "string", demandOption: true, describe: "REPO@DIGEST, e.g. localhost:5000/app@sha256:…" })
      .example("$0 blob localhost:5000/app@sha256:<64 hex> > layer.tar.gz", "save a layer")
      .example("$0 blob localhost:5000/app@sha256:<64 hex> | tar tz", "list a layer's files") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      await streamBlob(ctx, args.blob, process.stdout, { signal: ctx.signal });
    }),
};
export default command;
