/**
 * `tcrane auth login|logout|get|token`: crane's auth commands. `login` checks the credentials against
 * the registry before writing the docker config (atomically, 0600, through the configured credential
 * helper when there is one) and, like crane, reports `logged in via <path>` on stderr. `get` is a
 * docker credential helper; `token` prints a registry token.
 */
import type { Argv, CommandModule } from "yargs";
import { timeoutOptions, type GlobalArgs } from "../globals.js";
import { TcraneError } from "../../src/errors.js";
import { RegistryClient } from "../../src/registry/client.js";
import { parseRegistry, parseRepository, scope } from "../../src/reference/index.js";
import {
  convertToHostname,
  defaultKeychain,
  eraseCredential,
  resolveCliCredentials,
  storeCredential,
} from "../../src/auth/index.js";
import { NOT_FOUND_MESSAGE, TOKEN_USERNAME } from "../../src/auth/helper.js";
import { withContext } from "../context.js";
import { printResult } from "../output.js";

/** A SERVER argument: `host[:port]`, or docker's URL forms (`https://host/v1/`). Docker Hub by default. */
function serverRegistry(server: string | undefined): string {
  return parseRegistry(convertToHostname((server ?? "").trim()) || "index.docker.io");
}

function verboseLogger(args: GlobalArgs): ((line: string) => void) | undefined {
  return args.verbose ? (line: string) => process.stderr.write(line + "\n") : undefined;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

interface LoginArgs extends GlobalArgs {
  server?: string;
}

const login: CommandModule<GlobalArgs, LoginArgs> = {
  command: "login [server]",
  describe: "Check credentials against a registry, then save them in the docker config",
  builder: (y) =>
    y
      .positional("server", { type: "string", describe: "Registry host[:port] (default: Docker Hub)" })
      .option("username", { alias: "u", type: "string", describe: "Username" })
      .option("password", { alias: "p", type: "string", describe: "Password (prefer --password-stdin)" })
      .option("password-stdin", { type: "boolean", default: false, describe: "Read the password from stdin" })
      .example("echo \"$TOKEN\" | $0 auth login registry.example.com -u me --password-stdin", "Log in; prints `logged in via ~/.docker/config.json` on stderr")
      .example("$0 auth login -u me -p secret", "Log in to Docker Hub (key https://index.docker.io/v1/)") as never,
  handler: async (argv) => {
    const registry = serverRegistry(argv.server);
    const credentials = await resolveCliCredentials(argv);
    if (!credentials) throw new TcraneError("USAGE", "a username and password are required: -u USER with -p PASSWORD or --password-stdin");
    const client = new RegistryClient({
      credentials,
      insecure: argv.insecure,
      caFile: argv["ca-file"],
      certDir: argv["cert-dir"],
      retries: argv.retries,
      ...timeoutOptions(argv),
      logger: verboseLogger(argv),
    });
    try {
      await client.checkAuth(registry);
    } catch (e) {
      if (e instanceof TcraneError && (e.code === "UNAUTHORIZED" || e.code === "DENIED")) {
        throw new TcraneError(e.code, `login failed: ${e.message}`, { what: registry, cause: e });
      }
      throw e;
    } finally {
      await client.close();
    }
    const r = await storeCredential(registry, credentials);
    if (argv.json) printResult(true, { registry, key: r.key, path: r.path, helper: r.helper ?? null });
    process.stderr.write(`logged in via ${r.path}${r.helper ? ` (credential helper ${r.helper})` : ""}\n`);
  },
};

const logout: CommandModule<GlobalArgs, LoginArgs> = {
  command: "logout [server]",
  describe: "Remove the saved credentials of a registry",
  builder: (y) =>
    y
      .positional("server", { type: "string", describe: "Registry host[:port] (default: Docker Hub)" })
      .example("$0 auth logout registry.example.com", "Forget registry.example.com (file entry and credential helper)") as never,
  handler: async (argv) => {
    const registry = serverRegistry(argv.server);
    const r = await eraseCredential(registry);
    if (argv.json) printResult(true, { registry, removed: r !== undefined, path: r?.path ?? null });
    if (r) process.stderr.write(`logged out of ${r.key} via ${r.path}\n`);
    else process.stderr.write(`not logged in to ${registry}\n`);
  },
};

interface GetArgs extends GlobalArgs {
  registry?: string;
}

const get: CommandModule<GlobalArgs, GetArgs> = {
  command: "get [registry]",
  describe: "Act as a docker credential helper: print the saved credentials of a registry",
  builder: (y) =>
    y
      .positional("registry", { type: "string", describe: "Registry host[:port]; read from stdin when absent" })
      .example("echo reg.example.com | $0 auth get", '{"Username":"me","Secret":"…"} (credential-helper protocol)')
      .example("$0 auth get reg.example.com", "The same, with the registry as an argument") as never,
  handler: async (argv) => {
    const input = argv.registry ?? (await readStdin()).trim();
    const registry = serverRegistry(input);
    const c = await defaultKeychain().resolve({ registry });
    if (!c) {
      process.stdout.write(NOT_FOUND_MESSAGE);
      throw new TcraneError("NOT_FOUND", "credentials not found", { what: registry });
    }
    const out = c.identityToken
      ? { Username: TOKEN_USERNAME, Secret: c.identityToken }
      : { Username: c.username ?? "", Secret: c.password ?? "" };
    process.stdout.write(JSON.stringify(out) + "\n");
  },
};

interface TokenArgs extends GlobalArgs {
  repo: string;
  push: boolean;
  mount?: string | string[];
  header: boolean;
}

const token: CommandModule<GlobalArgs, TokenArgs> = {
  command: "token <repo>",
  describe: "Print a registry bearer token for a repository",
  builder: (y) =>
    y
      .positional("repo", { type: "string", demandOption: true, describe: "Repository, e.g. ubuntu or localhost:5000/team/app" })
      .option("push", { type: "boolean", default: false, describe: "Ask for push,pull instead of pull" })
      .option("mount", { alias: "m", type: "string", nargs: 1, describe: "Also pull access to this repository (a cross-repo mount source; repeatable)" })
      .option("header", { alias: "H", type: "boolean", default: false, describe: "Print an `Authorization: Bearer …` header line" })
      .example('curl -H "$($0 auth token -H ubuntu)" https://index.docker.io/v2/library/ubuntu/tags/list', "The raw tags list of ubuntu")
      .example("$0 auth token --push -m debian ubuntu", '{"token":"…","expires_in":300} for pushing to ubuntu and mounting from debian') as never,
  handler: async (argv) => {
    const repo = parseRepository(argv.repo);
    const scopes = [scope(repo.repository, argv.push ? ["push", "pull"] : ["pull"])];
    for (const m of ([] as string[]).concat(argv.mount ?? [])) {
      const from = parseRepository(m);
      if (from.registry !== repo.registry) throw new TcraneError("USAGE", `mount source ${from.context} is not on ${repo.registry}`);
      scopes.push(scope(from.repository, ["pull"]));
    }
    await withContext(argv, async (ctx) => {
      const t = await ctx.client.token(repo.registry, scopes, ctx.signal);
      if (t.scheme !== "bearer" || !t.token) {
        throw new TcraneError("UNSUPPORTED", `challenge scheme "${t.scheme}" is not bearer: the registry issues no token`, { what: repo.registry });
      }
      if (argv.header) process.stdout.write(`Authorization: Bearer ${t.token}\n`);
      else process.stdout.write(JSON.stringify({ token: t.token, expires_in: t.expiresIn ?? 0 }) + "\n");
    });
  },
};

const command: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "auth <command>",
  describe: "Log in and out of registries, read saved credentials, get tokens",
  builder: (y: Argv<GlobalArgs>) =>
    y
      .command(login)
      .command(logout)
      .command(get)
      .command(token)
      .demandCommand(1, "an auth subcommand is required: login, logout, get, token") as never,
  handler: () => undefined,
};

export default command;
