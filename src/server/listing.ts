/**
 * Listing endpoints: tags, catalog (both paginated with `n`/`last` and a `Link: <…>; rel="next"`
 * header like distribution) and OCI 1.1 referrers.
 */
import type { Descriptor } from "../image/types.js";
import { E } from "./errors.js";
import { MediaTypes, referrerDescriptor } from "./manifest-check.js";
import { checkDigest } from "./names.js";
import { sendJson, type Handler } from "./context.js";

/** One page of a sorted list, and the Link header for the next page if any. */
function page(all: string[], query: URLSearchParams, path: string): { items: string[]; link?: string } {
  const last = query.get("last");
  let items = last ? all.filter((x) => x > last) : all;
  const nRaw = query.get("n");
  const n = nRaw !== null && /^\d+$/.test(nRaw) ? Number(nRaw) : undefined;
  if (n === undefined || items.length <= n) return { items };
  items = items.slice(0, n);
  if (n === 0) return { items };
  const next = new URLSearchParams({ last: items[items.length - 1]!, n: String(n) });
  return { items, link: `<${path}?${next.toString()}>; rel="next"` };
}

/** GET /v2/<name>/tags/list. */
export const listTags: Handler = async (_req, res, ctx, { name, query }) => {
  const tags = await ctx.store.listTags(name);
  if (!tags) throw E.nameUnknown(name);
  const p = page(tags, query, `/v2/${name}/tags/list`);
  sendJson(res, 200, { name, tags: p.items }, p.link ? { Link: p.link } : {});
};

/** GET /v2/_catalog. */
export const catalog: Handler = async (_req, res, ctx, { query }) => {
  const p = page(await ctx.store.listRepos(), query, "/v2/_catalog");
  sendJson(res, 200, { repositories: p.items }, p.link ? { Link: p.link } : {});
};

/** GET /v2/<name>/referrers/<digest>[?artifactType=]. An unknown subject yields an empty index. */
export const referrers: Handler = async (_req, res, ctx, { name, param, query }) => {
  const subject = checkDigest(param);
  let list: Descriptor[] = (await ctx.store.referrers(name, subject)).map((m) => referrerDescriptor(m.digest, m.mediaType, m.bytes));
  list.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const headers: Record<string, string> = {};
  const at = query.get("artifactType");
  if (at !== null) {
    list = list.filter((d) => d.artifactType === at);
    headers["OCI-Filters-Applied"] = "artifactType";
  }
  sendJson(res, 200, { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: list }, headers, MediaTypes.ociIndex);
};
