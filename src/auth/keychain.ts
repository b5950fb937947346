/**
 * crane's DefaultKeychain: credentials from the docker config (or podman's auth.json), through
 * `credHelpers`/`credsStore` helpers or the file's `auths`, looked up under `registry/repo` then
 * `registry` (Docker Hub under `https://index.docker.io/v1/`). Plus the login/logout side: store and
 * erase a credential the way docker does. See formats.md §b.
 */
import { TcraneError } from "../errors.js";
import { registerSecret } from "../redact.js";
import type { AuthTarget, Credential, Keychain } from "./types.js";
import {
  dockerConfigPath,
  encodeAuth,
  entryCredential,
  findConfig,
  loadConfig,
  parseConfig,
  saveConfig,
  type AuthEntry,
  type ConfigFile,
  type Env,
} from "./config.js";
import { helperErase, helperGet, helperStore, TOKEN_USERNAME } from "./helper.js";

/** The key docker stores Docker Hub credentials under. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
/** Registry names that mean Docker Hub. */
export const DOCKER_HUB_HOSTS = ["index.docker.io", "docker.io", "registry-1.docker.io"];

/** docker's ConvertToHostname: strip `http://`/`https://` and any path. */
export function convertToHostname(key: string): string {
  let s = key;
  if (s.startsWith("http://")) s = s.slice(7);
  else if (s.startsWith("https://")) s = s.slice(8);
  const i = s.indexOf("/");
  return i < 0 ? s : s.slice(0, i);
}

/** The config key for a registry host: Docker Hub names ⇒ `https://index.docker.io/v1/`, others as is. */
export function authKey(registry: string): string {
  return DOCKER_HUB_HOSTS.includes(registry) ? DOCKER_HUB_AUTH_KEY : registry;
}

/** The helper configured for `key`: `credHelpers[key]`, else `credsStore`, else none. */
export function helperFor(cf: ConfigFile, key: string): string | undefined {
  return (key && Object.prototype.hasOwnProperty.call(cf.credHelpers, key) ? cf.credHelpers[key] : undefined) || cf.credsStore;
}

/**
 * docker's file store lookup: the exact key, else the first key whose hostname (scheme and path
 * stripped) equals it. For Docker Hub, entries named by any Docker Hub host (podman writes `docker.io`) match too.
 */
export function findEntry(cf: ConfigFile, key: string): { key: string; entry: AuthEntry } | undefined {
  if (Object.prototype.hasOwnProperty.call(cf.auths, key)) return { key, entry: cf.auths[key]! };
  for (const [k, entry] of Object.entries(cf.auths)) if (convertToHostname(k) === key) return { key: k, entry };
  if (key === DOCKER_HUB_AUTH_KEY) {
    for (const [k, entry] of Object.entries(cf.auths)) if (DOCKER_HUB_HOSTS.includes(convertToHostname(k))) return { key: k, entry };
  }
  // a repository key on Docker Hub (`docker.io/library/alpine`, as `podman login docker.io/library/alpine`
  // writes it) matches under any of the Docker Hub names
  const slash = key.indexOf("/");
  if (slash > 0 && DOCKER_HUB_HOSTS.includes(key.slice(0, slash))) {
    const repo = key.slice(slash);
    for (const h of DOCKER_HUB_HOSTS) {
      const alias = h + repo;
      if (Object.prototype.hasOwnProperty.call(cf.auths, alias)) return { key: alias, entry: cf.auths[alias]! };
    }
  }
  return undefined;
}

/** One key's credential, through its helper or the file (docker's GetAuthConfig). */
export async function credentialForKey(cf: ConfigFile, key: string, env: Env): Promise<Credential | undefined> {
  const found = findEntry(cf, key);
  const fromFile = found ? entryCredential(found.entry, cf.path, found.key) : undefined;
  const helper = helperFor(cf, key);
  if (!helper) return fromFile;
  // docker's native store: the helper's username/password/identity token replace the file's
  const fromHelper = await helperGet(helper, key, env);
  const c: Credential = {};
  if (fromFile?.registryToken) c.registryToken = fromFile.registryToken;
  Object.assign(c, fromHelper ?? {});
  return Object.keys(c).length ? c : undefined;
}

/** Options of the docker keychain. */
export interface DockerKeychainOptions {
  /**
   * Environment to read (DOCKER_AUTH_CONFIG, HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_*, PATH for
   * helpers). Default process.env.
   */
  env?: Env;
}

/** The variable holding a whole config.json document, read before any file (docker CLI: configfile.GetCredentialsStore). */
export const DOCKER_AUTH_CONFIG = "DOCKER_AUTH_CONFIG";

/**
 * The `auths` of `$DOCKER_AUTH_CONFIG`, or undefined when it is unset or empty. As in docker's CLI
 * only `auths` counts (a `credsStore`/`credHelpers` in it is not used). Unlike docker, which ignores
 * a document it cannot parse, malformed JSON or a bad `auth` is a CONFIG error naming the variable:
 * silently going anonymous would hide the mistake until a registry refuses.
 */
export function envAuthConfig(env: Env): ConfigFile | undefined {
  const text = env[DOCKER_AUTH_CONFIG];
  if (!text) return undefined;
  const cf = parseConfig(text, `$${DOCKER_AUTH_CONFIG}`);
  return { ...cf, credsStore: undefined, credHelpers: {} };
}

