/**
 * A fault-injecting HTTP proxy in front of a real registry, for what the stock registry cannot
 * produce: 429 + Retry-After, 5xx bursts, a socket reset at N bytes of a response, blob GETs
 * redirected to a second host (which records the headers it got and serves the bytes), 413 on a big
 * PATCH, an advertised `OCI-Chunk-Min-Length`, and `Link` headers rewritten to absolute URLs.
 * Every request is recorded (method, url, headers) on both hosts.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A request as the proxy (or the second host) saw it. */
export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Status answered (set when the answer starts). */
  status?: number;
}

/** What a rule does to a matching request. */
export type FaultAction =
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "reset"; atBytes: number | ((contentLength: number) => number) }
  | { kind: "redirect"; status?: number }
  | { kind: "chunkMin"; length: number }
  | { kind: "absoluteLink" }
  /** Forward, rewriting an absolute `Location` to a relative one (distribution's `relativeurls`). */
  | { kind: "relativeLocation" }
  | { kind: "delay"; ms: number }
  /** Forward, adding these response headers. */
  | { kind: "addHeaders"; headers: Record<string, string> }
  /** Forward, but stop sending the body after N bytes (the socket stays open). */
  | { kind: "stall"; atBytes: number | ((contentLength: number) => number) }
  /** Serve `tags/list` pages itself (n/last, Link rel="next"; absolute URLs when asked). */
  | { kind: "paginateTags"; absolute?: boolean };

/** A rule: the first matching rule with tries left applies. */
export interface FaultRule {
  match: (r: Recorded) => boolean;
  action: FaultAction;
  /** How many requests it applies to (default: all). */
  times?: number;
  /** How many requests it applied to so far. */
  hits?: number;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** host:port of the proxy (use it as the registry name). */
  host: string;
  url: string;
  log: Recorded[];
  rules: FaultRule[];
  add(rule: FaultRule): FaultRule;
  clear(): void;
  /** The second host that redirected blob GETs land on. */
  second: { host: string; url: string; log: Recorded[] };
  stop(): Promise<void>;
}

/** Listen on a free port of 127.0.0.1; resolves with the port. */
export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

/** The open sockets of `server` (to destroy them on stop). */
export function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return sockets;
}

/**
 * What every proxy handle shares: its address on 127.0.0.1, `add` and `clear` over its rules
 * (`clear` empties the logs too), and `stop` (destroy the open sockets, then close the servers).
 */
export function proxyHandle<R>(port: number, rules: R[], logs: unknown[][], servers: Server[], sockets: Set<Socket>[]) {
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    add(rule: R): R {
      rules.push(rule);
      return rule;
    },
    clear(): void {
      rules.length = 0;
      for (const l of logs) l.length = 0;
    },
    async stop(): Promise<void> {
      for (const s of sockets.flatMap((set) => [...set])) s.destroy();
      await Promise.all(servers.map((server) => new Promise((r) => server.close(r))));
    },
  };
}

/**
 * Start a proxy in front of `upstream` (`http://127.0.0.1:port`). `upstreamAuth` is the
 * Authorization the second host uses to fetch redirected blobs from the registry.
 */
