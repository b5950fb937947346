/**
 * The request engine every registry call goes through, composed as ggcr's RoundTripper chain:
 * scheme (ping) → auth (Basic / Bearer, 401 ⇒ add scopes and retry once) → retry with backoff →
 * redirects followed by hand (≤ 10 hops, Authorization dropped across origins) → user agent →
 * redacting logger and stats. Non-success statuses become RegistryError (errors.ts).
 */
import type { Readable } from "node:stream";
import type { IncomingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { request } from "./undici-lite.js";
import { RegistryError, TcraneError, toTcraneError } from "../errors.js";
import { redactText, redactUrl } from "../redact.js";
import { allowsHttpFallback } from "../reference/index.js";
import { mergeScopes, parseChallenges, pickChallenge, scopesCover, splitScopes } from "./challenge.js";
import { registryError, ERROR_BODY_LIMIT } from "./errors.js";
import type { Credential, Keychain } from "../auth/types.js";
import type { DispatcherPool } from "./http.js";
import { abortError, backoffDelay, gaveUp, isRetryableError, parseRetryAfter, RETRYABLE_STATUS, sleep, type BackoffOptions } from "./retry.js";
import { Authenticator, type Authorization, type RegistryAuth } from "./token.js";

/** Counters for tests and benchmarks. */
export interface RegistryStats {
  /** HTTP requests sent (every try, hop and token request). */
  requests: number;
  byMethod: Record<string, number>;
  tokenRequests: number;
  retries: number;
  redirects: number;
  /** Blob downloads resumed with Range. */
  resumes: number;
  /** Uploads restarted from the beginning. */
  uploadRestarts: number;
}

/** The body of one request: bytes, or a stream (repeatable only through `reopen`). */
export type Body = Buffer | string | Readable | undefined;

/** One logical request. */
export interface SendInit {
  method: string;
  url: URL;
  /** Registry the request belongs to: Authorization is attached when the URL is on its host. */
  registry?: string;
  scopes?: string[];
  headers?: Record<string, string>;
  body?: Body;
  /** Re-open a streamed body for a retry; without it a streamed request is tried once. */
  reopen?: () => Promise<Readable>;
  /** Statuses handed back to the caller; anything else throws. */
  ok: number[];
  /** Follow 3xx by hand (GET/HEAD). */
  redirect?: boolean;
  /** Allow retries (default true; a stream body without `reopen` is never retried). */
  retry?: boolean;
  /** Hand back any final status instead of throwing (after retries); used for token requests. */
  anyStatus?: boolean;
  signal?: AbortSignal;
}

/** A response handed back to callers; the caller consumes or dumps `body`. */
export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData["body"];
  /** The URL that answered (after redirects). */
  url: URL;
}

/** Options of the engine. */
export interface TransportOptions {
  insecure?: boolean;
  retries: number;
  backoff?: BackoffOptions;
  userAgent: string;
  logger?: (line: string) => void;
  onWarning?: (text: string) => void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 10;

/** True when `err` (or a cause of it) is a rejected server certificate: the server speaks TLS. */
function isCertificateError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /CERT|_SIGNATURE|_ISSUER/.test(code)) return true;
  }
  return false;
}

/** Header value as one string. */
export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Read a body up to `limit` bytes as text (the rest is discarded). */
export async function readText(body: Dispatcher.ResponseData["body"], limit = ERROR_BODY_LIMIT): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      const b = c as Buffer;
      if (n < limit) chunks.push(b.subarray(0, limit - n));
      n += b.length;
      if (n >= limit) break;
    }
  } catch {
    /* a broken error body still gives us the status */
  }
  discard(body);
  return Buffer.concat(chunks).toString("utf8");
}

/** Abandon a response body without an unhandled 'error' (undici emits one on destroy). */
export function discard(body: Dispatcher.ResponseData["body"]): void {
  body.on("error", () => undefined);
  body.destroy();
}

/** The host Docker Hub's API lives on. */
export function apiHost(registry: string): string {
  return registry === "docker.io" ? "index.docker.io" : registry;
}

/** Pull limits a registry announced (Docker Hub's `ratelimit-*` headers). */
export interface RateLimit {
  limit?: number;
  remaining: number;
  windowSeconds?: number;
}

