/** `tcrane catalog REGISTRY`: every repository of a registry (every page). */
import type { CommandModule } from "yargs";
import { catalog } from "../../src/ops/look.js";
import type { GlobalArgs } from "../globals.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

interface Args extends GlobalArgs {
  registry: string;
  "full-ref": boolean;
  "page-size"?: number;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "catalog <registry>",
  describe: "List the repositories of a registry",
  builder: (y) =>
    y
      .positional("registry", { type: "string", demandOption: true, describe: "host[:port], e.g. localhost:5000" })
      .option("full-ref", { type: "boolean", default: false, describe: "Print registry/repository" })
      .option("page-size", { type: "number", describe: "Repositories per request (default: the registry's)" })
      .example("$0 catalog localhost:5000", "one repository a line")
      .example("$0 catalog --full-ref --json localhost:5000", "a JSON array of registry/repository") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const repos = await catalog(ctx, args.registry, { fullRef: args["full-ref"], pageSize: args["page-size"], signal: ctx.signal });
      if (args.json) printResult(true, repos);
      else if (repos.length) process.stdout.write(repos.join("\n") + "\n");
    }),
};
export default command;