export async function startFaultProxy(opts: { upstream: string; upstreamAuth?: string }): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream);
  const log: Recorded[] = [];
  const secondLog: Recorded[] = [];
  const rules: FaultRule[] = [];

  const forward = (req: IncomingMessage, res: ServerResponse, rec: Recorded, action?: FaultAction, headersOverride?: IncomingHttpHeaders, pathOverride?: string) => {
    const up = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: pathOverride ?? req.url,
        headers: headersOverride ?? req.headers,
      },
      (ur) => {
        const headers = { ...ur.headers };
        if (action?.kind === "chunkMin" && req.method === "POST") headers["oci-chunk-min-length"] = String(action.length);
        if (action?.kind === "addHeaders") Object.assign(headers, action.headers);
        if (action?.kind === "relativeLocation" && typeof headers.location === "string") {
          const loc = new URL(headers.location, "http://placeholder");
          headers.location = loc.pathname + loc.search;
        }
        if (action?.kind === "absoluteLink" && typeof headers.link === "string") {
          headers.link = headers.link.replace(/<(\/[^>]*)>/g, (_m, p: string) => `<http://${req.headers.host}${p}>`);
        }
        rec.status = ur.statusCode;
        res.writeHead(ur.statusCode ?? 502, headers);
        if (action?.kind === "reset" || action?.kind === "stall") {
          const total = Number(ur.headers["content-length"] ?? "0");
          const limit = typeof action.atBytes === "function" ? action.atBytes(total) : action.atBytes;
          const kind = action.kind;
          let sent = 0;
          ur.on("data", (c: Buffer) => {
            if (sent >= limit) return;
            const part = c.subarray(0, limit - sent);
            sent += part.length;
            res.write(part);
            if (sent >= limit) {
              ur.destroy();
              // let the bytes leave, then cut the connection (or leave it hanging for a while)
              setTimeout(() => res.socket?.destroy(), kind === "reset" ? 20 : 30_000).unref();
            }
          });
          ur.on("end", () => res.end());
          return;
        }
        ur.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const rec: Recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    log.push(rec);
    const rule = rules.find((r) => (r.times === undefined || (r.hits ?? 0) < r.times) && r.match(rec));
    if (rule) rule.hits = (rule.hits ?? 0) + 1;
    const action = rule?.action;
    if (action?.kind === "status") {
      req.resume();
      req.on("end", () => {
        rec.status = action.status;
        res.writeHead(action.status, { "content-type": "text/plain", ...(action.headers ?? {}) });
        res.end(action.body ?? "");
      });
      return;
    }
    if (action?.kind === "redirect") {
      req.resume();
      rec.status = action.status ?? 307;
      res.writeHead(rec.status, { location: `${second.url}/storage${req.url}${req.url?.includes("?") ? "&" : "?"}sig=presigned` });
      res.end();
      return;
    }
    if (action?.kind === "paginateTags") {
      req.resume();
      const u = new URL(req.url ?? "/", "http://x");
      const n = Number(u.searchParams.get("n") ?? "1000");
      const last = u.searchParams.get("last");
      const upHeaders = { ...req.headers };
      const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: "GET", path: u.pathname, headers: upHeaders }, (ur) => {
        const chunks: Buffer[] = [];
        ur.on("data", (c: Buffer) => chunks.push(c));
        ur.on("end", () => {
          if (ur.statusCode !== 200) {
            rec.status = ur.statusCode;
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            res.end(Buffer.concat(chunks));
            return;
          }
          const j = JSON.parse(Buffer.concat(chunks).toString()) as { name: string; tags: string[] };
          const all = [...(j.tags ?? [])].sort();
          const rest = last ? all.filter((t) => t > last) : all;
          const page = rest.slice(0, n);
          const headers: Record<string, string> = { "content-type": "application/json" };
          if (rest.length > n) {
            const next = `${u.pathname}?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}`;
            headers.link = `<${action.absolute ? `http://${req.headers.host}` : ""}${next}>; rel="next"`;
          }
          rec.status = 200;
          res.writeHead(200, headers);
          res.end(JSON.stringify({ name: j.name, tags: page }));
        });
      });
      up.on("error", () => res.destroy());
      up.end();
      return;
    }
    if (action?.kind === "delay") {
      setTimeout(() => forward(req, res, rec), action.ms);
      return;
    }
    forward(req, res, rec, action);
  });
  const sockets = trackSockets(server);

  // the second host: serves redirected blobs by fetching them from the registry with its own auth
  const secondServer = createServer((req, res) => {
    const rec: Recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    secondLog.push(rec);
    const path = (req.url ?? "").replace(/^\/storage/, "").replace(/[?&]sig=presigned$/, "");
    const headers: IncomingHttpHeaders = { host: upstream.host };
    if (opts.upstreamAuth) headers.authorization = opts.upstreamAuth;
    if (req.headers.range) headers.range = req.headers.range;
    forward(req, res, rec, undefined, headers, path);
  });
  const secondSockets = trackSockets(secondServer);

  const port = await listen(server);
  const port2 = await listen(secondServer);
  const second = { host: `127.0.0.1:${port2}`, url: `http://127.0.0.1:${port2}`, log: secondLog };
  return { ...proxyHandle(port, rules, [log, secondLog], [server, secondServer], [sockets, secondSockets]), log, rules, second };
}
