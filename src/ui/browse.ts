/**
 * `tcrane browse REGISTRY`: the web page on a local port for any registry. tcrane's own client
 * fetches on the server side with the user's keychain, so the registry needs no CORS and the
 * browser never sees a credential or token. Requests whose Host header is not this server's
 * address (or localhost at its port) are refused, so another web site cannot read through it by
 * DNS rebinding.
 */
import { createServer, type Server } from "node:http";
import { isIP } from "node:net";
import { parseRegistry, DEFAULT_REGISTRY } from "../reference/index.js";
import type { RegistryClient } from "../registry/client.js";
import { parseAddress } from "../server/index.js";
import { listenOn } from "../server/listen.js";
import { uiHandler } from "./http.js";
import { clientSource } from "./source.js";

/** Options of startBrowse. */
export interface BrowseOptions {
  /** The registry to show: `HOST[:PORT]` (`docker.io` for Docker Hub). */
  registry: string;
  /** The client that talks to it (its keychain, TLS settings, retries). Not closed by close(). */
  client: RegistryClient;
  /** `HOST:PORT` to listen on (default `127.0.0.1:0`: loopback, a free port). */
  address?: string;
  /** Catalog and tag-list page size asked of the registry (default the client's, 1000). */
  pageSize?: number;
  /** One line per request (method, path, status, time). */
  logger?: (line: string) => void;
}

/** A running browse server. */
export interface RunningBrowse {
  /** `http://HOST:PORT/`: open this in a browser. */
  url: string;
  /** `HOST:PORT`. */
  host: string;
  /** The registry shown (normalised, e.g. `index.docker.io`). */
  registry: string;
  close(): Promise<void>;
}

/**
 * Whether a request's Host header names this server (listening at `hostPort`): its own address,
 * or localhost / 127.0.0.1 / [::1] at its port; on a wildcard address (0.0.0.0, ::) also any IP
 * literal at its port, but never a DNS name: a page whose name was rebound to this machine sends
 * its own name as Host (DNS rebinding), and would otherwise read the registry with the user's
 * credentials.
 */
export function allowedHost(hostHeader: string, hostPort: string, wildcard: boolean): boolean {
  const h = hostHeader.toLowerCase();
  const p = hostPort.slice(hostPort.lastIndexOf(":") + 1);
  if ([hostPort.toLowerCase(), `localhost:${p}`, `127.0.0.1:${p}`, `[::1]:${p}`].includes(h)) return true;
  if (!wildcard || !h.endsWith(`:${p}`)) return false;
  return isIP(h.slice(0, -p.length - 1).replace(/^\[(.*)\]$/, "$1")) !== 0;
}

/** Serve the web page for `opts.registry` until close(). */
export async function startBrowse(opts: BrowseOptions): Promise<RunningBrowse> {
  const registry = parseRegistry(opts.registry.replace(/^docker:\/\//, "").replace(/\/+$/, ""));
  const { host, port } = parseAddress(opts.address ?? "127.0.0.1:0");
  const shownRegistry = registry === DEFAULT_REGISTRY ? "docker.io" : registry;
  const handle = uiHandler(clientSource(opts.client, registry, { pageSize: opts.pageSize }), { mode: "browse", registry: shownRegistry });
  const wildcard = host === "0.0.0.0" || host === "::";
  let hostPort = "";
  const server: Server = createServer((req, res) => {
    if (opts.logger) {
      const start = Date.now();
      res.on("finish", () => opts.logger!(`${req.method} ${(req.url ?? "").split("?")[0]} ${res.statusCode} ${Date.now() - start}ms`));
    }
    if (!hostPort || !allowedHost(req.headers.host ?? "", hostPort, wildcard)) {
      res.statusCode = 421;
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.end("tcrane browse answers only requests addressed to its own host and port\n");
      return;
    }
    handle(req, res).then(
      (done) => {
        if (done) return;
        res.statusCode = 404;
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
        res.end("not found\n");
      },
      () => res.destroy(),
    );
  });
  const listening = await listenOn(server, host, port, opts.address ?? `${host}:${port}`);
  hostPort = listening.hostPort;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostPort}/`,
    host: hostPort,
    registry: shownRegistry,
    close: () => (closed ??= listening.close()),
  };
}
