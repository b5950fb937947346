/**
 * `tcrane registry serve`: run the embedded OCI registry until SIGINT/SIGTERM. Prints the bare
 * `HOST:PORT` on stdout (for scripts) and a human line on stderr. The read-only web page is at `/`
 * (src/ui/) unless `--no-ui`.
 */
import type { Argv, CommandModule } from "yargs";
import type { GlobalArgs } from "../globals.js";
import { startRegistry } from "../../src/server/index.js";

interface ServeArgs extends GlobalArgs {
  address: string;
  dir?: string;
  from?: string;
  htpasswd?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  ui: boolean;
}

const serve: CommandModule<GlobalArgs, ServeArgs> = {
  command: "serve",
  describe: "Serve an OCI registry (memory, --dir layout, or a --from bundle read-only)",
  builder: (y) =>
    y
      .option("address", { type: "string", default: "127.0.0.1:0", describe: "HOST:PORT to listen on (port 0: a free port; :PORT: all interfaces)" })
      .option("dir", { type: "string", describe: "Store images in this OCI image layout directory (kept across restarts)" })
      .option("from", { type: "string", describe: "Serve a bundle read-only: an OCI layout directory, an oci-archive or a docker-archive" })
      .option("htpasswd", { type: "string", describe: "Require Basic auth against this htpasswd file (bcrypt entries: htpasswd -B)" })
      .option("tls-cert", { type: "string", describe: "Serve HTTPS with this PEM certificate" })
      .option("tls-key", { type: "string", describe: "PEM private key for --tls-cert" })
      .option("ui", { type: "boolean", default: true, describe: "Serve the read-only web page at / (--no-ui: the API alone)" })
      .conflicts("dir", "from")
      .implies("tls-cert", "tls-key")
      .implies("tls-key", "tls-cert")
      .example("$0 registry serve --address 127.0.0.1:5000 --dir ./registry", "Serve a registry persisted in ./registry")
      .example("ADDR=$($0 registry serve --from ./bundle | head -1)", "Serve an air-gap bundle read-only; stdout is HOST:PORT") as never,
  handler: async (argv) => {
    const reg = await startRegistry({
      address: argv.address,
      dir: argv.dir,
      from: argv.from,
      htpasswd: argv.htpasswd,
      tlsCert: argv["tls-cert"],
      tlsKey: argv["tls-key"],
      ui: argv.ui,
      logger: argv.verbose ? (line) => process.stderr.write(`tcrane: registry: ${line}\n`) : undefined,
    });
    process.stdout.write(`${reg.host}\n`);
    process.stderr.write(`tcrane: serving on ${reg.url}${argv.from ? " (read-only)" : ""}${argv.ui ? `; web page at ${reg.url}/` : ""}\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await reg.close();
  },
};

const command: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "registry",
  describe: "Run a registry",
  builder: (y: Argv<GlobalArgs>) => y.command(serve).demandCommand(1, "a registry subcommand is required: serve") as never,
  handler: () => undefined,
};

export default command;
