/**
 * The referrers API (OCI distribution 1.1): `GET /v2/<name>/referrers/<digest>[?artifactType=]`,
 * Link-paginated, filtered client-side when the registry did not apply the filter; when the
 * registry has no such API (404/400/406 or a non-index answer) the tag schema `<alg>-<hex>` is read.
 */
import { isNotFound, TcraneError } from "../errors.js";
import { parseDigest } from "../image/digest.js";
import type { Descriptor, ImageIndex } from "../image/types.js";
import { redactUrl } from "../redact.js";
import { pullScopes, repoUrl, type Repo } from "./blob.js";
import { getManifest } from "./manifest.js";
import { nextLink } from "./pagination.js";
import { header, readText, type Transport } from "./transport.js";

const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

/** The fallback tag of the referrers tag schema: `sha256:abc…` ⇒ `sha256-abc…` (spec truncation). */
export function referrersTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm.slice(0, 32)}-${hex.slice(0, 64)}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: INDEX, manifests: [] };
}

function parseIndex(text: string, what: string): ImageIndex {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new TcraneError("MALFORMED", "referrers response is not JSON", { what });
  }
  const idx = j as ImageIndex;
  if (!idx || typeof idx !== "object" || !Array.isArray(idx.manifests)) {
    throw new TcraneError("MALFORMED", "referrers response is not an image index", { what });
  }
  return idx;
}

function filter(manifests: Descriptor[], artifactType?: string): Descriptor[] {
  return artifactType ? manifests.filter((d) => d.artifactType === artifactType) : manifests;
}

/** Referrers of `digest` as an OCI index (empty when there are none). */
export async function referrers(
  t: Transport,
  repo: Repo,
  digest: string,
  opts: { signal?: AbortSignal; artifactType?: string } = {},
): Promise<ImageIndex> {
  parseDigest(digest);
  const q = opts.artifactType ? `?artifactType=${encodeURIComponent(opts.artifactType)}` : "";
  let url: URL | undefined = await repoUrl(t, repo, `referrers/${digest}${q}`, opts.signal);
  const all: Descriptor[] = [];
  let first = true;
  let result: ImageIndex | undefined;
  while (url) {
    const res = await t.send({
      method: "GET",
      url,
      registry: repo.registry,
      scopes: pullScopes(repo),
      headers: { accept: INDEX },
      ok: first ? [200, 400, 404, 406] : [200],
      redirect: true,
      signal: opts.signal,
    });
    const ct = (header(res.headers, "content-type") ?? "").split(";")[0]!.trim();
    if (first && (res.status !== 200 || ct !== INDEX)) {
      await res.body.dump();
      return fallback(t, repo, digest, opts);
    }
    first = false;
    const idx = parseIndex(await readText(res.body, 16 << 20), redactUrl(url));
    result ??= idx;
    const applied = (header(res.headers, "oci-filters-applied") ?? "").split(",").map((s) => s.trim());
    all.push(...(applied.includes("artifactType") ? idx.manifests : filter(idx.manifests, opts.artifactType)));
    url = nextLink(res.headers.link, res.url);
  }
  return { ...(result ?? emptyIndex()), mediaType: INDEX, manifests: all };
}

async function fallback(t: Transport, repo: Repo, digest: string, opts: { signal?: AbortSignal; artifactType?: string }): Promise<ImageIndex> {
  let m;
  try {
    m = await getManifest(t, repo, referrersTag(digest), { signal: opts.signal, accept: [INDEX, MANIFEST_LIST] });
  } catch (err) {
    if (isNotFound(err)) return emptyIndex();
    throw err;
  }
  const idx = parseIndex(m.bytes.toString("utf8"), `${repo.registry}/${repo.repository}:${referrersTag(digest)}`);
  return { ...idx, mediaType: INDEX, manifests: filter(idx.manifests, opts.artifactType) };
}
