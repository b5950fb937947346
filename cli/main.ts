/**
 * tcrane's command line: global flags parsed once, thin commands, one error handler that maps
 * error codes to the exit statuses of ../shared/cli.md.
 */
import yargs from "yargs";
import { readFileSync } from "node:fs";
import { toTcraneError, TcraneError } from "../src/errors.js";
import { redactText } from "../src/redact.js";
import { withGlobals } from "./globals.js";
import { loadCommands } from "./commands/index.js";
import { flushWarnings } from "./output.js";

/** tcrane's version, read from package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Print an error as one line and set the exit code. */
export function reportError(err: unknown, verbose: boolean): number {
  const e = toTcraneError(err);
  process.stderr.write(`tcrane: ${redactText(e.line)}\n`);
  if (verbose) {
    let c: unknown = e;
    while (c) {
      if (c instanceof Error && c.stack) process.stderr.write(redactText(c.stack) + "\n");
      c = c instanceof Error ? c.cause : undefined;
    }
  }
  return e.exitCode;
}

/** Run the CLI with the given arguments. Resolves to the exit code (and sets process.exitCode). */
export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes("-v") || argv.includes("--verbose");
  let code = 0;
  let y = withGlobals(yargs(argv))
    .scriptName("tcrane")
    .usage("$0 <command> [options]\n\nMove container images between registries, archives and OCI layouts.")
    .strict()
    .demandCommand(1, "a command is required: see tcrane --help")
    .recommendCommands()
    .version(false)
    .option("version", { type: "boolean", describe: "Print tcrane's version" })
    .completion("completion", "Print a bash/zsh completion script")
    .help()
    .alias("help", "h")
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new TcraneError("USAGE", msg);
    });
  if (argv.length === 1 && argv[0] === "--version") {
    process.stdout.write(version() + "\n");
    return 0;
  }
  try {
    for (const c of await loadCommands(argv)) y = y.command(c);
    await y.parseAsync();
  } catch (err) {
    code = reportError(err, verbose);
  }
  flushWarnings();
  process.exitCode = code;
  return code;
}
