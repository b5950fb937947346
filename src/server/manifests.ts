/**
 * Manifest endpoints: GET/HEAD with content negotiation, PUT with full checking, DELETE.
 */
import { digestOf, parseDigest } from "../image/digest.js";
import { E } from "./errors.js";
import { checkManifest } from "./manifest-check.js";
import { parseManifestRef } from "./names.js";
import { readBody, requireWritable, send, type Handler } from "./context.js";

/** True when the Accept header allows `mediaType` (no Accept header allows anything). */
function acceptable(accept: string | undefined, mediaType: string): boolean {
  if (!accept || !accept.trim()) return true;
  const types = accept.split(",").map((t) => t.split(";")[0]!.trim().toLowerCase());
  const [major] = mediaType.split("/");
  return types.some((t) => t === mediaType || t === "*/*" || t === `${major}/*`);
}

/** GET and HEAD /v2/<name>/manifests/<ref>. */
export const getManifest: Handler = async (req, res, ctx, { name, param }) => {
  parseManifestRef(param);
  const m = await ctx.store.getManifest(name, param);
  if (!m) {
    if (!(await ctx.store.repoExists(name))) throw E.nameUnknown(name);
    throw E.manifestUnknown(param);
  }
  if (!acceptable(req.headers.accept, m.mediaType)) throw E.manifestUnknown(param);
  const headers = { "Content-Type": m.mediaType, "Content-Length": m.bytes.length, "Docker-Content-Digest": m.digest, ETag: `"${m.digest}"` };
  send(res, 200, headers, req.method === "HEAD" ? undefined : m.bytes);
};

/** PUT /v2/<name>/manifests/<ref>: check, verify references, store, tag. */
export const putManifest: Handler = async (req, res, ctx, { name, param }) => {
  requireWritable(ctx);
  const ref = parseManifestRef(param);
  const bytes = await readBody(req, ctx.maxManifestBytes);
  const checked = checkManifest(bytes, req.headers["content-type"]);
  const digest = digestOf(bytes, ref.digest ? parseDigest(ref.digest).algorithm : "sha256");
  if (ref.digest && digest !== ref.digest) throw E.digestInvalid(`expected ${ref.digest}, got ${digest}`, { expected: ref.digest, actual: digest });
  for (const b of checked.blobs) {
    if (b.urls && b.urls.length > 0) continue; // foreign layers live elsewhere
    if (!(await ctx.store.getBlob(name, b.digest))) throw E.manifestBlobUnknown(b.digest);
  }
  for (const c of checked.children) {
    if (!(await ctx.store.hasManifest(name, c.digest))) throw E.manifestBlobUnknown(c.digest);
  }
  await ctx.store.putManifest(name, { digest, mediaType: checked.mediaType, bytes }, { tag: ref.tag, subject: checked.subject?.digest });
  const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest };
  if (checked.subject) headers["OCI-Subject"] = checked.subject.digest;
  send(res, 201, headers);
};

/** DELETE /v2/<name>/manifests/<digest|tag>: a digest removes the manifest and its tags; a tag only untags. */
export const deleteManifest: Handler = async (_req, res, ctx, { name, param }) => {
  requireWritable(ctx);
  parseManifestRef(param);
  if (!(await ctx.store.deleteManifest(name, param))) {
    if (!(await ctx.store.repoExists(name))) throw E.nameUnknown(name);
    throw E.manifestUnknown(param);
  }
  send(res, 202, {});
};
