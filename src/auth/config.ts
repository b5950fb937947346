/**
 * The docker `config.json` file (and podman's `auth.json`, same format): where it is, how it is read,
 * how an `auths` entry is decoded, and how it is written back (atomically, mode 0600, every other field
 * kept). See formats.md §b.
 */
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { stat, readFile, writeFile, rename, mkdir, realpath, unlink, chmod } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { TcraneError } from "../errors.js";
import { registerSecret } from "../redact.js";
import type { Credential } from "./types.js";

/** Environment the keychain reads (defaults to process.env); tests pass their own. */
export type Env = Record<string, string | undefined>;

/** One `auths` entry as stored in the file. */
export interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  email?: string;
  [other: string]: unknown;
}

/** The parts of config.json the keychain uses; `raw` keeps every field for writing back. */
export interface ConfigFile {
  /** The file this was read from (or would be written to). */
  path: string;
  /** Whether the file existed. */
  exists: boolean;
  auths: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers: Record<string, string>;
  /** The whole JSON object, unknown fields included. */
  raw: Record<string, unknown>;
}

/** Where credentials are read from: a docker config, a podman auth file, or nowhere (anonymous). */
export interface ConfigLocation {
  path: string;
  kind: "docker" | "containers";
}

function home(env: Env): string {
  return env.HOME || homedir();
}

async function isRegularFile(path: string | undefined): Promise<boolean> {
  if (!path) return false;
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The docker config.json path: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (what login writes). */
export function dockerConfigPath(env: Env = process.env): string {
  return env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, "config.json") : join(home(env), ".docker", "config.json");
}

/**
 * Find the file credentials are read from, in ggcr's order: the docker config if `~/.docker/config.json`
 * or `$DOCKER_CONFIG/config.json` is a regular file (then read from `$DOCKER_CONFIG` when set); else
 * `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`; else undefined (anonymous).
 */
export async function findConfig(env: Env = process.env): Promise<ConfigLocation | undefined> {
  const homeDocker = join(home(env), ".docker", "config.json");
  const envDocker = env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, "config.json") : undefined;
  if ((await isRegularFile(homeDocker)) || (await isRegularFile(envDocker))) {
    return { path: dockerConfigPath(env), kind: "docker" };
  }
  const candidates = [
    env.REGISTRY_AUTH_FILE,
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "containers", "auth.json") : undefined,
    join(env.XDG_CONFIG_HOME || join(home(env), ".config"), "containers", "auth.json"),
  ];
  for (const c of candidates) if (await isRegularFile(c)) return { path: c!, kind: "containers" };
  return undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decode an `auth` field (padded std base64 of `user:pass`, split at the first ':'). Throws CONFIG. */
export function decodeAuth(auth: string, path: string, key: string): { username: string; password: string } {
  if (!BASE64.test(auth)) {
    throw new TcraneError("CONFIG", `invalid "auth" of "${key}": not valid base64`, { what: path });
  }
  const decoded = Buffer.from(auth, "base64").toString("utf8");
  const i = decoded.indexOf(":");
  if (i <= 0) throw new TcraneError("CONFIG", `invalid "auth" of "${key}": expected base64 of user:password`, { what: path });
  const password = decoded.slice(i + 1).replace(/\0+$/, "");
  registerSecret(password);
  registerSecret(auth);
  return { username: decoded.slice(0, i), password };
}

/** Encode `user:pass` as an `auth` field. */
export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString("base64");
}

/** The credential an `auths` entry holds (`auth` wins over username/password); undefined if empty. */
export function entryCredential(entry: AuthEntry | undefined, path: string, key: string): Credential | undefined {
  if (!entry) return undefined;
  const c: Credential = {};
  if (typeof entry.username === "string" && entry.username) c.username = entry.username;
  if (typeof entry.password === "string" && entry.password) c.password = entry.password;
  if (typeof entry.auth === "string" && entry.auth) Object.assign(c, decodeAuth(entry.auth, path, key));
  if (typeof entry.identitytoken === "string" && entry.identitytoken) c.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === "string" && entry.registrytoken) c.registryToken = entry.registrytoken;
  for (const s of [c.password, c.identityToken, c.registryToken]) registerSecret(s);
  return Object.keys(c).length ? c : undefined;
}

function asStringMap(v: unknown, path: string, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new TcraneError("CONFIG", `"${field}" must be an object`, { what: path });
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== "string") throw new TcraneError("CONFIG", `"${field}.${k}" must be a string`, { what: path });
  }
  return v as Record<string, string>;
}

/** Parse config.json text. Empty text is an empty config; malformed JSON or bad `auth` ⇒ CONFIG naming the path. */
export function parseConfig(text: string, path: string, exists = true): ConfigFile {
  let raw: Record<string, unknown> = {};
  if (text.trim() !== "") {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      // V8 quotes the text around an unexpected token: never print it (it may be a password)
      const why = (e as Error).message.replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, " (not valid JSON)");
      throw new TcraneError("CONFIG", `parsing config file: ${why}`, { what: path });
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new TcraneError("CONFIG", "parsing config file: expected a JSON object", { what: path });
    raw = v as Record<string, unknown>;
  }
  const authsRaw = raw.auths ?? {};
  if (!authsRaw || typeof authsRaw !== "object" || Array.isArray(authsRaw)) throw new TcraneError("CONFIG", `"auths" must be an object`, { what: path });
  const auths: Record<string, AuthEntry> = {};
  for (const [k, e] of Object.entries(authsRaw as Record<string, unknown>)) {
    if (e === null) continue;
    if (typeof e !== "object" || Array.isArray(e)) throw new TcraneError("CONFIG", `"auths.${k}" must be an object`, { what: path });
    auths[k] = e as AuthEntry;
    entryCredential(auths[k], path, k); // validate every `auth` at load time, as docker does
  }
  if (raw.credsStore !== undefined && typeof raw.credsStore !== "string") throw new TcraneError("CONFIG", `"credsStore" must be a string`, { what: path });
  return {
    path,
    exists,
    auths,
    credsStore: (raw.credsStore as string | undefined) || undefined,
    credHelpers: asStringMap(raw.credHelpers, path, "credHelpers"),
    raw,
  };
}

/** Read and parse a config file. A missing file is an empty config; a directory or malformed JSON ⇒ CONFIG. */
export async function loadConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return parseConfig("", path, false);
    if (code === "EISDIR") throw new TcraneError("CONFIG", "is a directory, expected a config file", { what: path, cause: e });
    if (code === "EACCES") throw new TcraneError("CONFIG", "permission denied reading the config file", { what: path, cause: e });
    throw new TcraneError("CONFIG", `reading config file: ${(e as Error).message}`, { what: path, cause: e });
  }
  return parseConfig(text, path);
}

/**
 * Write `raw` to `path` atomically: a temp file in the same directory with mode 0600, then rename.
 * A symlinked config is written through to its target (as docker does). The directory is created (0700).
 */
export async function saveConfig(path: string, raw: Record<string, unknown>): Promise<string> {
  let target = path;
  try {
    target = await realpath(path);
  } catch {
    /* does not exist yet */
  }
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const tmp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(raw, null, "\t") + "\n", { mode: 0o600, flag: "wx" });
    await chmod(tmp, 0o600);
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    throw new TcraneError("IO", `writing config file: ${code ?? (e as Error).message}`, { what: path, cause: e });
  }
  return target;
}
