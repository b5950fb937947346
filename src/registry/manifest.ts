/**
 * Manifests: GET/HEAD by tag or digest with crane's Accept list, Content-Type and digest checks, PUT
 * (skipped when a HEAD shows the same digest already there), DELETE of manifests and blobs.
 *
 * Size limit on reads: 16 MiB (`MANIFEST_SIZE_LIMIT`). ggcr allows 100 MiB, but registries only
 * promise to accept ≥ 4 MB manifests (distribution refuses larger PUTs), so four times that bounds
 * memory against a misbehaving server while leaving room for huge indexes.
 */
import { TcraneError, VerificationError } from "../errors.js";
import { isDigest, parseDigest } from "../image/digest.js";
import { MANIFEST_ACCEPT } from "../image/mediatypes.js";
import { manifestDigest, schema1MediaType } from "../image/schema1.js";
import { redactUrl } from "../redact.js";
import { scope } from "../reference/index.js";
import { pullScopes, pushScopes, repoUrl, type Repo } from "./blob.js";
import { discard, header, type Transport } from "./transport.js";

/** Largest manifest read (bytes). */
export const MANIFEST_SIZE_LIMIT = 16 * 1024 * 1024;

/** crane's Accept list for manifests (remote.Get/Image/Head), from src/image/mediatypes.ts. */
export { MANIFEST_ACCEPT };

/** A manifest as read from a registry. */
export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  size: number;
}

function mediaTypeOf(contentType: string | undefined, bytes?: Buffer): string {
  const ct = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (ct && ct !== "application/json" && ct !== "application/octet-stream" && ct !== "text/plain") return ct;
  if (bytes) {
    try {
      const j = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
      if (typeof j.mediaType === "string" && j.mediaType) return j.mediaType;
      if (j.schemaVersion === 1) return schema1MediaType(bytes);
      if (Array.isArray(j.manifests)) return "application/vnd.oci.image.index.v1+json";
      return "application/vnd.oci.image.manifest.v1+json";
    } catch {
      /* fall through */
    }
  }
  return ct;
}

/** GET a manifest; by digest the bytes are verified. */
export async function getManifest(
  t: Transport,
  repo: Repo,
  reference: string,
  opts: { signal?: AbortSignal; accept?: string[]; scopes?: string[] } = {},
): Promise<ManifestResult> {
  const byDigest = isDigest(reference);
  const url = await repoUrl(t, repo, `manifests/${reference}`, opts.signal);
  const res = await t.send({
    method: "GET",
    url,
    registry: repo.registry,
    scopes: opts.scopes ?? pullScopes(repo),
    headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(",") },
    ok: [200],
    redirect: true,
    signal: opts.signal,
  });
  const what = `${repo.registry}/${repo.repository}${byDigest ? "@" : ":"}${reference}`;
  const declared = header(res.headers, "content-length");
  if (declared && Number(declared) > MANIFEST_SIZE_LIMIT) {
    discard(res.body);
    throw new TcraneError("REGISTRY", `manifest is ${declared} bytes, more than the ${MANIFEST_SIZE_LIMIT}-byte limit`, { what });
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > MANIFEST_SIZE_LIMIT) {
      discard(res.body);
      throw new TcraneError("REGISTRY", `manifest is larger than the ${MANIFEST_SIZE_LIMIT}-byte limit`, { what });
    }
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const mediaType = mediaTypeOf(header(res.headers, "content-type"), bytes);
  let digest: string;
  if (byDigest) {
    const { algorithm } = parseDigest(reference);
    digest = manifestDigest(bytes, mediaType, algorithm, what);
    if (digest !== reference) throw new VerificationError("DIGEST_MISMATCH", what, reference, digest);
  } else {
    digest = manifestDigest(bytes, mediaType, "sha256", what);
  }
  return { bytes, mediaType, digest, size: bytes.length };
}

