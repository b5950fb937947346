/**
 * Credentials: crane's DefaultKeychain (docker config.json, podman auth.json, credential helpers),
 * login/logout storage, and the per-run `--username/--password/--password-stdin` flags.
 */
import { TcraneError } from "../errors.js";
import { registerSecret } from "../redact.js";
import type { Credential } from "./types.js";

export type { AuthTarget, Credential, Keychain } from "./types.js";
export { anonymousKeychain } from "./types.js";
export {
  DockerKeychain,
  defaultKeychain,
  storeCredential,
  eraseCredential,
  authKey,
  convertToHostname,
  DOCKER_HUB_AUTH_KEY,
  DOCKER_HUB_HOSTS,
  DOCKER_AUTH_CONFIG,
  envAuthConfig,
  type DockerKeychainOptions,
  type StoreResult,
} from "./keychain.js";
export { findConfig, loadConfig, dockerConfigPath, parseConfig, type ConfigFile, type ConfigLocation, type Env } from "./config.js";
export { helperGet, helperStore, helperErase } from "./helper.js";

/** The per-run credential flags. */
export interface CliCredentialArgs {
  username?: string;
  password?: string;
  "password-stdin"?: boolean;
}

/** Read all of a stream as text. */
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The credential of `--username` with `--password` or `--password-stdin` (read from `stdin`, one
 * trailing newline removed, as docker does), or undefined when no flag is given. The password is
 * registered as a secret. Inconsistent flags ⇒ USAGE.
 */
export async function resolveCliCredentials(
  args: CliCredentialArgs,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<Credential | undefined> {
  const { username } = args;
  let { password } = args;
  const fromStdin = args["password-stdin"] === true;
  if (password !== undefined && fromStdin) throw new TcraneError("USAGE", "--password and --password-stdin are mutually exclusive");
  if (fromStdin) {
    password = (await readAll(stdin)).replace(/\r?\n$/, "");
    if (password === "") throw new TcraneError("USAGE", "--password-stdin: no password on stdin");
  }
  if (password !== undefined) registerSecret(password);
  if (username === undefined && password === undefined) return undefined;
  if (!username) throw new TcraneError("USAGE", "a password needs --username");
  if (password === undefined) throw new TcraneError("USAGE", "--username needs --password or --password-stdin");
  return { username, password };
}
