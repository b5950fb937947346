/**
 * The HTTP side of the embedded registry: routes OCI distribution paths on the RAW request path
 * (never normalised, so `..` or `%2e%2e` in a repository name is refused as NAME_INVALID rather
 * than resolved), checks Basic auth, dispatches by method, and turns every failure into OCI error
 * JSON.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { cancelUpload, deleteBlob, finishUpload, getBlob, patchUpload, startUpload, uploadStatus } from "./blobs.js";
import { sendJson, type Ctx, type Handler } from "./context.js";
import { E, sendError } from "./errors.js";
import type { Htpasswd } from "./htpasswd.js";
import { catalog, listTags, referrers } from "./listing.js";
import { deleteManifest, getManifest, putManifest } from "./manifests.js";
import { checkName } from "./names.js";
import type { UiHandler } from "../ui/http.js";

type Methods = Partial<Record<string, Handler>>;

const ping: Handler = async (_req, res) => sendJson(res, 200, {});

/** Routes in match order: [regex on the raw path, has a name, methods]. */
const ROUTES: Array<[RegExp, boolean, Methods]> = [
  [/^\/v2\/?$/, false, { GET: ping, HEAD: ping }],
  [/^\/v2\/_catalog$/, false, { GET: catalog }],
  [/^\/v2\/(.+)\/tags\/list$/, true, { GET: listTags }],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, true, { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest }],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, true, { POST: startUpload }],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, true, { PATCH: patchUpload, PUT: finishUpload, GET: uploadStatus, DELETE: cancelUpload }],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, true, { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob }],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, true, { GET: referrers }],
];

function decodeParam(p: string | undefined): string {
  try {
    return decodeURIComponent(p ?? "");
  } catch {
    return "\0invalid";
  }
}

/** Options of the request listener. */
export interface ListenerOptions {
  htpasswd?: Htpasswd;
  realm?: string;
  logger?: (line: string) => void;
  /** The web page (`/`, `/ui/…`), behind the same auth as the API; absent: no page. */
  ui?: UiHandler;
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Ctx, opts: ListenerOptions): Promise<void> {
  res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  if (opts.htpasswd && !(await opts.htpasswd.check(req.headers.authorization))) throw E.unauthorized(opts.realm ?? "tcrane");
  if (opts.ui && !path.startsWith("/v2") && (await opts.ui(req, res))) return;
  for (const [re, named, methods] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const name = named ? checkName(m[1]!) : "";
    const handler = methods[req.method ?? ""];
    if (!handler) throw E.unsupported(`${req.method} is not allowed here`);
    await handler(req, res, ctx, { name, param: decodeParam(named ? m[2] : undefined), query });
    return;
  }
  throw E.notFound();
}

/** The node:http request listener of a registry. */
export function registryListener(ctx: Ctx, opts: ListenerOptions = {}): RequestListener {
  return (req, res) => {
    if (opts.logger) {
      const start = Date.now();
      res.on("finish", () => opts.logger!(`${req.method} ${(req.url ?? "").split("?")[0]} ${res.statusCode} ${Date.now() - start}ms`));
    }
    handle(req, res, ctx, opts).catch((err: unknown) => {
      const e = sendError(res, err);
      if (e.status >= 500) opts.logger?.(`error: ${err instanceof Error ? err.message : String(err)}`);
    });
  };
}
