/**
 * Validating parsers for descriptors, image manifests, indexes and configs, and `children()`: the
 * ONE place the content graph is derived (index → manifests; manifest → config + layers).
 * Every error is a TcraneError naming the bad field, e.g. `manifests[2].digest: invalid digest`.
 * Unknown fields are kept on the parsed objects, so nothing is lost when a value is re-serialized.
 */
import { TcraneError } from "../errors.js";
import { digestOf, isDigest } from "./digest.js";
import {
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  baseMediaType,
  isImageManifest,
  isIndex,
  isKnown,
  isSchema1,
} from "./mediatypes.js";
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from "./types.js";

/** The OCI empty descriptor: the 2-byte `{}` blob used as config of artifacts. */
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: OCI_EMPTY,
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
  data: "e30=",
});

/** The result of `parseAnyManifest`. */
export type AnyManifest =
  | { kind: "index"; mediaType: string; value: ImageIndex }
  | { kind: "manifest"; mediaType: string; value: ImageManifest };

type Obj = Record<string, unknown>;

function malformed(field: string, reason: string, what?: string): TcraneError {
  return new TcraneError("MALFORMED", field ? `${field}: ${reason}` : reason, { what });
}

/** Parse JSON from bytes or a string; an object is returned as is. */
function toJson(input: unknown, what?: string): unknown {
  if (typeof input === "string" || input instanceof Uint8Array) {
    const text = typeof input === "string" ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8");
    try {
      return JSON.parse(text);
    } catch (e) {
      throw malformed("", `invalid JSON: ${(e as Error).message}`, what);
    }
  }
  return input;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function asObject(v: unknown, path: string, what?: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw malformed(path, "must be a JSON object", what);
  return v as Obj;
}

function optString(o: Obj, key: string, path: string, what?: string): void {
  if (o[key] !== undefined && typeof o[key] !== "string") throw malformed(join(path, key), "must be a string", what);
}

function reqString(o: Obj, key: string, path: string, what?: string): void {
  if (o[key] === undefined) throw malformed(join(path, key), "is required", what);
  if (typeof o[key] !== "string" || o[key] === "") throw malformed(join(path, key), "must be a non-empty string", what);
}

function optStringArray(o: Obj, key: string, path: string, what?: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (!Array.isArray(v)) throw malformed(join(path, key), "must be an array of strings", what);
  v.forEach((x, i) => {
    if (typeof x !== "string") throw malformed(`${join(path, key)}[${i}]`, "must be a string", what);
  });
}

function optAnnotations(o: Obj, key: string, path: string, what?: string): void {
  const v = o[key];
  if (v === undefined) return;
  const a = asObject(v, join(path, key), what);
  for (const [k, x] of Object.entries(a)) {
    if (typeof x !== "string") throw malformed(`${join(path, key)}["${k}"]`, "must be a string", what);
  }
}

function validatePlatform(v: unknown, path: string, what?: string): Platform {
  const o = asObject(v, path, what);
  reqString(o, "architecture", path, what);
  reqString(o, "os", path, what);
  optString(o, "os.version", path, what);
  optString(o, "variant", path, what);
  optStringArray(o, "os.features", path, what);
  optStringArray(o, "features", path, what);
  return o as unknown as Platform;
}

function validateDescriptor(v: unknown, path: string, what?: string): Descriptor {
  const o = asObject(v, path, what);
  reqString(o, "mediaType", path, what);
  if (typeof o.digest !== "string" || !isDigest(o.digest)) throw malformed(join(path, "digest"), "invalid digest", what);
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw malformed(join(path, "size"), "must be a non-negative integer", what);
  }
  optStringArray(o, "urls", path, what);
  optAnnotations(o, "annotations", path, what);
  optString(o, "artifactType", path, what);
  if (o.platform !== undefined) validatePlatform(o.platform, join(path, "platform"), what);
  if (o.data !== undefined) {
    if (typeof o.data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.data) || o.data.length % 4 !== 0) {
      throw malformed(join(path, "data"), "must be base64", what);
    }
    const bytes = Buffer.from(o.data, "base64");
    if (bytes.length !== o.size) throw malformed(join(path, "data"), `holds ${bytes.length} bytes, size says ${o.size}`, what);
    if (digestOf(bytes, o.digest.startsWith("sha512:") ? "sha512" : "sha256") !== o.digest) {
      throw malformed(join(path, "data"), "does not match the digest", what);
    }
  }
  return o as unknown as Descriptor;
}

