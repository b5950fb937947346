/**
 * The connection layer: undici dispatchers per registry host with the right TLS settings and proxy.
 *
 * - TLS roots: Node's bundled roots, plus `caFile`, plus docker `certs.d/<host[:port]>/*.crt`
 *   (`certDir`, default /etc/docker/certs.d); client certificates from `*.cert` + `*.key` pairs there.
 *   `insecure` turns verification off.
 * - Proxies: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (lower case wins) through undici's
 *   EnvHttpProxyAgent (CONNECT tunnels), or the explicit `proxy` option.
 * - Connections: keep-alive, `connectionsPerHost` per origin (default 8), connect timeout (default
 *   15 s), response-header timeout (default 120 s) and stalled-body timeout (default 60 s: no byte
 *   for that long fails the read, which the retry layer resumes).
 */
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import type { Dispatcher } from "undici";
import { Agent, EnvHttpProxyAgent, Pool } from "./undici-lite.js";
import { TcraneError } from "../errors.js";

/** Default docker certs.d root. */
export const DEFAULT_CERT_DIR = "/etc/docker/certs.d";
/** Default connections per origin. */
export const DEFAULT_CONNECTIONS_PER_HOST = 8;
/** Default connect timeout (ms). */
export const DEFAULT_CONNECT_TIMEOUT = 15_000;
/** Default wait for response headers (ms). */
export const DEFAULT_HEADERS_TIMEOUT = 120_000;
/** Default stalled-body timeout: the longest gap between two body chunks (ms). */
export const DEFAULT_BODY_TIMEOUT = 60_000;

/** Explicit proxy settings (override the environment). */
export interface ProxyOptions {
  http?: string;
  https?: string;
  noProxy?: string;
}

/** Options of the connection layer (a subset of RegistryClientOptions). */
export interface HttpOptions {
  insecure?: boolean;
  caFile?: string;
  certDir?: string;
  connectionsPerHost?: number;
  connectTimeout?: number;
  headersTimeout?: number;
  bodyTimeout?: number;
  proxy?: ProxyOptions;
  dispatcher?: Dispatcher;
}

/** TLS material found for one host. */
export interface HostTls {
  ca: string[];
  cert?: string;
  key?: string;
}

/**
 * Read docker `certs.d/<host>/`: every `*.crt` is a CA; `<name>.cert` + `<name>.key` is a client
 * certificate pair (a `.cert` without its `.key` is an error, as in docker). Missing dir ⇒ empty.
 */
export function readCertsD(certDir: string, host: string): HostTls {
  const dir = join(certDir, host);
  const out: HostTls = { ca: [] };
  if (!existsSync(dir)) return out;
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith(".crt")) out.ca.push(readFileSync(path, "utf8"));
    else if (name.endsWith(".cert")) {
      const keyName = name.slice(0, -".cert".length) + ".key";
      if (!names.includes(keyName)) {
        throw new TcraneError("CONFIG", `missing key ${keyName} for client certificate ${name}`, { what: dir });
      }
      if (out.cert === undefined) {
        out.cert = readFileSync(path, "utf8");
        out.key = readFileSync(join(dir, keyName), "utf8");
      }
    } else if (name.endsWith(".key")) {
      const certName = name.slice(0, -".key".length) + ".cert";
      if (!names.includes(certName)) {
        throw new TcraneError("CONFIG", `missing client certificate ${certName} for key ${name}`, { what: dir });
      }
    }
  }
  return out;
}

/**
 * Pool factory for Agent/ProxyAgent that keeps one pool per origin for the whole run. undici 7.30's
 * Agent counts connected clients per origin and closes the pool when the count reaches 0; when a
 * closed pool's late 'disconnect' events arrive they decrement the count of the NEW pool for that
 * origin, which is closed in turn — after a connection is closed (undici closes one after every HEAD
 * unless the request says `reset: false`, see transport.ts) every later request opened a fresh connection (seen: 5 sequential GETs, 5 connections).
 * Hiding 'disconnect'/'connectionError' from the Agent keeps the pool; idle sockets still close on
 * keepAliveTimeout, and Agent.close() still closes every pool.
 */
