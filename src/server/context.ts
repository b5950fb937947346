/**
 * What every request handler receives, and the small HTTP helpers they share.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { E } from "./errors.js";
import type { RegistryStore } from "./storage.js";
import type { Uploads } from "./uploads.js";

/** Per-server state handed to handlers. */
export interface Ctx {
  store: RegistryStore;
  uploads: Uploads;
  /** Largest manifest body accepted (bytes). */
  maxManifestBytes: number;
}

/** A matched request: repository name, the last path parameter, and the query. */
export interface Route {
  name: string;
  param: string;
  query: URLSearchParams;
}

/** Handler signature. */
export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: Ctx, route: Route) => Promise<void>;

/** Answer with a status, headers and an optional body (Content-Length always set). */
export function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: string | Buffer): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  const b = body ?? "";
  if (!res.hasHeader("Content-Length")) res.setHeader("Content-Length", Buffer.byteLength(b));
  res.end(b);
}

/** Answer a JSON document. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}, type = "application/json"): void {
  send(res, status, { "Content-Type": type, ...headers }, JSON.stringify(value));
}

/** Read a whole (small) body; 413 via `tooLarge` when it exceeds `limit`. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const len = Number(req.headers["content-length"]);
  if (Number.isFinite(len) && len > limit) throw E.tooLarge(limit);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw E.tooLarge(limit);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** True when the request carries a body (non-zero Content-Length or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers["transfer-encoding"]) return true;
  const len = Number(req.headers["content-length"] ?? 0);
  return Number.isFinite(len) && len > 0;
}

/** Refuse writes on a read-only store. */
export function requireWritable(ctx: Ctx): void {
  if (ctx.store.readOnly) throw E.readOnly();
}