/** Validate one descriptor (an object, or JSON bytes/string). `field` prefixes error messages. */
export function parseDescriptor(input: unknown, field = "", what?: string): Descriptor {
  return validateDescriptor(toJson(input, what), field, what);
}

/** The error of a command that reads schema 2 and OCI images only, given a schema 1 one. */
export function schema1Unsupported(what?: string): TcraneError {
  return new TcraneError(
    "UNSUPPORTED",
    "a Docker schema 1 image (legacy): this reads schema 2 and OCI images only; manifest, digest, inspect and copy handle schema 1 (copy into oci:, oci-archive: or docker-archive: converts it to schema 2)",
    { what },
  );
}

function checkSchemaVersion(o: Obj, what?: string): void {
  if (o.schemaVersion === 1) throw schema1Unsupported(what);
  if (o.schemaVersion !== 2) throw malformed("schemaVersion", "must be 2", what);
}

function commonFields(o: Obj, what?: string): void {
  optString(o, "mediaType", "", what);
  optString(o, "artifactType", "", what);
  optAnnotations(o, "annotations", "", what);
  if (o.subject !== undefined) validateDescriptor(o.subject, "subject", what);
}

function validateManifest(o: Obj, what?: string): ImageManifest {
  checkSchemaVersion(o, what);
  commonFields(o, what);
  if (o.mediaType !== undefined && !isImageManifest(o.mediaType as string)) {
    throw malformed("mediaType", `expected an image manifest, got ${String(o.mediaType)}`, what);
  }
  if (o.config === undefined) throw malformed("config", "is required", what);
  validateDescriptor(o.config, "config", what);
  if (!Array.isArray(o.layers)) throw malformed("layers", o.layers === undefined ? "is required" : "must be an array", what);
  o.layers.forEach((l, i) => validateDescriptor(l, `layers[${i}]`, what));
  return o as unknown as ImageManifest;
}

function validateIndex(o: Obj, what?: string): ImageIndex {
  checkSchemaVersion(o, what);
  commonFields(o, what);
  if (o.mediaType !== undefined && !isIndex(o.mediaType as string)) {
    throw malformed("mediaType", `expected an index, got ${String(o.mediaType)}`, what);
  }
  if (!Array.isArray(o.manifests)) {
    throw malformed("manifests", o.manifests === undefined ? "is required" : "must be an array", what);
  }
  o.manifests.forEach((m, i) => validateDescriptor(m, `manifests[${i}]`, what));
  return o as unknown as ImageIndex;
}

/** Parse and validate an OCI image manifest or Docker schema2 manifest. Throws MALFORMED. */
export function parseImageManifest(input: Uint8Array | string, what?: string): ImageManifest {
  return validateManifest(asObject(toJson(input, what), "", what), what);
}

/** Parse and validate an OCI index or Docker manifest list. Throws MALFORMED. */
export function parseIndex(input: Uint8Array | string, what?: string): ImageIndex {
  return validateIndex(asObject(toJson(input, what), "", what), what);
}

/**
 * Parse and validate an image config (OCI or Docker). `architecture`, `os` and `rootfs` are
 * required; unknown fields are kept.
 */
