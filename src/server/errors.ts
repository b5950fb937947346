/**
 * OCI distribution error responses of the embedded registry: one error class carrying the HTTP
 * status, the spec's error code and optional extra headers, and the writer that turns any thrown
 * value into `{"errors":[{code,message,detail}]}` with the right status.
 */
import type { ServerResponse } from "node:http";

/** The OCI distribution error codes the server emits. */
export type OciErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TAG_INVALID";

/** An error answered to the client as OCI error JSON with `status`. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: OciErrorCode | "UNKNOWN";
  readonly detail: unknown;
  readonly headers: Record<string, string>;
  constructor(status: number, code: OciErrorCode | "UNKNOWN", message: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.headers = headers;
  }
}

/** Shorthands for the errors the handlers raise. */
export const E = {
  nameInvalid: (name: string) => new HttpError(400, "NAME_INVALID", "invalid repository name", { name }),
  nameUnknown: (name: string) => new HttpError(404, "NAME_UNKNOWN", "repository name not known to registry", { name }),
  manifestUnknown: (ref: string) => new HttpError(404, "MANIFEST_UNKNOWN", "manifest unknown", { reference: ref }),
  manifestInvalid: (why: string) => new HttpError(400, "MANIFEST_INVALID", `manifest invalid: ${why}`),
  manifestBlobUnknown: (digest: string) => new HttpError(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", { digest }),
  blobUnknown: (digest: string) => new HttpError(404, "BLOB_UNKNOWN", "blob unknown to registry", { digest }),
  uploadUnknown: (id: string) => new HttpError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", { uuid: id }),
  uploadInvalid: (why: string, status = 400, headers: Record<string, string> = {}) =>
    new HttpError(status, "BLOB_UPLOAD_INVALID", `blob upload invalid: ${why}`, undefined, headers),
  digestInvalid: (why: string, detail?: unknown) => new HttpError(400, "DIGEST_INVALID", `provided digest did not match uploaded content: ${why}`, detail),
  tagInvalid: (tag: string) => new HttpError(400, "TAG_INVALID", "manifest tag did not match URI", { tag }),
  unsupported: (why: string, status = 405) => new HttpError(status, "UNSUPPORTED", `the operation is unsupported: ${why}`),
  readOnly: () => new HttpError(405, "UNSUPPORTED", "the operation is unsupported: this registry serves a read-only bundle"),
  tooLarge: (limit: number) => new HttpError(413, "MANIFEST_INVALID", `manifest invalid: larger than ${limit} bytes`, { limit }),
  unauthorized: (realm: string) =>
    new HttpError(401, "UNAUTHORIZED", "authentication required", undefined, { "WWW-Authenticate": `Basic realm="${realm}"` }),
  notFound: () => new HttpError(404, "UNSUPPORTED", "no such endpoint"),
};

/** The JSON body of an error answer. */
export function errorBody(err: HttpError): string {
  const entry: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.detail !== undefined) entry.detail = err.detail;
  return JSON.stringify({ errors: [entry] });
}

/** Answer `err` (any thrown value; non-HttpErrors become 500 UNKNOWN) unless headers were sent. */
export function sendError(res: ServerResponse, err: unknown): HttpError {
  const e = err instanceof HttpError ? err : new HttpError(500, "UNKNOWN", "internal error", undefined);
  if (res.headersSent) {
    res.destroy();
    return e;
  }
  const body = errorBody(e);
  res.statusCode = e.status;
  for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
  return e;
}