/** `76;w=21600` ⇒ { value: 76, window: 21600 }; anything else ⇒ undefined. */
export function parseRateLimit(v: string | string[] | undefined): { value: number; window?: number } | undefined {
  const raw = Array.isArray(v) ? v[0] : v;
  const m = raw ? /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(raw) : null;
  if (!m) return undefined;
  return { value: Number(m[1]), window: m[2] !== undefined ? Number(m[2]) : undefined };
}

/** The request engine shared by every method of one RegistryClient. */
export class Transport {
  readonly stats: RegistryStats = { requests: 0, byMethod: {}, tokenRequests: 0, retries: 0, redirects: 0, resumes: 0, uploadRestarts: 0 };
  readonly auth: Authenticator;
  private readonly pool: DispatcherPool;
  private readonly opts: TransportOptions;
  private readonly pings = new Map<string, Promise<RegistryAuth>>();
  private readonly warned = new Set<string>();
  /** The last `ratelimit-*` headers seen per registry (Docker Hub's pull limits). */
  readonly rateLimits = new Map<string, RateLimit>();

  constructor(pool: DispatcherPool, opts: TransportOptions, auth: { keychain?: Keychain; credentials?: Credential }) {
    this.pool = pool;
    this.opts = opts;
    this.auth = new Authenticator({
      ...auth,
      onTokenRequest: () => this.stats.tokenRequests++,
      send: async (init) => {
        const res = await this.send({ method: init.method, url: init.url, headers: init.headers, body: init.body, ok: [], signal: init.signal, anyStatus: true });
        return { status: res.status, headers: res.headers, text: await readText(res.body, 1 << 20) };
      },
    });
  }

  /** Ping `/v2/` once per registry (https first; http when crane would fall back) and learn its auth. */
  ping(registry: string, signal?: AbortSignal): Promise<RegistryAuth> {
    let p = this.pings.get(registry);
    if (!p) {
      p = this.doPing(registry, signal);
      this.pings.set(registry, p);
      p.catch(() => this.pings.delete(registry));
    }
    return p;
  }

  /** Base URL (`scheme://host`) of a registry, after its ping. */
  async base(registry: string, signal?: AbortSignal): Promise<URL> {
    const a = await this.ping(registry, signal);
    return new URL(`${a.scheme}://${apiHost(registry)}`);
  }

  private async doPing(registry: string, signal?: AbortSignal): Promise<RegistryAuth> {
    const schemes: ("https" | "http")[] = allowsHttpFallback(registry, this.opts.insecure) ? ["https", "http"] : ["https"];
    // Where http is allowed, both probes start at once (https still wins when it answers): a plain
    // http registry then costs one round trip, not a failed TLS attempt followed by the http one.
    const controllers = schemes.map(() => new AbortController());
    const attempts = schemes.map((scheme, i) => {
      const url = new URL(`${scheme}://${apiHost(registry)}/v2/`);
      const sig = signal ? AbortSignal.any([signal, controllers[i]!.signal]) : controllers[i]!.signal;
      // a failing https attempt that may fall back to http is not retried
      return this.send({ method: "GET", url, ok: [200, 401], signal: sig, retry: scheme === schemes[schemes.length - 1] }).then(
        (res) => ({ res, err: undefined as unknown }),
        (err: unknown) => ({ res: undefined, err }),
      );
    });
    const dropRest = (from: number) => {
      for (let j = from; j < attempts.length; j++) {
        controllers[j]!.abort();
        void attempts[j]!.then((a) => a.res?.body.dump().catch(() => undefined));
      }
    };
    let firstErr: unknown;
    let lastErr: unknown;
    for (let i = 0; i < schemes.length; i++) {
      const scheme = schemes[i]!;
      const { res, err } = await attempts[i]!;
      if (!res) {
        // an https server answering the http fallback (Go: 400 "Client sent an HTTP request to an
        // HTTPS server") means https's failure (e.g. an unknown CA) is the real story
        if (firstErr && err instanceof RegistryError && err.status === 400) throw toTcraneError(firstErr);
        // a rejected certificate proves the server speaks TLS: http cannot work there, and servers
        // other than Go's (node:https) just close a plain-http connection, hiding the real story
        if (scheme === "https" && isCertificateError(err)) {
          dropRest(i + 1);
          throw toTcraneError(err);
        }
        firstErr ??= err;
        lastErr = err;
        if (err instanceof TcraneError && err.code !== "NETWORK") {
          dropRest(i + 1);
          throw err;
        }
        continue;
      }
      dropRest(i + 1);
      if (res.status === 200) {
        await res.body.dump();
        return { scheme };
      }
      const challenges = parseChallenges(res.headers["www-authenticate"]);
      await res.body.dump();
      return { scheme, challenge: pickChallenge(challenges) };
    }
    throw toTcraneError(lastErr); // the http fallback's error carries the number of tries
  }

