/**
 * Paginated lists: tags (`/v2/<name>/tags/list`) and the catalog (`/v2/_catalog`), following
 * `Link: <…>; rel="next"` (relative or absolute, same scheme and host only) until there is none.
 */
import { TcraneError } from "../errors.js";
import { redactUrl } from "../redact.js";
import { CATALOG_SCOPE } from "../reference/index.js";
import { pullScopes, repoUrl, type Repo } from "./blob.js";
import { readText, type Transport } from "./transport.js";

/** First page size asked for (ggcr's; ECR rejects more than 1000). */
export const DEFAULT_PAGE_SIZE = 1000;
/** Safety stop against a registry that loops its Link headers. */
const MAX_PAGES = 100_000;

/**
 * The `rel="next"` target of a Link header, resolved against the request URL; undefined when there
 * is none. Throws when it points at another scheme or host.
 */
export function nextLink(link: string | string[] | undefined, requestUrl: URL): URL | undefined {
  const values = Array.isArray(link) ? link : link ? [link] : [];
  for (const v of values) {
    for (const part of v.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>(.*)$/.exec(part);
      if (!m) continue;
      const params = m[2]!;
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(params);
      if (!rel || !(rel[1] ?? rel[2] ?? "").split(/\s+/).includes("next")) continue;
      const next = new URL(m[1]!, requestUrl);
      if (next.protocol !== requestUrl.protocol || next.host !== requestUrl.host) {
        throw new TcraneError("REGISTRY", `pagination link points to another host: ${redactUrl(next)}`, { what: redactUrl(requestUrl) });
      }
      return next;
    }
  }
  return undefined;
}

/** Fetch every page of a list and concatenate the `key` arrays. */
export async function paginate(
  t: Transport,
  first: URL,
  registry: string,
  scopes: string[],
  key: "tags" | "repositories",
  signal?: AbortSignal,
): Promise<string[]> {
  const out: string[] = [];
  let url: URL | undefined = first;
  const seen = new Set<string>();
  for (let page = 0; url && page < MAX_PAGES; page++) {
    if (seen.has(url.href)) throw new TcraneError("REGISTRY", "pagination loop", { what: redactUrl(url) });
    seen.add(url.href);
    const res = await t.send({ method: "GET", url, registry, scopes, ok: [200], signal, headers: { accept: "application/json" } });
    const text = await readText(res.body, 64 << 20);
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new TcraneError("REGISTRY", `malformed ${key} list response`, { what: redactUrl(url) });
    }
    const list = j[key];
    if (Array.isArray(list)) for (const s of list) if (typeof s === "string") out.push(s);
    url = nextLink(res.headers.link, res.url);
  }
  return out;
}

/** Every tag of a repository (`pageSize` per request, default 1000). */
export async function listTags(t: Transport, repo: Repo, opts: { signal?: AbortSignal; pageSize?: number } = {}): Promise<string[]> {
  const n = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  const url = await repoUrl(t, repo, `tags/list?n=${n}`, opts.signal);
  return paginate(t, url, repo.registry, pullScopes(repo), "tags", opts.signal);
}

/** Every repository of a registry (`registry:catalog:*` scope). */
export async function catalog(t: Transport, registry: string, opts: { signal?: AbortSignal; pageSize?: number } = {}): Promise<string[]> {
  const n = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  const base = await t.base(registry, opts.signal);
  const url = new URL(`/v2/_catalog?n=${n}`, base);
  return paginate(t, url, registry, [CATALOG_SCOPE], "repositories", opts.signal);
}
