/**
 * Authorization for one run: credentials from the keychain, Basic headers, Bearer tokens.
 *
 * Bearer tokens are fetched from the challenge's realm — GET `realm?scope=…&service=…` with Basic
 * credentials when present, or an OAuth2 POST (`grant_type=refresh_token`) when an identity token is
 * known, falling back to GET when the POST gets 404. A `registryToken` is sent as Bearer as is.
 * Tokens are cached per registry and scope set for the run: a cached token whose scopes cover the
 * asked ones is reused, concurrent requests for the same set share one fetch, and a token is renewed
 * before it expires (at 80 % of its lifetime, at most 30 s early). `expires_in` defaults to 60 s when
 * absent; a shorter value is honoured as given (the spec's 60 s minimum is the server's duty).
 */
import type { Credential, Keychain } from "../auth/types.js";
import { TcraneError } from "../errors.js";
import { registerSecret } from "../redact.js";
import { parseScope, scopeKey, scopesCover, type Challenge } from "./challenge.js";

/** What a token endpoint answered (body already read). */
export interface TokenHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** The un-authenticated sender the authenticator uses for token requests (retries, logs, stats). */
export type TokenSender = (init: {
  method: "GET" | "POST";
  url: URL;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}) => Promise<TokenHttpResponse>;

/** How a registry wants to be authenticated, learnt from the ping (or a later 401). */
export interface RegistryAuth {
  /** The scheme the ping settled on for this registry. */
  scheme: "http" | "https";
  challenge?: Challenge;
}

interface CachedToken {
  scopes: string[];
  token: string;
  expiresAt: number;
  renewAt: number;
  expiresIn: number;
}

/** The result of `authorize`. */
export interface Authorization {
  scheme: "bearer" | "basic" | "anonymous";
  header?: string;
  token?: string;
  expiresIn?: number;
}

/** Client id of OAuth2 token requests. */
export const OAUTH_CLIENT_ID = "tcrane";

function basic(user: string, pass: string): string {
  const b64 = Buffer.from(`${user}:${pass}`).toString("base64");
  registerSecret(b64);
  return `Basic ${b64}`;
}

/** Loopback / private / link-local IP literal (v4 or v6). */
function isPrivateIpLiteral(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "");
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || a === 0;
  }
  if (h.includes(":")) {
    const l = h.toLowerCase();
    return l === "::1" || l.startsWith("fe80:") || l.startsWith("fc") || l.startsWith("fd") || l === "::";
  }
  return false;
}

/** Token acquisition and cache for every registry of one client. */
export class Authenticator {
  private readonly keychain: Keychain | undefined;
  private readonly override: Credential | undefined;
  private readonly send: TokenSender;
  private readonly onTokenRequest: () => void;
  private readonly creds = new Map<string, Promise<Credential | undefined>>();
  private readonly tokens = new Map<string, CachedToken[]>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  /** Refresh tokens handed out by token servers (replace the identity token for later requests). */
  private readonly refreshTokens = new Map<string, string>();

  constructor(init: { keychain?: Keychain; credentials?: Credential; send: TokenSender; onTokenRequest: () => void }) {
    this.keychain = init.keychain;
    this.override = init.credentials;
    this.send = init.send;
    this.onTokenRequest = init.onTokenRequest;
    if (init.credentials) {
      registerSecret(init.credentials.password);
      registerSecret(init.credentials.identityToken);
      registerSecret(init.credentials.registryToken);
    }
  }

  /** Credentials for a registry (and the first repository among the scopes), cached for the run. */
  credential(registry: string, scopes: string[] = []): Promise<Credential | undefined> {
    if (this.override) return Promise.resolve(this.override);
    if (!this.keychain) return Promise.resolve(undefined);
    const repo = scopes.map(parseScope).find((s) => s?.type === "repository")?.name;
    const key = `${registry}\u0000${repo ?? ""}`;
    let p = this.creds.get(key);
    if (!p) {
      p = this.keychain.resolve({ registry, repository: repo }).then((c) => {
        if (c) {
          registerSecret(c.password);
          registerSecret(c.identityToken);
          registerSecret(c.registryToken);
        }
        return c;
      });
      this.creds.set(key, p);
      p.catch(() => this.creds.delete(key));
    }
    return p;
  }

