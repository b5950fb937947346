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
import { flushWarnings, stdoutOutcome, watchStdout } from "./output.js";

/**
 * tcrane's version, read from package.json: the nearest one named "tcrane" above this module, which
 * works from dist/cli/main.js and from the bundle (dist/bundle/tcrane.cjs) alike.
 */
export function version(): string {
  let dir = new URL(".", import.meta.url);
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "tcrane" && pkg.version) return pkg.version;
    } catch {
      // no (readable) package.json here: look one level up
    }
    dir = new URL("..", dir);
  }
  throw new TcraneError("FAILED", "cannot find tcrane's package.json");
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

/**
 * yargs renders the whole help text right after starting a command's handler, in case the handler
 * calls showHelp() (none of ours does): ~25 ms of a CLI start (cliui, string-width) spent while the
 * first requests wait. Replaced by a no-op when yargs exposes it; `--help` is unaffected.
 */
function skipHelpCache(y: unknown): void {
  const internals = (y as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }).getInternalMethods?.();
  const usage = internals?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === "function") usage.cacheHelpMessage = () => undefined;
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
  skipHelpCache(y);
  watchStdout();
  let failure: unknown;
  try {
    for (const c of await loadCommands(argv)) y = y.command(c);
    await y.parseAsync();
  } catch (err) {
    failure = err;
  }
  // a failed stdout decides how the run ends: its reader gone ⇒ quiet; a real write error ⇒ that line
  await new Promise((r) => setImmediate(r)); // a stdout error emitted with the failure arrives first
  const out = stdoutOutcome();
  if (out && "status" in out) code = out.status;
  else if (out) code = reportError(out.error, verbose);
  else if (failure !== undefined) code = reportError(failure, verbose);
  flushWarnings();
  process.exitCode = code;
  return code;
}
