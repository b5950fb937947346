/**
 * RegistryClient: the distribution-spec client every registry transport and command uses. One client
 * per run: it owns the connection pools, the ping cache (scheme and auth per registry) and the token
 * cache. See transport.ts for the request chain and http.ts for TLS, proxies and timeouts.
 */
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { Credential, Keychain } from "../auth/types.js";
import type { ImageIndex } from "../image/types.js";
import { fetchBlob, headBlob, type Repo } from "./blob.js";
import { DispatcherPool, type ProxyOptions } from "./http.js";
import { deleteBlob, deleteManifest, getManifest, headManifest, putManifest, type ManifestResult } from "./manifest.js";
import { catalog, listTags } from "./pagination.js";
import { referrers } from "./referrers.js";
import { DEFAULT_RETRIES, type BackoffOptions } from "./retry.js";
import { Transport, type RateLimit, type RegistryStats } from "./transport.js";
import { pushBlob, pushBlobStream, tryMount } from "./upload.js";

export type { Repo } from "./blob.js";
export type { ManifestResult } from "./manifest.js";

/** Default User-Agent. */
export const DEFAULT_USER_AGENT = "tcrane/0.1";

/** Options of a RegistryClient; every field is optional. */
export interface RegistryClientOptions {
  /** Where credentials come from (default: anonymous). */
  keychain?: Keychain;
  /** Per-run credentials (--username/--password): win over the keychain for every registry. */
  credentials?: Credential;
  /** Plain http allowed for any host, and TLS verification off. */
  insecure?: boolean;
  /** Extra CA PEM file, added to Node's bundled roots. */
  caFile?: string;
  /** Docker certs.d root (default /etc/docker/certs.d): `<host[:port]>/*.crt`, `*.cert` + `*.key`. */
  certDir?: string;
  /** Retries after the first try of a repeatable request or restartable upload (default 4). */
  retries?: number;
  /** Backoff tuning (default: 500 ms doubling to 10 s, jittered; Retry-After honoured up to 120 s). */
  backoff?: BackoffOptions;
  /** One line per request and per response, already redacted (--verbose). */
  logger?: (line: string) => void;
  /** Called once per distinct `Warning: 299` text. */
  onWarning?: (text: string) => void;
  /** User-Agent header (default `tcrane/0.1`). */
  userAgent?: string;
  /** Connections per origin (default 8). */
  connectionsPerHost?: number;
  /** Force chunked uploads with chunks of this many bytes (default: one streamed PATCH). */
  chunkSize?: number;
  /** Connect timeout in ms (default 15 000). */
  connectTimeout?: number;
  /** Stalled-body timeout in ms: the longest wait for the next bytes of a response (default 60 000). */
  bodyTimeout?: number;
  /** Wait for response headers in ms (default 120 000). */
  headersTimeout?: number;
  /** Explicit proxies (default: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment). */
  proxy?: ProxyOptions;
  /** A caller-supplied dispatcher replacing our pools, TLS and proxy settings. */
  dispatcher?: Dispatcher;
}

/** The result of `token()`. */
export interface TokenResult {
  scheme: "bearer" | "basic" | "anonymous";
  token?: string;
  expiresIn?: number;
}

/** A client of the OCI distribution API (see the file comments of src/registry/ for behaviour). */
export class RegistryClient {
  private readonly pool: DispatcherPool;
  private readonly t: Transport;
  private readonly retries: number;
  private readonly backoff: BackoffOptions | undefined;
  private readonly chunkSize: number | undefined;

  constructor(opts: RegistryClientOptions = {}) {
    this.retries = opts.retries !== undefined && opts.retries >= 0 ? Math.floor(opts.retries) : DEFAULT_RETRIES;
    this.backoff = opts.backoff;
    this.chunkSize = opts.chunkSize !== undefined && opts.chunkSize > 0 ? opts.chunkSize : undefined;
    this.pool = new DispatcherPool(opts);
    this.t = new Transport(
      this.pool,
      {
        insecure: opts.insecure,
        retries: this.retries,
        backoff: opts.backoff,
        userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
        logger: opts.logger,
        onWarning: opts.onWarning,
      },
      { keychain: opts.keychain, credentials: opts.credentials },
    );
  }

  /** Counters for tests/bench: requests by method, token requests, retries, redirects, resumes. */
  get stats(): RegistryStats {
    return this.t.stats;
  }

  /**
   * Ping /v2/ and authenticate for `scopes` (default: none, i.e. just the registry). A bearer token
   * fetched here is cached, so calling this first with push scopes makes later pull-scoped requests
   * to the same repository reuse it. Throws UNAUTHORIZED/DENIED.
   */
  async checkAuth(registry: string, scopes: string[] = [], signal?: AbortSignal): Promise<void> {
    const base = await this.t.base(registry, signal);
    const res = await this.t.send({ method: "GET", url: new URL("/v2/", base), registry, scopes, ok: [200], signal });
    await res.body.dump();
  }

  /** The token for the scopes (bearer), or {scheme:'basic'|'anonymous'}. For `tcrane auth token`. */
  async token(registry: string, scopes: string[], signal?: AbortSignal): Promise<TokenResult> {
    const a = await this.t.authorization(registry, scopes, signal);
    if (a.scheme === "bearer") return { scheme: "bearer", token: a.token, expiresIn: a.expiresIn };
    return { scheme: a.scheme };
  }

