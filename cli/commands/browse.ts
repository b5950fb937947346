/**
 * `tcrane browse REGISTRY[/REPO]`: serve the read-only web page (src/ui/) for any registry on a
 * local port. tcrane's client fetches with the user's keychain (and the global --username,
 * --insecure, --ca-file … flags) on the server side; the browser never sees a credential. Prints
 * the page's URL on stdout (for scripts) and a human line on stderr; runs until SIGINT/SIGTERM.
 */
import type { CommandModule } from "yargs";
import { parseRepository } from "../../src/reference/index.js";
import { startBrowse } from "../../src/ui/browse.js";
import { withContext } from "../context.js";
import type { GlobalArgs } from "../globals.js";

interface Args extends GlobalArgs {
  registry: string;
  address: string;
  "page-size"?: number;
}

const command: CommandModule<GlobalArgs, Args> = {
  command: "browse <registry>",
  describe: "Browse a registry in a web browser (a read-only page on localhost; credentials stay in tcrane)",
  builder: (y) =>
    y
      .positional("registry", { type: "string", demandOption: true, describe: "host[:port], or host[:port]/repository to open at a repository" })
      .option("address", { type: "string", default: "127.0.0.1:0", describe: "HOST:PORT to serve the page on (port 0: a free port)" })
      .option("page-size", { type: "number", describe: "Repositories/tags per request to the registry (default 1000)" })
      .example("$0 browse localhost:5000", "prints http://127.0.0.1:PORT/ ; open it in a browser")
      .example("$0 browse ghcr.io/org/app --address 127.0.0.1:8080", "open at one repository, on a fixed port") as never,
  handler: (args) =>
    withContext(args, async (ctx) => {
      const raw = args.registry.replace(/^docker:\/\//, "").replace(/\/+$/, "");
      let registry = raw;
      let repo: string | undefined;
      if (raw.includes("/")) {
        const r = parseRepository(raw.replace(/[:@][^/]*$/, ""));
        registry = r.registry;
        repo = r.repository;
      }
      const b = await startBrowse({
        registry,
        client: ctx.client,
        address: args.address,
        pageSize: args["page-size"],
        logger: args.verbose ? (line) => process.stderr.write(`tcrane: browse: ${line}\n`) : undefined,
      });
      try {
        const url = repo ? `${b.url}#${new URLSearchParams({ repo }).toString()}` : b.url;
        process.stdout.write(`${url}\n`);
        process.stderr.write(`tcrane: browsing ${b.registry} at ${url} (Ctrl-C stops)\n`);
        if (/^(:|0\.0\.0\.0:|\[::\]:)/.test(args.address)) {
          process.stderr.write(`tcrane: warning: --address ${args.address}: every host that reaches this one can read ${b.registry} with your credentials through the page\n`);
        }
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
      } finally {
        await b.close();
      }
    }),
};
export default command;