/** HEAD a manifest: undefined on 404; falls back to GET when the registry omits the digest header. */
export async function headManifest(
  t: Transport,
  repo: Repo,
  reference: string,
  opts: { signal?: AbortSignal; scopes?: string[]; accept?: string[] } = {},
): Promise<{ mediaType: string; digest: string; size: number } | undefined> {
  const url = await repoUrl(t, repo, `manifests/${reference}`, opts.signal);
  const scopes = opts.scopes ?? pullScopes(repo);
  const res = await t.send({
    method: "HEAD",
    url,
    registry: repo.registry,
    scopes,
    headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(",") },
    ok: [200, 404],
    redirect: true,
    signal: opts.signal,
  });
  await res.body.dump();
  if (res.status === 404) return undefined;
  const digest = header(res.headers, "docker-content-digest");
  const len = header(res.headers, "content-length");
  const ct = header(res.headers, "content-type");
  if (digest && isDigest(digest) && len && /^\d+$/.test(len) && ct && (!isDigest(reference) || digest === reference)) {
    return { mediaType: mediaTypeOf(ct), digest, size: Number(len) };
  }
  const m = await getManifest(t, repo, reference, { signal: opts.signal, scopes, accept: opts.accept });
  return { mediaType: m.mediaType, digest: m.digest, size: m.size };
}

/** PUT a manifest under a tag or digest; skipped when a HEAD shows the same digest. Returns the digest. */
export async function putManifest(
  t: Transport,
  repo: Repo,
  reference: string,
  bytes: Buffer,
  mediaType: string,
  opts: { signal?: AbortSignal; skipExisting?: boolean } = {},
): Promise<string> {
  const alg = isDigest(reference) ? parseDigest(reference).algorithm : "sha256";
  const what = `${repo.registry}/${repo.repository}${isDigest(reference) ? "@" : ":"}${reference}`;
  const digest = manifestDigest(bytes, mediaType, alg, what);
  if (isDigest(reference) && digest !== reference) {
    throw new TcraneError("INVALID_DIGEST", `manifest bytes hash to ${digest}, not ${reference}`, { what });
  }
  const scopes = pushScopes(repo);
  if (opts.skipExisting !== false) {
    try {
      const have = await headManifest(t, repo, reference, { signal: opts.signal, scopes });
      if (have?.digest === digest) return digest;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // "exists" is an optimisation: a failing HEAD means "unknown, upload it"
    }
  }
  const url = await repoUrl(t, repo, `manifests/${reference}`, opts.signal);
  const res = await t.send({
    method: "PUT",
    url,
    registry: repo.registry,
    scopes,
    headers: { "content-type": mediaType },
    body: bytes,
    ok: [200, 201, 202],
    signal: opts.signal,
  });
  await res.body.dump();
  const got = header(res.headers, "docker-content-digest");
  if (got && isDigest(got) && got !== digest && parseDigest(got).algorithm === alg) {
    throw new TcraneError("REGISTRY", `registry stored digest ${got}, expected ${digest}`, { what: `PUT ${redactUrl(url)}` });
  }
  return digest;
}

/** DELETE a manifest (by digest; a tag where the registry allows it). 404 ⇒ NOT_FOUND. */
export async function deleteManifest(t: Transport, repo: Repo, reference: string, signal?: AbortSignal): Promise<void> {
  const url = await repoUrl(t, repo, `manifests/${reference}`, signal);
  const res = await t.send({ method: "DELETE", url, registry: repo.registry, scopes: [scope(repo.repository, ["push", "pull", "delete"])], ok: [200, 202, 204], signal });
  await res.body.dump();
}

/** DELETE a blob. 404 ⇒ NOT_FOUND. */
export async function deleteBlob(t: Transport, repo: Repo, digest: string, signal?: AbortSignal): Promise<void> {
  parseDigest(digest);
  const url = await repoUrl(t, repo, `blobs/${digest}`, signal);
  const res = await t.send({ method: "DELETE", url, registry: repo.registry, scopes: [scope(repo.repository, ["push", "pull", "delete"])], ok: [200, 202, 204], signal });
  await res.body.dump();
}