  /** The Authorization for a request to `registry` needing `scopes`. */
  async authorize(registry: string, auth: RegistryAuth, scopes: string[], signal?: AbortSignal): Promise<Authorization> {
    const ch = auth.challenge;
    if (!ch) return { scheme: "anonymous" };
    const cred = await this.credential(registry, scopes);
    if (ch.scheme === "basic") {
      if (cred?.username !== undefined && cred.password !== undefined) {
        return { scheme: "basic", header: basic(cred.username, cred.password) };
      }
      return { scheme: "anonymous" };
    }
    if (ch.scheme !== "bearer") return { scheme: "anonymous" };
    if (cred?.registryToken) return { scheme: "bearer", header: `Bearer ${cred.registryToken}`, token: cred.registryToken };
    const t = await this.bearer(registry, auth, scopes, cred, signal);
    return { scheme: "bearer", header: `Bearer ${t.token}`, token: t.token, expiresIn: Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000)) };
  }

  /** Forget cached tokens for this registry that were used for `scopes` (after a 401). */
  invalidate(registry: string, scopes: string[]): void {
    const list = this.tokens.get(registry);
    if (!list) return;
    this.tokens.set(
      registry,
      list.filter((t) => !scopesCover(t.scopes, scopes)),
    );
  }

  private async bearer(
    registry: string,
    auth: RegistryAuth,
    scopes: string[],
    cred: Credential | undefined,
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    signal?.throwIfAborted();
    const now = Date.now();
    const list = (this.tokens.get(registry) ?? []).filter((t) => t.expiresAt > now);
    this.tokens.set(registry, list);
    const hit = list.find((t) => t.renewAt > now && scopesCover(t.scopes, scopes));
    if (hit) return hit;
    const key = `${registry}\u0000${scopeKey(scopes)}`;
    let p = this.inflight.get(key);
    if (!p) {
      // shared by every concurrent caller, so one caller's abort must not fail the others
      p = this.fetchToken(registry, auth, scopes, cred).then((t) => {
        this.tokens.get(registry)?.push(t) ?? this.tokens.set(registry, [t]);
        return t;
      });
      this.inflight.set(key, p);
      const clear = () => this.inflight.delete(key);
      p.then(clear, clear);
    }
    return p;
  }

  private realmUrl(registry: string, auth: RegistryAuth): URL {
    const realm = auth.challenge?.params.realm;
    if (!realm) throw new TcraneError("UNAUTHORIZED", "malformed www-authenticate, missing realm", { what: registry });
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new TcraneError("UNAUTHORIZED", `malformed www-authenticate realm ${JSON.stringify(realm)}`, { what: registry });
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && auth.scheme === "http")) {
      throw new TcraneError("UNAUTHORIZED", `refusing token realm ${url.origin}: it must use https`, { what: registry });
    }
    const regHost = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    const realmHost = url.hostname.replace(/^\[|\]$/g, "");
    if (isPrivateIpLiteral(realmHost) && realmHost !== regHost) {
      throw new TcraneError("UNAUTHORIZED", `refusing token realm ${url.origin}: private address for registry ${registry}`, { what: registry });
    }
    return url;
  }

  private async fetchToken(
    registry: string,
    auth: RegistryAuth,
    scopes: string[],
    cred: Credential | undefined,
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const realm = this.realmUrl(registry, auth);
    const service = auth.challenge?.params.service;
    const identity = this.refreshTokens.get(registry) ?? cred?.identityToken;
    let res: TokenHttpResponse | undefined;
    if (identity) {
      const form = new URLSearchParams();
      form.set("grant_type", "refresh_token");
      form.set("refresh_token", identity);
      if (service !== undefined) form.set("service", service);
      form.set("client_id", OAUTH_CLIENT_ID);
      if (scopes.length) form.set("scope", scopes.join(" "));
      this.onTokenRequest();
      res = await this.send({
        method: "POST",
        url: realm,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        signal,
      });
      if (res.status === 404 || res.status === 405) res = undefined; // no OAuth2 endpoint: GET below
    }
    if (!res) {
      const url = new URL(realm);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (service !== undefined) url.searchParams.set("service", service);
      const headers: Record<string, string> = {};
      if (cred?.username !== undefined && cred.password !== undefined) headers.authorization = basic(cred.username, cred.password);
      this.onTokenRequest();
      res = await this.send({ method: "GET", url, headers, signal });
    }
    if (res.status !== 200) {
      const code = res.status === 401 ? "UNAUTHORIZED" : res.status === 403 ? "DENIED" : "REGISTRY";
      let why = "";
      try {
        const j = JSON.parse(res.text) as { details?: string; error?: string; errors?: { message?: string }[] };
        why = j.details ?? j.error ?? j.errors?.[0]?.message ?? "";
      } catch {
        why = "";
      }
      throw new TcraneError(code, `token request to ${realm.origin}${realm.pathname} failed with status ${res.status}${why ? `: ${why}` : ""} (registry ${registry})`, {
        what: registry,
      });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      body = JSON.parse(res.text) as typeof body;
    } catch {
      throw new TcraneError("REGISTRY", "token response is not JSON", { what: registry });
    }
    const token = typeof body.access_token === "string" && body.access_token ? body.access_token : body.token;
    if (typeof token !== "string" || !token) throw new TcraneError("REGISTRY", "no token in bearer response", { what: registry });
    registerSecret(token);
    if (typeof body.refresh_token === "string" && body.refresh_token) {
      registerSecret(body.refresh_token);
      this.refreshTokens.set(registry, body.refresh_token);
    }
    const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    const now = Date.now();
    const life = expiresIn * 1000;
    return { scopes: [...scopes], token, expiresIn, expiresAt: now + life, renewAt: now + life - Math.min(30_000, life * 0.2) };
  }
}