/**
 * crane's DefaultKeychain, with docker's `$DOCKER_AUTH_CONFIG` in front: each key is looked up in the
 * variable's `auths` first and, when it is not there, in the config file (helper or `auths`), as
 * docker's in-memory store with the file's store as its fallback does. The config is located and
 * parsed once, on first use; each key's answer is cached for the keychain's life, so a helper runs at
 * most once per key.
 */
export class DockerKeychain implements Keychain {
  readonly #env: Env;
  #config: Promise<ConfigFile | undefined> | undefined;
  #envConfig: ConfigFile | undefined | null = null;
  readonly #cache = new Map<string, Promise<Credential | undefined>>();

  constructor(opts: DockerKeychainOptions = {}) {
    this.#env = opts.env ?? process.env;
  }

  /** The config file in use (undefined ⇒ anonymous everywhere). */
  config(): Promise<ConfigFile | undefined> {
    this.#config ??= (async () => {
      const loc = await findConfig(this.#env);
      return loc ? loadConfig(loc.path) : undefined;
    })();
    return this.#config;
  }

  /** The `auths` of `$DOCKER_AUTH_CONFIG` (undefined when unset or empty). */
  envConfig(): ConfigFile | undefined {
    if (this.#envConfig === null) this.#envConfig = envAuthConfig(this.#env);
    return this.#envConfig;
  }

  /** Look up `registry/repo`, then `registry` (each in `$DOCKER_AUTH_CONFIG`, then the file); the first non-empty answer wins. */
  async resolve(target: AuthTarget): Promise<Credential | undefined> {
    const fromEnv = this.envConfig();
    const cf = await this.config();
    if (!cf && !fromEnv) return undefined;
    const keys = target.repository ? [`${target.registry}/${target.repository}`, authKey(target.registry)] : [authKey(target.registry)];
    for (const key of keys) {
      let p = this.#cache.get(key);
      if (!p) {
        const found = fromEnv && findEntry(fromEnv, key);
        const inEnv = found ? entryCredential(found.entry, fromEnv.path, found.key) : undefined;
        p = inEnv ? Promise.resolve(inEnv) : cf ? credentialForKey(cf, key, this.#env) : Promise.resolve(undefined);
        this.#cache.set(key, p);
      }
      const c = await p;
      if (c) return { ...c };
    }
    return undefined;
  }
}

/** A keychain reading the default locations (crane's `authn.DefaultKeychain`). */
export function defaultKeychain(opts: DockerKeychainOptions = {}): DockerKeychain {
  return new DockerKeychain(opts);
}

/** Where a login or logout went. */
export interface StoreResult {
  /** The config file written. */
  path: string;
  /** The key used in `auths` / passed to the helper. */
  key: string;
  /** The helper that holds the secret, if any. */
  helper?: string;
}

/**
 * Save a credential for `registry` as `docker login` does: into the docker config
 * (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), through the configured helper when there is
 * one (the file then keeps an empty entry), else as `auth` in the file. Every other field is kept.
 */
export async function storeCredential(registry: string, cred: Credential, env: Env = process.env): Promise<StoreResult> {
  const key = authKey(registry);
  const cf = await loadConfig(dockerConfigPath(env));
  const helper = helperFor(cf, key);
  const auths = { ...((cf.raw.auths as Record<string, AuthEntry> | undefined) ?? {}) };
  const old: AuthEntry = { ...(auths[key] ?? {}) };
  for (const f of ["auth", "username", "password", "identitytoken", "registrytoken"]) delete old[f];
  if (helper) {
    if (cred.identityToken) await helperStore(helper, key, TOKEN_USERNAME, cred.identityToken, env);
    else if (cred.username && cred.password !== undefined) await helperStore(helper, key, cred.username, cred.password, env);
    else throw new TcraneError("USAGE", "a username and password are required", { what: key });
    auths[key] = old;
  } else {
    const entry: AuthEntry = { ...old };
    if (cred.username && cred.password !== undefined) {
      registerSecret(cred.password);
      entry.auth = encodeAuth(cred.username, cred.password);
    }
    if (cred.identityToken) entry.identitytoken = cred.identityToken;
    if (cred.registryToken) entry.registrytoken = cred.registryToken;
    if (!entry.auth && !entry.identitytoken && !entry.registrytoken) throw new TcraneError("USAGE", "a username and password are required", { what: key });
    auths[key] = entry;
  }
  const path = await saveConfig(cf.path, { ...cf.raw, auths });
  return { path, key, helper };
}

/**
 * Forget the credentials of `registry` as `docker logout` does: the helper's entry (when a helper is
 * configured) and every `auths` key naming that host. Returns undefined when nothing was stored.
 */
export async function eraseCredential(registry: string, env: Env = process.env): Promise<StoreResult | undefined> {
  const key = authKey(registry);
  const cf = await loadConfig(dockerConfigPath(env));
  const helper = helperFor(cf, key);
  let erased = false;
  if (helper) erased = await helperErase(helper, key, env);
  const auths = { ...((cf.raw.auths as Record<string, AuthEntry> | undefined) ?? {}) };
  const host = convertToHostname(key);
  for (const k of Object.keys(auths)) {
    if (k === key || (key !== DOCKER_HUB_AUTH_KEY && convertToHostname(k) === host)) {
      delete auths[k];
      erased = true;
    }
  }
  if (!erased) return undefined;
  const path = cf.exists ? await saveConfig(cf.path, { ...cf.raw, auths }) : cf.path;
  return { path, key, helper };
}