export function stablePoolFactory(origin: string | URL, opts: object): Dispatcher {
  const pool = new Pool(origin, opts as ConstructorParameters<typeof Pool>[1]);
  const on = pool.on.bind(pool);
  (pool as unknown as { on: (ev: string, fn: (...a: unknown[]) => void) => Pool }).on = (ev, fn) =>
    ev === "disconnect" || ev === "connectionError" ? pool : on(ev as "drain", fn as never);
  return pool;
}

function hasProxy(p: ProxyOptions | undefined): boolean {
  const env = process.env;
  return Boolean(
    p?.http || p?.https || env.http_proxy || env.HTTP_PROXY || env.https_proxy || env.HTTPS_PROXY,
  );
}

/**
 * A pool of dispatchers keyed by host: hosts with certs.d material get their own; everyone else
 * shares one. A caller-supplied `dispatcher` replaces all of it.
 */
export class DispatcherPool {
  private readonly opts: HttpOptions;
  private readonly byHost = new Map<string, Dispatcher>();
  private shared: Dispatcher | undefined;
  private extraCa: string | undefined;
  private readonly owned: Dispatcher[] = [];

  constructor(opts: HttpOptions = {}) {
    this.opts = opts;
    if (opts.caFile) {
      try {
        this.extraCa = readFileSync(opts.caFile, "utf8");
      } catch (err) {
        throw new TcraneError("CONFIG", "cannot read CA file", { what: opts.caFile, cause: err });
      }
    }
  }

  /** The dispatcher for requests to `host` (host[:port], as in the URL). */
  forHost(host: string): Dispatcher {
    if (this.opts.dispatcher) return this.opts.dispatcher;
    const cached = this.byHost.get(host);
    if (cached) return cached;
    const certs = readCertsD(this.opts.certDir ?? DEFAULT_CERT_DIR, host);
    let d: Dispatcher;
    if (certs.ca.length === 0 && certs.cert === undefined) {
      this.shared ??= this.build({ ca: [] });
      d = this.shared;
    } else {
      d = this.build(certs);
    }
    this.byHost.set(host, d);
    return d;
  }

  private build(tls: HostTls): Dispatcher {
    const ca = [...tls.ca];
    if (this.extraCa) ca.push(this.extraCa);
    const connect: Record<string, unknown> = {
      timeout: this.opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT,
    };
    if (ca.length > 0) connect.ca = [...rootCertificates, ...ca];
    if (tls.cert) {
      connect.cert = tls.cert;
      connect.key = tls.key;
    }
    if (this.opts.insecure) connect.rejectUnauthorized = false;
    const common = {
      factory: stablePoolFactory,
      connections: this.opts.connectionsPerHost ?? DEFAULT_CONNECTIONS_PER_HOST,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: this.opts.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT,
      bodyTimeout: this.opts.bodyTimeout ?? DEFAULT_BODY_TIMEOUT,
    };
    let d: Dispatcher;
    if (hasProxy(this.opts.proxy)) {
      const p = this.opts.proxy ?? {};
      d = new EnvHttpProxyAgent({
        ...common,
        connect,
        requestTls: connect,
        ...(p.http !== undefined ? { httpProxy: p.http } : {}),
        ...(p.https !== undefined ? { httpsProxy: p.https } : {}),
        ...(p.noProxy !== undefined ? { noProxy: p.noProxy } : {}),
      } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
    } else {
      d = new Agent({ ...common, connect } as ConstructorParameters<typeof Agent>[0]);
    }
    this.owned.push(d);
    return d;
  }

  /** Close every dispatcher this pool created (not a caller-supplied one). */
  async close(): Promise<void> {
    const all = this.owned.splice(0);
    this.byHost.clear();
    this.shared = undefined;
    await Promise.all(all.map((d) => d.close().catch(() => undefined)));
  }
}
