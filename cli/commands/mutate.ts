/** `tcrane mutate IMAGE`: change labels, annotations, env, entrypoint, cmd, user, workdir, ports, platform; append layers (crane's mutate). */
import type { CommandModule } from "yargs";
import { mutate } from "../../src/mutate/ops.js";
import { keyValues, stringSlice } from "../../src/mutate/args.js";
import { parsePlatform } from "../../src/image/platform.js";
import type { GlobalArgs } from "../globals.js";
import { opOptions, withContext } from "../context.js";
import { printResult } from "../output.js";

type Many = string | string[] | undefined;

interface Args extends GlobalArgs {
  image: string;
  annotation?: Many;
  label?: Many;
  env?: Many;
  entrypoint?: Many;
  cmd?: Many;
  user?: string;
  workdir?: string;
  "exposed-ports"?: Many;
  "set-platform"?: string;
  append?: Many;
  tag?: string;
  repo?: string;
  output?: string;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "mutate <image>",
  describe: "Modify an image's config and annotations (each platform of an index) and push it (default: over the input tag)",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Image to change (any place)" })
      .option("annotation", { alias: "a", type: "string", describe: "Manifest annotation KEY=VALUE to add (repeatable)" })
      .option("label", { alias: "l", type: "string", describe: "Label KEY=VALUE to add (repeatable)" })
      .option("env", { alias: "e", type: "string", describe: "Environment variable KEY=VALUE to set (repeatable)" })
      .option("entrypoint", { type: "string", describe: "New entrypoint (comma-separated, or a JSON array); clears Cmd as docker does" })
      .option("cmd", { type: "string", describe: "New cmd (comma-separated, or a JSON array)" })
      .option("user", { alias: "u", type: "string", describe: "New user" })
      .option("workdir", { alias: "w", type: "string", describe: "New working directory" })
      .option("exposed-ports", { type: "string", describe: "Ports to expose, replacing the old ones (e.g. 8080,53/udp)" })
      .option("set-platform", { type: "string", describe: "New platform os/arch[/variant][:osversion] in the config" })
      .option("append", { type: "string", describe: "Tar file to append as a layer (repeatable)" })
      .option("tag", { alias: "t", type: "string", describe: "Tag (reference) of the result (default: the input's tag, or by digest)" })
      .option("repo", { alias: "r", type: "string", describe: "Push by digest to this repository instead" })
      .option("output", { alias: "o", type: "string", describe: "Write a docker tarball to this path instead of pushing" })
      .example("$0 mutate localhost:5000/app:1 --label org.example=x --env MODE=prod", "in place")
      .example("$0 mutate app:1 --entrypoint /bin/app,--serve -t localhost:5000/app:2", "to a new tag") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const r = await mutate(ctx, args.image, {
        ...opOptions(ctx),
        changes: {
          labels: keyValues(args.label, "label", false),
          env: keyValues(args.env, "env"),
          entrypoint: stringSlice(args.entrypoint),
          cmd: stringSlice(args.cmd),
          user: args.user,
          workdir: args.workdir,
          exposedPorts: stringSlice(args["exposed-ports"]),
          platform: args["set-platform"] ? parsePlatform(args["set-platform"]) : undefined,
        },
        annotations: keyValues(args.annotation, "annotation", false),
        append: stringSlice(args.append),
        tag: args.tag,
        repo: args.repo,
        output: args.output,
      });
      if (args.output === "-") return; // the tarball went to stdout
      printResult(args.json, { destination: r.destination, digest: r.digest, mediaType: r.mediaType, images: r.images }, () => r.destination);
    }),
};
export default command;
