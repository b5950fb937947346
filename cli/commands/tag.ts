/** `tcrane tag IMAGE TAG`: another tag for an image, without moving a blob (one GET, one PUT). */
import type { CommandModule } from "yargs";
import { tagImage } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  image: string;
  tag: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "tag <image> <tag>",
  describe: "Tag an image in its repository (no blob traffic); prints the new reference",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Registry reference, e.g. localhost:5000/app:1 or …@sha256:…" })
      .positional("tag", { type: "string", demandOption: true, describe: "The new tag (just the tag)" })
      .example("$0 tag localhost:5000/app:1.2.3 stable", "localhost:5000/app:stable now points at 1.2.3") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await tagImage(ctx, args.image, String(args.tag), { signal: ctx.signal });
      printResult(args.json, r, () => r.ref);
    }),
};
export default command;
