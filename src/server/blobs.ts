/**
 * Blob and upload endpoints: GET (with Range) / HEAD / DELETE of blobs; POST (session, monolithic,
 * cross-repository mount), PATCH (streamed or chunked with Content-Range), GET status, PUT
 * (finish, digest verified) and DELETE of upload sessions. Bodies stream to temp files.
 */
import type { ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { E, HttpError } from "./errors.js";
import { checkDigest, isValidName } from "./names.js";
import { hasBody, requireWritable, send, type Handler } from "./context.js";
import { rangeHeader, type UploadSession } from "./uploads.js";

/** Parse `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`; undefined = no usable Range header. */
function parseRange(h: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  const bad = () => new HttpError(416, "SIZE_INVALID", "requested range not satisfiable", { range: h, size }, { "Content-Range": `bytes */${size}` });
  if (!m || (m[1] === "" && m[2] === "")) throw bad();
  let start: number;
  let end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) throw bad();
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) throw bad();
  return { start, end };
}

/** GET and HEAD /v2/<name>/blobs/<digest>. */
export const getBlob: Handler = async (req, res, ctx, { name, param }) => {
  const digest = checkDigest(param);
  const blob = await ctx.store.getBlob(name, digest);
  if (!blob) throw E.blobUnknown(digest);
  const range = req.method === "GET" ? parseRange(req.headers.range, blob.size) : undefined;
  const headers: Record<string, string | number> = {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": digest,
    "Accept-Ranges": "bytes",
    ETag: `"${digest}"`,
    "Content-Length": range ? range.end - range.start + 1 : blob.size,
  };
  if (range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${blob.size}`;
  if (req.method === "HEAD") return send(res, 200, headers);
  const stream = await blob.open(range);
  res.writeHead(range ? 206 : 200, headers);
  await pipeline(stream, res);
};

/** DELETE /v2/<name>/blobs/<digest> (membership only; see the stores). */
export const deleteBlob: Handler = async (_req, res, ctx, { name, param }) => {
  requireWritable(ctx);
  const digest = checkDigest(param);
  if (!(await ctx.store.deleteBlob(name, digest))) throw E.blobUnknown(digest);
  send(res, 202, {});
};

function blobCreated(res: ServerResponse, name: string, digest: string): void {
  send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
}

function uploadAccepted(res: ServerResponse, status: number, s: UploadSession): void {
  send(res, status, {
    Location: `/v2/${s.repo}/blobs/uploads/${s.id}`,
    Range: rangeHeader(s),
    "Docker-Upload-UUID": s.id,
  });
}

/** POST /v2/<name>/blobs/uploads/: mount, monolithic upload, or a new session. */
export const startUpload: Handler = async (req, res, ctx, { name, query }) => {
  requireWritable(ctx);
  const mount = query.get("mount");
  const from = query.get("from");
  if (mount !== null) {
    const digest = checkDigest(mount);
    if (from && isValidName(from) && (await ctx.store.mountBlob(from, name, digest))) return blobCreated(res, name, digest);
  }
  const digestParam = query.get("digest");
  if (digestParam !== null) {
    const digest = checkDigest(digestParam);
    const { path, size } = await ctx.uploads.monolithic(req, digest);
    await ctx.store.commitBlob(name, digest, path, size);
    return blobCreated(res, name, digest);
  }
  const s = await ctx.uploads.create(name);
  uploadAccepted(res, 202, s);
};

function contentRange(h: string | undefined): { start: number; end: number } | undefined {
  if (!h) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(h.trim());
  if (!m) throw E.uploadInvalid(`malformed Content-Range ${h}`, 416);
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** PATCH /v2/<name>/blobs/uploads/<uuid>: append a chunk. */
export const patchUpload: Handler = async (req, res, ctx, { name, param }) => {
  requireWritable(ctx);
  const s = ctx.uploads.get(name, param, true);
  const range = contentRange(req.headers["content-range"]);
  await ctx.uploads.append(s, req, range);
  uploadAccepted(res, 202, s);
};

/** GET /v2/<name>/blobs/uploads/<uuid>: progress. */
export const uploadStatus: Handler = async (_req, res, ctx, { name, param }) => {
  uploadAccepted(res, 204, ctx.uploads.get(name, param));
};

/** PUT /v2/<name>/blobs/uploads/<uuid>?digest=: last chunk (optional), verify, commit. */
export const finishUpload: Handler = async (req, res, ctx, { name, param, query }) => {
  requireWritable(ctx);
  const s = ctx.uploads.get(name, param, true);
  const digest = checkDigest(query.get("digest"));
  if (hasBody(req)) await ctx.uploads.append(s, req, contentRange(req.headers["content-range"]));
  await ctx.uploads.finish(s, digest);
  await ctx.store.commitBlob(name, digest, s.path, s.size);
  blobCreated(res, name, digest);
};

/** DELETE /v2/<name>/blobs/uploads/<uuid>: cancel. */
export const cancelUpload: Handler = async (_req, res, ctx, { name, param }) => {
  const s = ctx.uploads.get(name, param, true);
  await ctx.uploads.cancel(s);
  send(res, 204, {});
};
