/**
 * The embedded registry (`tcrane registry serve`): a real OCI distribution server on node:http.
 * Storage is memory (default), an OCI image layout directory (`dir`) or a read-only bundle
 * (`from`); optional htpasswd Basic auth and TLS.
 */
import { readFile } from "node:fs/promises";
import { createServer as createHttp, type Server } from "node:http";
import { createServer as createHttps } from "node:https";
import { TcraneError } from "../errors.js";
import type { Ctx } from "./context.js";
import { DirStore } from "./dir-store.js";
import { openBundle } from "./bundle.js";
import { Htpasswd } from "./htpasswd.js";
import { listenOn, type Listening } from "./listen.js";
import { MemoryStore } from "./memory-store.js";
import { registryListener } from "./server.js";
import type { RegistryStore } from "./storage.js";
import { Uploads } from "./uploads.js";
import { uiHandler } from "../ui/http.js";
import { storeSource } from "../ui/source.js";

export type { RegistryStore, StoredManifest, BlobHandle } from "./storage.js";
export { MemoryStore } from "./memory-store.js";
export { DirStore } from "./dir-store.js";
export { FromStore, openLayoutDir, type BundleSource } from "./from-store.js";
export { registryListener } from "./server.js";

/** Options of startRegistry. */
export interface RegistryOptions {
  /** `HOST:PORT` to listen on (default `127.0.0.1:0`: loopback, a free port). `:PORT` listens on all interfaces. */
  address?: string;
  /** Store in this OCI image layout directory (created if missing) instead of memory. */
  dir?: string;
  /** Serve this OCI layout directory, oci-archive or docker-archive read-only, without unpacking it (exclusive with `dir`). */
  from?: string;
  /** htpasswd file (bcrypt entries): require Basic auth on every request. */
  htpasswd?: string;
  /** Serve HTTPS with this PEM certificate (needs tlsKey). */
  tlsCert?: string;
  /** PEM private key of tlsCert. */
  tlsKey?: string;
  /** Largest manifest accepted by PUT, in bytes (default 4 MiB, what registries must accept; more ⇒ 413). */
  maxManifestBytes?: number;
  /** Serve the read-only web page at `/` (default true; `--no-ui` turns it off). `/v2/` is the API either way. */
  ui?: boolean;
  /** Called with one line per request (method, path without query, status, time) and for server errors. */
  logger?: (line: string) => void;
}

/** A running registry. */
export interface RunningRegistry {
  /** `http://HOST:PORT` or `https://HOST:PORT`. */
  url: string;
  /** `HOST:PORT` as clients should name it (a wildcard listen address is reported as 127.0.0.1). */
  host: string;
  /** Stop listening, drop connections and uploads in progress, release the store. */
  close(): Promise<void>;
}

/** Split `HOST:PORT`, `[v6]:PORT` or `:PORT`. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new TcraneError("USAGE", "address must be HOST:PORT, [IPv6]:PORT or :PORT", { what: address });
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

async function openStore(opts: RegistryOptions): Promise<RegistryStore> {
  if (opts.dir && opts.from) throw new TcraneError("USAGE", "--dir and --from cannot be combined");
  if (opts.from) return openBundle(opts.from);
  if (opts.dir) return DirStore.open(opts.dir);
  return new MemoryStore();
}

/** Start a registry. Resolves once it listens. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  const { host, port } = parseAddress(opts.address ?? "127.0.0.1:0");
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new TcraneError("USAGE", "--tls-cert and --tls-key go together");
  const htpasswd = opts.htpasswd ? await Htpasswd.load(opts.htpasswd) : undefined;
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (opts.tlsCert && opts.tlsKey) {
    try {
      tls = { cert: await readFile(opts.tlsCert), key: await readFile(opts.tlsKey) };
    } catch (err) {
      throw new TcraneError("NOT_FOUND", "cannot read TLS certificate or key", { what: `${opts.tlsCert}, ${opts.tlsKey}`, cause: err });
    }
  }
  const store = await openStore(opts);
  const uploads = new Uploads(() => store.uploadDir());
  const ctx: Ctx = { store, uploads, maxManifestBytes: opts.maxManifestBytes ?? 4 << 20 };
  const ui = opts.ui === false ? undefined : uiHandler(storeSource(store), { mode: "serve" });
  const listener = registryListener(ctx, { htpasswd, logger: opts.logger, ui });
  const server: Server = tls ? createHttps({ cert: tls.cert, key: tls.key }, listener) : createHttp(listener);
  let listening: Listening;
  try {
    listening = await listenOn(server, host, port, opts.address ?? `${host}:${port}`);
  } catch (err) {
    await store.close();
    throw err;
  }
  const hostPort = listening.hostPort;
  let closed: Promise<void> | undefined;
  return {
    url: `${tls ? "https" : "http"}://${hostPort}`,
    host: hostPort,
    close: () =>
      (closed ??= (async () => {
        await listening.close();
        await uploads.closeAll();
        await store.close();
      })()),
  };
}