export function parseConfig(input: Uint8Array | string, what?: string): ImageConfig {
  const o = asObject(toJson(input, what), "", what);
  reqString(o, "architecture", "", what);
  reqString(o, "os", "", what);
  optString(o, "os.version", "", what);
  optString(o, "variant", "", what);
  optString(o, "created", "", what);
  optString(o, "author", "", what);
  if (o.config !== undefined && o.config !== null) asObject(o.config, "config", what);
  if (o.rootfs === undefined) throw malformed("rootfs", "is required", what);
  const rootfs = asObject(o.rootfs, "rootfs", what);
  if (rootfs.type !== "layers") throw malformed("rootfs.type", 'must be "layers"', what);
  if (!Array.isArray(rootfs.diff_ids)) throw malformed("rootfs.diff_ids", "must be an array", what);
  rootfs.diff_ids.forEach((d, i) => {
    if (typeof d !== "string" || !isDigest(d)) throw malformed(`rootfs.diff_ids[${i}]`, "invalid digest", what);
  });
  if (o.history !== undefined) {
    if (!Array.isArray(o.history)) throw malformed("history", "must be an array", what);
    o.history.forEach((h, i) => asObject(h, `history[${i}]`, what));
  }
  return o as unknown as ImageConfig;
}

/** Content types that say nothing about the manifest kind (treated as absent). */
const GENERIC_CONTENT_TYPES = new Set(["", "application/json", "application/octet-stream", "text/plain"]);

/**
 * Parse a manifest or index whose kind is known from its body's `mediaType`, else from
 * `contentType` (a Content-Type header or a descriptor's mediaType), else from its shape (OCI
 * allows manifests without mediaType). Both present and different ⇒ MALFORMED; schema1 ⇒
 * UNSUPPORTED; a type that is not a manifest or index ⇒ UNKNOWN_MEDIA_TYPE.
 */
export function parseAnyManifest(input: Uint8Array | string, contentType?: string, what?: string): AnyManifest {
  const o = asObject(toJson(input, what), "", what);
  const ct = contentType === undefined ? "" : baseMediaType(contentType);
  const header = GENERIC_CONTENT_TYPES.has(ct) ? undefined : ct;
  const body = typeof o.mediaType === "string" ? o.mediaType : undefined;
  if (o.mediaType !== undefined && body === undefined) throw malformed("mediaType", "must be a string", what);
  if (body !== undefined && header !== undefined && body !== header) {
    throw malformed("mediaType", `${body} does not match the content type ${header}`, what);
  }
  let mediaType = body ?? header;
  if (isSchema1(mediaType) || o.schemaVersion === 1) checkSchemaVersion({ schemaVersion: 1 }, what);
  if (mediaType === undefined) {
    if (Array.isArray(o.manifests)) mediaType = OCI_INDEX;
    else if (o.config !== undefined && o.layers !== undefined) mediaType = OCI_MANIFEST;
    else throw new TcraneError("UNKNOWN_MEDIA_TYPE", "no mediaType and not shaped like a manifest or index", { what });
  }
  if (isIndex(mediaType)) return { kind: "index", mediaType, value: validateIndex(o, what) };
  if (isImageManifest(mediaType)) return { kind: "manifest", mediaType, value: validateManifest(o, what) };
  throw new TcraneError(
    "UNKNOWN_MEDIA_TYPE",
    isKnown(mediaType)
      ? `${mediaType} is not a manifest or an index`
      : `unknown manifest media type ${mediaType}`,
    { what },
  );
}

/**
 * The children of a node, in order: an index's manifests, a manifest's config then layers. Blobs
 * (any other media type) have none. The subject of a manifest is a reference, not a child.
 */
export function children(mediaType: string, bytes: Uint8Array | string, what?: string): Descriptor[] {
  const mt = baseMediaType(mediaType);
  if (isSchema1(mt)) checkSchemaVersion({ schemaVersion: 1 }, what);
  if (isIndex(mt)) return [...parseIndex(bytes, what).manifests];
  if (isImageManifest(mt)) {
    const m = parseImageManifest(bytes, what);
    return [m.config, ...m.layers];
  }
  return [];
}
