/**
 * What the server checks in a pushed manifest: the body parses as JSON of a known manifest or index
 * media type, `mediaType` agrees with Content-Type, descriptors are well formed. It also derives
 * what the storage needs (referenced blobs, child manifests, subject) and the referrers descriptor.
 */
import { isDigest } from "../image/digest.js";
import type { Descriptor } from "../image/types.js";
import { E } from "./errors.js";

/** Media types of manifests the server stores. */
export const MediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerList]);
const MANIFEST_TYPES = new Set<string>([MediaTypes.ociManifest, MediaTypes.dockerManifest]);

/** True for a media type this server accepts as a manifest or index. */
export function isManifestType(mt: string): boolean {
  return INDEX_TYPES.has(mt) || MANIFEST_TYPES.has(mt);
}

/** What a checked manifest references. */
export interface CheckedManifest {
  mediaType: string;
  kind: "manifest" | "index";
  /** Config and layers (image manifests): must exist as blobs, except layers with `urls`. */
  blobs: Descriptor[];
  /** Child manifests (indexes): must exist as manifests. */
  children: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  configMediaType?: string;
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  const o = d as Record<string, unknown>;
  if (!o || typeof o !== "object" || Array.isArray(o)) throw E.manifestInvalid(`${where} is not a descriptor`);
  if (typeof o.mediaType !== "string" || o.mediaType === "") throw E.manifestInvalid(`${where}.mediaType missing`);
  if (typeof o.digest !== "string" || !isDigest(o.digest)) throw E.manifestInvalid(`${where}.digest invalid`);
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) throw E.manifestInvalid(`${where}.size invalid`);
  if (o.urls !== undefined && (!Array.isArray(o.urls) || o.urls.some((u) => typeof u !== "string"))) {
    throw E.manifestInvalid(`${where}.urls invalid`);
  }
  return o as unknown as Descriptor;
}

function baseType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(";")[0]?.trim().toLowerCase();
  return t ? t : undefined;
}

/**
 * Parse and check a manifest body pushed with `contentType`. Throws 400 MANIFEST_INVALID naming the
 * problem. Content-Type may be absent or generic (`application/json`): the type then comes from the
 * body's `mediaType`, else from its shape.
 */
export function checkManifest(bytes: Buffer, contentType: string | undefined): CheckedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw E.manifestInvalid("not valid JSON");
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw E.manifestInvalid("not a JSON object");
  if (doc.schemaVersion !== 2) throw E.manifestInvalid("schemaVersion must be 2");
  const ct = baseType(contentType);
  const generic = ct === undefined || ct === "application/json" || ct === "application/octet-stream";
  const field = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (doc.mediaType !== undefined && field === undefined) throw E.manifestInvalid("mediaType must be a string");
  if (field && !generic && field !== ct) throw E.manifestInvalid(`mediaType ${field} does not match Content-Type ${ct}`);
  let mediaType = generic ? field : ct;
  if (!mediaType) mediaType = Array.isArray(doc.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest;
  if (!isManifestType(mediaType)) throw E.manifestInvalid(`unsupported manifest media type ${mediaType}`);
  const subject = doc.subject === undefined ? undefined : checkDescriptor(doc.subject, "subject");
  const artifactType = typeof doc.artifactType === "string" ? doc.artifactType : undefined;
  const annotations = doc.annotations && typeof doc.annotations === "object" ? (doc.annotations as Record<string, string>) : undefined;
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw E.manifestInvalid("an index needs a manifests array");
    const children = doc.manifests.map((d, i) => checkDescriptor(d, `manifests[${i}]`));
    return { mediaType, kind: "index", blobs: [], children, subject, artifactType, annotations };
  }
  if (doc.manifests !== undefined) throw E.manifestInvalid("an image manifest has no manifests array");
  const config = checkDescriptor(doc.config, "config");
  if (!Array.isArray(doc.layers)) throw E.manifestInvalid("an image manifest needs a layers array");
  const layers = doc.layers.map((d, i) => checkDescriptor(d, `layers[${i}]`));
  return { mediaType, kind: "manifest", blobs: [config, ...layers], children: [], subject, artifactType, annotations, configMediaType: config.mediaType };
}

/** The descriptor of a stored manifest as listed by the referrers API. */
export function referrerDescriptor(digest: string, mediaType: string, bytes: Buffer): Descriptor {
  const d: Descriptor = { mediaType, digest, size: bytes.length };
  try {
    const m = checkManifest(bytes, mediaType);
    const at = m.artifactType ?? m.configMediaType;
    if (at) d.artifactType = at;
    if (m.annotations) d.annotations = m.annotations;
  } catch {
    /* stored manifests were checked on push; a bundle's may be odd: list it bare */
  }
  return d;
}

/** The sub-graph of a manifest for read-only stores: blobs and child manifests, never throws. */
export function childrenOf(bytes: Buffer, mediaType: string): { blobs: Descriptor[]; children: Descriptor[]; subject?: string } {
  try {
    const m = checkManifest(bytes, mediaType);
    return { blobs: m.blobs, children: m.children, subject: m.subject?.digest };
  } catch {
    return { blobs: [], children: [] };
  }
}
