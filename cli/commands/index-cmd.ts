/** `tcrane index list|filter|append`: inspect and edit image indexes (crane's index). */
import type { Argv, CommandModule } from "yargs";
import { indexAppend, indexFilter, indexList } from "../../src/mutate/ops.js";
import { many, stringSlice } from "../../src/mutate/args.js";
import { parsePlatformPatterns } from "../../src/mutate/index-edit.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

interface ListArgs extends GlobalArgs {
  image: string;
}

const list: CommandModule<GlobalArgs, ListArgs> = {
  command: "list <image>",
  aliases: ["ls"],
  describe: "List the manifests of an index: digest, platform, media type",
  builder: (y) => y.positional("image", { type: "string", demandOption: true, describe: "Index (any place)" }) as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await indexList(ctx, args.image, { signal: ctx.signal });
      printResult(args.json, r, () => r.manifests.map((m) => `${m.digest}\t${m.platform ?? "-"}\t${m.mediaType}`).join("\n"));
    }),
};

interface FilterArgs extends Omit<GlobalArgs, "platform"> {
  image: string;
  platform?: string | string[];
  tag?: string;
}

const filter: CommandModule<GlobalArgs, FilterArgs> = {
  command: "filter <image>",
  describe: "Keep only some platforms of an index and push it (default: over the input tag)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Index (any place)" })
      .option("platform", { type: "string", describe: "Platform(s) to keep: os[/arch[/variant]][:osversion], repeatable, comma-separated" })
      .option("tag", { alias: "t", type: "string", describe: "Tag (reference) of the result" })
      .example("$0 index filter localhost:5000/app:1 --platform linux/amd64 --platform linux/arm64 -t localhost:5000/app:slim", "")
      .example("$0 index filter localhost:5000/app:1 --platform linux", "every linux platform, in place") as never,
  handler: (args) => {
    const platforms = many(args.platform).flatMap(parsePlatformPatterns);
    return withContext({ ...args, platform: undefined } as GlobalArgs, async (ctx) => {
      const r = await indexFilter(ctx, args.image, { ...opOptions(ctx), platform: undefined, platforms, tag: args.tag });
      printResult(args.json, { destination: r.destination, digest: r.digest, mediaType: r.mediaType, manifests: r.images }, () => r.destination);
    });
  },
};

interface AppendArgs extends GlobalArgs {
  base?: string;
  manifest?: string | string[];
  tag?: string;
  "docker-empty-base": boolean;
  flatten: boolean;
}

const append: CommandModule<GlobalArgs, AppendArgs> = {
  command: "append [base]",
  describe: "Append manifests to an index (or to a new empty one) and push it",
  builder: (y) =>
    y
      .positional("base", { type: "string", describe: "Base index (any place); default: an empty index" })
      .option("manifest", { alias: "m", type: "string", describe: "Manifest or index to append (repeatable, comma-separated)" })
      .option("tag", { alias: "t", type: "string", describe: "Tag (reference) of the result (default: the base's tag)" })
      .option("docker-empty-base", { type: "boolean", default: false, describe: "Empty base index as a Docker manifest list instead of OCI" })
      .option("flatten", { type: "boolean", default: true, describe: "Appending an index appends its children rather than the index" })
      .example("$0 index append -m localhost:5000/app:amd64 -m localhost:5000/app:arm64 -t localhost:5000/app:1", "an index from scratch") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await indexAppend(ctx, args.base, {
        ...opOptions(ctx),
        manifests: stringSlice(args.manifest),
        tag: args.tag,
        dockerEmptyBase: args["docker-empty-base"],
        flatten: args.flatten,
      });
      printResult(args.json, { destination: r.destination, digest: r.digest, mediaType: r.mediaType, manifests: r.images }, () => r.destination);
    }),
};

const command: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "index <command>",
  describe: "List and edit image indexes (list, filter, append)",
  builder: (y: Argv<GlobalArgs>) => y.command(list).command(filter as never).command(append).demandCommand(1, "index needs a subcommand: list, filter or append") as never,
  handler: () => {},
};
export default command;
