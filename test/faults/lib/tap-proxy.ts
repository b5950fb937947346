/**
 * A second fault proxy for what test/harness/fault-proxy.ts does not do: cut a request while its
 * body is being uploaded, trickle a response slowly, rewrite a whole response (headers and body:
 * wrong Content-Length, flipped bits, HTML pages), and watch upload bytes as they pass (to kill the
 * registry mid-upload). Every request is logged with its headers.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { listen, proxyHandle, trackSockets } from "../../harness/fault-proxy.js";

/** A request as the tap saw it. */
export interface TapRecord {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  status?: number;
  /** Request body bytes that passed. */
  sent: number;
}

/** A rewritten response. */
export interface Rewritten {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What a tap rule does. */
export type TapAction =
  /** Destroy the connection after `atBytes` of the request body passed. */
  | { kind: "cutUpload"; atBytes: number }
  /** Send the response body `chunk` bytes at a time, `everyMs` apart. */
  | { kind: "trickle"; chunk: number; everyMs: number }
  /** Buffer the upstream response and hand back a rewritten one (the body is written as given, headers as given). */
  | { kind: "rewrite"; fn: (res: { status: number; headers: IncomingHttpHeaders; body: Buffer }) => Rewritten }
  /** Forward, calling `fn` with the running count of request body bytes; `true` from it pauses the upload for good. */
  | { kind: "watchUpload"; fn: (bytes: number) => boolean | void };

/** A tap rule: the first matching rule with tries left applies. */
export interface TapRule {
  match: (r: TapRecord) => boolean;
  action: TapAction;
  times?: number;
  hits?: number;
}

/** A running tap proxy. */
export interface TapProxy {
  host: string;
  url: string;
  log: TapRecord[];
  add(rule: TapRule): TapRule;
  clear(): void;
  stop(): Promise<void>;
}

function collect(s: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

/** Start a tap proxy in front of `upstream` (`http://host:port`). */
export async function startTapProxy(upstream: string): Promise<TapProxy> {
  const up = new URL(upstream);
  const log: TapRecord[] = [];
  const rules: TapRule[] = [];
  const server: Server = createServer((req, res) => {
    const rec: TapRecord = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, sent: 0 };
    log.push(rec);
    const rule = rules.find((r) => (r.times === undefined || (r.hits ?? 0) < r.times) && r.match(rec));
    if (rule) rule.hits = (rule.hits ?? 0) + 1;
    const a = rule?.action;
    // the Host header is kept, so the registry's absolute Locations point back at the tap
    const headers = { ...req.headers };
    const ureq = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, async (ur) => {
      rec.status = ur.statusCode;
      if (a?.kind === "rewrite") {
        const body = await collect(ur).catch(() => Buffer.alloc(0));
        const out = a.fn({ status: ur.statusCode ?? 502, headers: ur.headers, body });
        rec.status = out.status ?? ur.statusCode;
        res.writeHead(rec.status ?? 502, out.headers as IncomingHttpHeaders);
        // write as given: a declared Content-Length longer than the body ends in a cut connection
        res.write(out.body);
        const declared = Number(out.headers["content-length"] ?? NaN);
        if (Number.isFinite(declared) && declared > out.body.length) setTimeout(() => res.socket?.destroy(), 20);
        else res.end();
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (a?.kind === "trickle") {
        const buf = await collect(ur);
        for (let off = 0; off < buf.length; off += a.chunk) {
          if (res.destroyed) return;
          res.write(buf.subarray(off, off + a.chunk));
          await new Promise((r) => setTimeout(r, a.everyMs));
        }
        res.end();
        return;
      }
      ur.pipe(res);
    });
    ureq.on("error", () => res.destroy());
    req.on("data", (c: Buffer) => {
      rec.sent += c.length;
      if (a?.kind === "watchUpload" && a.fn(rec.sent) === true) {
        req.unpipe(ureq);
        req.pause();
      }
      if (a?.kind === "cutUpload" && rec.sent >= a.atBytes) {
        ureq.destroy();
        req.socket.destroy();
      }
    });
    req.pipe(ureq);
  });
  const sockets = trackSockets(server);
  const port = await listen(server);
  return { ...proxyHandle(port, rules, [log], [server], [sockets]), log };
}
