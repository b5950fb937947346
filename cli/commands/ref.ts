/**
 * `tcrane ref REF`: print how a reference is parsed (crane's `name.ParseReference`).
 */
import type { CommandModule } from "yargs";
import type { GlobalArgs } from "../globals.js";
import { parseReference, registryScheme } from "../../src/reference/index.js";
import { printResult } from "../output.js";

interface RefArgs extends GlobalArgs {
  ref: string;
  strict: boolean;
}

const command: CommandModule<GlobalArgs, RefArgs> = {
  command: "ref <ref>",
  describe: "Print the parsed form of an image reference (exit 2 with the reason when invalid)",
  builder: (y) =>
    y
      .positional("ref", { type: "string", demandOption: true, describe: "Image reference (docker:// optional), e.g. ubuntu or localhost:5000/a/b:tag" })
      .option("strict", { type: "boolean", default: false, describe: "Strict validation: registry and tag required, no implicit library/" })
      .example("$0 ref ubuntu", "registry: index.docker.io, repository: library/ubuntu, tag: latest")
      .example("$0 ref --json localhost:5000/a/b@sha256:<64 hex>", "The parsed reference as JSON") as never,
  handler: (argv) => {
    // `docker://REF` names the same registry reference (cli.md "Where an image lives").
    const input = argv.ref.startsWith("docker://") ? argv.ref.slice("docker://".length) : argv.ref;
    const ref = parseReference(input, { strict: argv.strict });
    const value = {
      registry: ref.registry,
      repository: ref.repository,
      tag: ref.tag ?? null,
      digest: ref.digest ?? null,
      name: ref.name,
      context: ref.context,
    };
    printResult(argv.json, value, () => {
      const lines = [`registry: ${ref.registry}`, `repository: ${ref.repository}`];
      if (ref.tag !== undefined) lines.push(`tag: ${ref.tag}`);
      if (ref.digest !== undefined) lines.push(`digest: ${ref.digest}`);
      lines.push(`name: ${ref.name}`, `context: ${ref.context}`, `scheme: ${registryScheme(ref.registry, argv.insecure)}`);
      return lines.join("\n");
    });
  },
};

export default command;