  /** The Authorization for `scopes` on `registry` (pings first). */
  async authorization(registry: string, scopes: string[], signal?: AbortSignal): Promise<Authorization> {
    const a = await this.ping(registry, signal);
    return this.auth.authorize(registry, a, scopes, signal);
  }

  private log(line: string): void {
    if (this.opts.logger) this.opts.logger(redactText(line));
  }

  /** Record `ratelimit-limit: 100;w=21600` / `ratelimit-remaining: 76;w=21600` (Docker Hub). */
  private noteRateLimit(registry: string, h: IncomingHttpHeaders): void {
    const remaining = parseRateLimit(h["ratelimit-remaining"]);
    if (!remaining) return;
    const limit = parseRateLimit(h["ratelimit-limit"]);
    this.rateLimits.set(registry, { remaining: remaining.value, limit: limit?.value, windowSeconds: remaining.window ?? limit?.window });
  }

  private warnings(h: IncomingHttpHeaders): void {
    if (!this.opts.onWarning) return;
    const raw = h["warning"];
    const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
    for (const w of list) {
      const re = /(\d{3})\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;
      let m: RegExpExecArray | null;
      while ((m = re.exec(w))) {
        if (m[1] !== "299") continue;
        const text = m[2]!.replace(/\\(.)/g, "$1");
        if (this.warned.has(text)) continue;
        this.warned.add(text);
        this.opts.onWarning(redactText(text));
      }
    }
  }

