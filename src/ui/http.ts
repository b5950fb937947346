/**
 * The web page over HTTP: `/` (the page), `/ui/<asset>` and the read-only JSON API the page's
 * script calls, `/ui/api/...`. Mounted by the embedded registry (beside `/v2/`, behind its Basic
 * auth) and by `tcrane browse`. The answers hold registry data only: never a credential or token,
 * which stay with the source (tcrane's client) on the server side.
 *
 *   GET /ui/api/info                         {registry, mode}
 *   GET /ui/api/repositories                 {repositories}
 *   GET /ui/api/tags?repo=R                  {repo, tags}
 *   GET /ui/api/summaries?repo=R&tag=T…      {summaries: TagSummary[]} (≤ 200 tags a call)
 *   GET /ui/api/manifest?repo=R&ref=T|D      ManifestView
 *   GET /ui/api/blob-info?repo=R&digest=D[&ref=M] LayerInfo (size from the registry, descriptor from manifest M)
 *   GET /ui/api/layer?repo=R&digest=D[&max=N] LayerFiles
 *   GET /ui/api/blob?repo=R&digest=D         the blob's bytes (a download)
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { TcraneError } from "../errors.js";
import { redactText } from "../redact.js";
import { HttpError } from "../server/errors.js";
import { checkDigest, checkName, parseManifestRef } from "../server/names.js";
import { UI_ASSET_TYPES, uiAssets } from "./assets.js";
import type { UiSource } from "./source.js";
import { UiViews } from "./views.js";

/** Options of the UI handler. */
export interface UiHandlerOptions {
  /** `serve` (the embedded registry) or `browse` (a remote registry through tcrane's client). */
  mode: "serve" | "browse";
  /** The registry name shown in pull/copy lines; default: the request's Host header (serve). */
  registry?: string;
}

/** Handles a request if it is the page's; resolves false when the path is not the UI's. */
export type UiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const MAX_SUMMARIES = 200;
const MAX_FILES = 10_000;

/** Headers on every UI answer: nothing but tcrane's own files may run or load. */
const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

function answer(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, "Content-Type": type, ...extra })) res.setHeader(k, v);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  answer(res, status, "application/json; charset=utf-8", JSON.stringify(value), { "Cache-Control": "no-store" });
}

/** The HTTP status of a failure, for the page (never 401: the browser must not prompt for a registry's password). */
function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status === 401 ? 403 : err.status;
  if (!(err instanceof TcraneError)) return 500;
  switch (err.code) {
    case "NOT_FOUND":
      return 404;
    case "UNAUTHORIZED":
    case "DENIED":
      return 403;
    case "USAGE":
    case "INVALID_REFERENCE":
    case "INVALID_DIGEST":
      return 400;
    default:
      return 502;
  }
}

/** The error line the page shows, scrubbed as the CLI scrubs its own (cli/main.ts): no secret reaches the browser. */
function message(err: unknown): string {
  if (err instanceof HttpError) return redactText(err.message);
  if (err instanceof TcraneError) {
    if (err.code === "UNAUTHORIZED" || err.code === "DENIED") return `${redactText(err.line)} (log in with: tcrane auth login)`;
    return redactText(err.line);
  }
  return "internal error";
}

/** The UI's request handler over `source`. */
export function uiHandler(source: UiSource, opts: UiHandlerOptions): UiHandler {
  const views = new UiViews(source);
  return async (req, res) => {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    if (path !== "/" && path !== "/index.html" && !path.startsWith("/ui/")) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      json(res, 405, { error: `${req.method} is not allowed: the page is read-only` });
      return true;
    }
    const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    const controller = new AbortController();
    res.on("close", () => controller.abort());
    try {
      if (path.startsWith("/ui/api/")) await api(path.slice(8), query, req, res, views, opts, controller.signal);
      else await asset(path === "/" || path === "/index.html" ? "index.html" : path.slice(4), res);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else json(res, statusOf(err), { error: message(err) });
    }
    return true;
  };
}

async function asset(name: string, res: ServerResponse): Promise<void> {
  const type = Object.hasOwn(UI_ASSET_TYPES, name) ? UI_ASSET_TYPES[name] : undefined;
  if (!type) {
    json(res, 404, { error: "no such page" });
    return;
  }
  const body = (await uiAssets())[name]!;
  // node:http sends no body for HEAD, with the same headers
  answer(res, 200, type, body, { "Cache-Control": "no-cache" });
}

function repoParam(query: URLSearchParams): string {
  return checkName(query.get("repo") ?? "");
}

async function api(
  route: string,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
  views: UiViews,
  opts: UiHandlerOptions,
  signal: AbortSignal,
): Promise<void> {
  const source = views.source;
  switch (route) {
    case "info":
      return json(res, 200, { registry: opts.registry ?? req.headers.host ?? "", mode: opts.mode });
    case "repositories":
      return json(res, 200, { repositories: await source.catalog(signal) });
    case "tags": {
      const repo = repoParam(query);
      return json(res, 200, { repo, tags: await source.tags(repo, signal) });
    }
    case "summaries": {
      const repo = repoParam(query);
      const tags = query.getAll("tag");
      if (tags.length > MAX_SUMMARIES) throw new TcraneError("USAGE", `at most ${MAX_SUMMARIES} tags a request`);
      for (const t of tags) parseManifestRef(t);
      return json(res, 200, { repo, summaries: await views.summaries(repo, tags, signal) });
    }
    case "manifest": {
      const repo = repoParam(query);
      const ref = query.get("ref") ?? "";
      parseManifestRef(ref);
      return json(res, 200, await views.view(repo, ref, signal));
    }
    case "blob-info": {
      const repo = repoParam(query);
      const digest = checkDigest(query.get("digest"));
      const ref = query.get("ref") || undefined;
      if (ref) parseManifestRef(ref);
      return json(res, 200, await views.layerInfo(repo, digest, ref, signal));
    }
    case "layer": {
      const repo = repoParam(query);
      const digest = checkDigest(query.get("digest"));
      const max = Math.min(MAX_FILES, Math.max(1, Number(query.get("max") ?? 2000) || 2000));
      return json(res, 200, await views.layerFiles(repo, { digest }, max, signal));
    }
    case "blob": {
      const repo = repoParam(query);
      const digest = checkDigest(query.get("digest"));
      const stream = await source.blob(repo, { digest }, signal);
      res.statusCode = 200;
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      res.setHeader("Content-Type", "application/octet-stream");
      res.setHeader("Content-Disposition", `attachment; filename="${digest.replace(":", "-")}"`);
      res.setHeader("Cache-Control", "no-store");
      if (req.method === "HEAD") {
        stream.destroy();
        res.end();
        return;
      }
      try {
        await pipeline(stream, res);
      } catch (err) {
        // the browser went away, or the blob failed its digest check mid-way: the download is cut short
        res.destroy(err instanceof Error ? err : undefined);
      }
      return;
    }
    default:
      json(res, 404, { error: `no such API: ${route}` });
  }
}