  /** GET a manifest by tag or digest (by digest ⇒ verified). 404 ⇒ NOT_FOUND. */
  getManifest(repo: Repo, reference: string, opts: { signal?: AbortSignal; accept?: string[] } = {}): Promise<ManifestResult> {
    return getManifest(this.t, repo, reference, opts);
  }

  /** HEAD a manifest: media type, digest (Docker-Content-Digest) and size; undefined on 404. */
  headManifest(repo: Repo, reference: string, opts: { signal?: AbortSignal } = {}): Promise<{ mediaType: string; digest: string; size: number } | undefined> {
    return headManifest(this.t, repo, reference, opts);
  }

  /** PUT a manifest; skipped when a HEAD shows the same digest there already (`skipExisting: false` when the caller has checked). */
  putManifest(repo: Repo, reference: string, bytes: Buffer, mediaType: string, opts: { signal?: AbortSignal; skipExisting?: boolean } = {}): Promise<string> {
    return putManifest(this.t, repo, reference, bytes, mediaType, opts);
  }

  /** A verified stream of a blob; an interrupted download resumes with Range. 404 ⇒ NOT_FOUND (after trying the descriptor's `urls`, if any). */
  fetchBlob(repo: Repo, desc: { digest: string; size?: number; urls?: string[] }, opts: { signal?: AbortSignal; verify?: boolean } = {}): Promise<Readable> {
    return fetchBlob(this.t, repo, desc, { signal: opts.signal, retries: this.retries, backoff: this.backoff, verify: opts.verify });
  }

  /** HEAD a blob: its size, undefined on 404. */
  headBlob(repo: Repo, digest: string, opts: { signal?: AbortSignal } = {}): Promise<number | undefined> {
    return headBlob(this.t, repo, digest, opts.signal);
  }

  /**
   * Upload a blob. `body` is a stream or a function that (re)opens one (needed to restart after a
   * failure or to switch to chunks after a 413). `mountFrom` ⇒ try a cross-repo mount first (same
   * registry). `onProgress` gets the bytes sent so far. Returns 'mounted' | 'uploaded'.
   */
  pushBlob(
    repo: Repo,
    desc: { digest: string; size: number },
    body: Readable | (() => Promise<Readable>),
    opts: { signal?: AbortSignal; mountFrom?: Repo; onProgress?: (bytes: number) => void } = {},
  ): Promise<"mounted" | "uploaded"> {
    return pushBlob(this.t, repo, desc, body, { ...opts, chunkSize: this.chunkSize, retries: this.retries, backoff: this.backoff });
  }

  /** The pull limits `registry` announced in its last response that had them (Docker Hub), if any. */
  rateLimit(registry: string): RateLimit | undefined {
    return this.t.rateLimits.get(registry);
  }

  /**
   * Upload content whose digest and size are known only at its end (hashed while it streams, sent
   * with chunked transfer encoding); `open` is called again to restart a failed upload and must yield
   * the same bytes. Returns the digest and size the registry now holds.
   */
  pushBlobStream(
    repo: Repo,
    open: () => Promise<Readable>,
    opts: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
  ): Promise<{ digest: string; size: number }> {
    return pushBlobStream(this.t, repo, open, { ...opts, chunkSize: this.chunkSize, retries: this.retries, backoff: this.backoff });
  }

  /**
   * Try to mount `digest` from another repository of the same registry. True when mounted; false
   * otherwise (an upload session the registry may have opened instead is cancelled).
   */
  async mountBlob(repo: Repo, digest: string, from: Repo, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const r = await tryMount(this.t, repo, digest, from, opts.signal);
    if (r === "mounted") return true;
    if (r) {
      const res = await this.t
        .send({ method: "DELETE", url: r.url, registry: repo.registry, ok: [200, 202, 204, 404], retry: false, signal: opts.signal })
        .catch(() => undefined);
      await res?.body.dump();
    }
    return false;
  }

  /** Every tag (all pages; `pageSize` per request, default 1000). */
  listTags(repo: Repo, opts: { signal?: AbortSignal; pageSize?: number } = {}): Promise<string[]> {
    return listTags(this.t, repo, opts);
  }

  /** Every repository of the registry (all pages). */
  catalog(registry: string, opts: { signal?: AbortSignal; pageSize?: number } = {}): Promise<string[]> {
    return catalog(this.t, registry, opts);
  }

  /** DELETE a manifest. 404 ⇒ NOT_FOUND. */
  deleteManifest(repo: Repo, reference: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return deleteManifest(this.t, repo, reference, opts.signal);
  }

  /** DELETE a blob. 404 ⇒ NOT_FOUND. */
  deleteBlob(repo: Repo, digest: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return deleteBlob(this.t, repo, digest, opts.signal);
  }

  /** Referrers of a manifest (referrers API, or the `sha256-<hex>` tag schema when it is missing). */
  referrers(repo: Repo, digest: string, opts: { signal?: AbortSignal; artifactType?: string } = {}): Promise<ImageIndex> {
    return referrers(this.t, repo, digest, opts);
  }

  /** Close every connection this client opened. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