  /**
   * Send a request: auth, retries, redirects, logging. Returns the response when its status is in
   * `ok`; otherwise reads the error body and throws a RegistryError.
   */
  async send(init: SendInit): Promise<Response> {
    const anyStatus = init.anyStatus === true;
    const isStream = init.body !== undefined && typeof init.body !== "string" && !Buffer.isBuffer(init.body);
    const repeatable = init.retry !== false && (!isStream || init.reopen !== undefined);
    const maxTries = repeatable ? this.opts.retries + 1 : 1;
    let scopes = init.scopes ?? [];
    let authRetried = false;
    let body = init.body;
    let usedBody = false;
    for (let attempt = 0; ; attempt++) {
      if (usedBody && isStream) body = await init.reopen!();
      usedBody = true;
      let url = init.url;
      let res: Response;
      const headers: Record<string, string> = { "user-agent": this.opts.userAgent, ...(init.headers ?? {}) };
      let auth: Authorization | undefined;
      try {
        if (init.registry && url.host === apiHost(init.registry)) {
          auth = await this.authorization(init.registry, scopes, init.signal);
          if (auth.header) headers.authorization = auth.header;
        }
        res = await this.hop(init, url, headers, body);
        for (let hops = 0; init.redirect && REDIRECTS.has(res.status); hops++) {
          const loc = header(res.headers, "location");
          await res.body.dump();
          if (!loc) throw new TcraneError("REGISTRY", `redirect ${res.status} without Location`, { what: `${init.method} ${redactUrl(url)}` });
          if (hops >= MAX_HOPS) throw new TcraneError("REGISTRY", `too many redirects (${MAX_HOPS})`, { what: `${init.method} ${redactUrl(init.url)}` });
          const next = new URL(loc, url);
          if (next.href === url.href) throw new TcraneError("REGISTRY", "redirect loop", { what: `${init.method} ${redactUrl(url)}` });
          if (next.origin !== url.origin) delete headers.authorization;
          this.stats.redirects++;
          url = next;
          res = await this.hop(init, url, headers, body);
        }
      } catch (err) {
        if (err instanceof TcraneError && err.code !== "NETWORK") throw err;
        if (init.signal?.aborted) throw abortError(init.signal, err);
        if (attempt + 1 < maxTries && isRetryableError(err)) {
          this.stats.retries++;
          const wait = backoffDelay(attempt, undefined, this.opts.backoff);
          this.log(`retry ${init.method} ${redactUrl(init.url)} in ${wait} ms: ${(err as Error).message}`);
          await sleep(wait, init.signal);
          continue;
        }
        const e = toTcraneError(err);
        const tries = attempt + 1;
        throw new TcraneError(e.code === "FAILED" ? "NETWORK" : e.code, `${e.message}${tries > 1 ? gaveUp(tries) : ""}`, {
          what: `${init.method} ${redactUrl(url)}`,
          cause: err,
        });
      }
      res.url = url;
      if (res.status === 401 && init.registry && !authRetried && url.host === apiHost(init.registry) && (!isStream || init.reopen)) {
        const challenge = pickChallenge(parseChallenges(res.headers["www-authenticate"]));
        const text401 = await readText(res.body);
        authRetried = true;
        if (challenge && (challenge.scheme === "bearer" || challenge.scheme === "basic")) {
          const pinged = await this.ping(init.registry, init.signal);
          if (!pinged.challenge || pinged.challenge.scheme !== challenge.scheme || challenge.params.realm !== pinged.challenge.params.realm) {
            pinged.challenge = challenge; // the registry asked for auth the ping did not (or changed realm)
          }
          if (challenge.scheme === "bearer") {
            const asked = splitScopes(challenge.params.scope);
            this.auth.invalidate(init.registry, scopes);
            if (!scopesCover(scopes, asked)) scopes = mergeScopes(scopes, asked);
          }
          const cred = await this.auth.credential(init.registry, scopes);
          if (challenge.scheme === "bearer" || (cred && !auth?.header)) {
            attempt--; // an auth retry is not a failure retry
            continue;
          }
        }
        throw registryError({ method: init.method, url, status: 401, body: text401, contentType: header(res.headers, "content-type"), registry: init.registry });
      }
      if (init.ok.includes(res.status)) return res;
      if (RETRYABLE_STATUS.has(res.status) && attempt + 1 < maxTries) {
        const after = parseRetryAfter(res.headers["retry-after"]);
        await res.body.dump().catch(() => undefined);
        this.stats.retries++;
        const wait = backoffDelay(attempt, after, this.opts.backoff);
        this.log(`retry ${init.method} ${redactUrl(init.url)} in ${wait} ms: status ${res.status}`);
        await sleep(wait, init.signal);
        continue;
      }
      if (anyStatus) return res;
      const text = await readText(res.body);
      const err = registryError({
        method: init.method,
        url,
        status: res.status,
        body: text,
        contentType: header(res.headers, "content-type"),
        registry: init.registry,
      });
      if (attempt > 0 && RETRYABLE_STATUS.has(res.status)) {
        throw new RegistryError(err.code, err.message + gaveUp(attempt + 1), {
          status: err.status,
          method: err.method,
          url: err.url,
          errors: err.errors,
        });
      }
      throw err;
    }
  }

  /** One HTTP exchange, logged and counted. */
  private async hop(init: SendInit, url: URL, headers: Record<string, string>, body: Body): Promise<Response> {
    this.stats.requests++;
    this.stats.byMethod[init.method] = (this.stats.byMethod[init.method] ?? 0) + 1;
    const started = Date.now();
    // Lines are built only when someone reads them: redacting a URL costs ~40 µs, per request.
    const verbose = this.opts.logger !== undefined;
    if (verbose) this.log(`--> ${init.method} ${redactUrl(url)}`);
    const r = await request(url, {
      method: init.method as Dispatcher.HttpMethod,
      headers,
      body: body as Dispatcher.DispatchOptions["body"],
      dispatcher: this.pool.forHost(url.host),
      signal: init.signal,
      // undici closes the connection after every HEAD unless told not to (nodejs/undici#258);
      // registries send no body with HEAD, and a fresh connection per "exists" check costs a TCP
      // connect per blob (small image, 200 blobs: 218 connections without this, 14 with it).
      reset: false,
    });
    if (verbose) this.log(`<-- ${r.statusCode} ${init.method} ${redactUrl(url)} ${header(r.headers, "content-length") ?? "?"} bytes ${Date.now() - started} ms`);
    this.warnings(r.headers);
    if (init.registry) this.noteRateLimit(init.registry, r.headers);
    return { status: r.statusCode, headers: r.headers, body: r.body, url };
  }
}
