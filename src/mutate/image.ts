/**
 * The editable form of one image (manifest + config, unknown fields kept) and the walk that applies
 * an edit to an image or, as crane does for indexes, to every platform image of an index (a new
 * index is built; attestations and other non-platform children are kept untouched).
 */
import { TcraneError } from "../errors.js";
import { parseAnyManifest, parseConfig } from "../image/manifest.js";
import {
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_SCHEMA2,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  isImageManifest,
  isIndex,
  toDocker,
  toOci,
} from "../image/mediatypes.js";
import { DEFAULT_PLATFORM, selectManifest } from "../image/platform.js";
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from "../image/types.js";
import type { Source } from "../transports/types.js";
import { readManifest } from "../transfer/engine.js";
import type { EditSource } from "./edit-source.js";

/** One image being edited. Mutate `manifest` and `config` in place, then `writeImage`. */
export interface EditableImage {
  /** Manifest media type (Docker schema2 or OCI). */
  mediaType: string;
  manifest: ImageManifest;
  config: ImageConfig;
  /** The descriptor it was read from (undefined for an image built from scratch). */
  from?: Descriptor;
}

/** True for Docker schema2 images (their layers get Docker media types). */
export function isDockerImage(img: EditableImage): boolean {
  return img.mediaType === DOCKER_MANIFEST_SCHEMA2;
}

/** The gzip layer media type matching the image's flavour (ggcr crane.Append). */
export function layerMediaType(img: EditableImage): string {
  return isDockerImage(img) ? DOCKER_LAYER : OCI_LAYER_GZIP;
}

/** Re-label a layer descriptor for the image's flavour (same bytes: gzip/tar types only). */
export function relabel(img: EditableImage, d: Descriptor): Descriptor {
  return { ...d, mediaType: isDockerImage(img) ? toDocker(d.mediaType) : toOci(d.mediaType) };
}

/** Read an image manifest and its config from a source (both verified, size-limited). */
export async function readImage(source: Source, desc: Descriptor, signal?: AbortSignal): Promise<EditableImage> {
  const bytes = await readManifest(source, desc, signal);
  const parsed = parseAnyManifest(bytes, desc.mediaType, desc.digest);
  if (parsed.kind !== "manifest") throw new TcraneError("MALFORMED", "expected an image manifest, found an index", { what: desc.digest });
  const cfgBytes = await readManifest(source, parsed.value.config, signal);
  const config = parseConfig(cfgBytes, parsed.value.config.digest);
  return { mediaType: parsed.mediaType, manifest: structuredClone(parsed.value), config: structuredClone(config), from: desc };
}

/** An empty image (crane's `empty.Image`; OCI media types with `oci`). os/arch are set, as the image spec requires. */
export function emptyImage(oci: boolean, platform: Platform = DEFAULT_PLATFORM): EditableImage {
  const mediaType = oci ? OCI_MANIFEST : DOCKER_MANIFEST_SCHEMA2;
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    ...(platform["os.version"] ? { "os.version": platform["os.version"] } : {}),
    created: "1970-01-01T00:00:00Z",
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: oci ? OCI_CONFIG : DOCKER_CONFIG, digest: "", size: 0 },
    layers: [],
  };
  return { mediaType, manifest, config };
}

/** The platform an image's config declares (ggcr ConfigFile.Platform()). */
export function configPlatform(c: ImageConfig): Platform {
  const p: Platform = { os: c.os, architecture: c.architecture };
  if (c.variant) p.variant = c.variant;
  if (c["os.version"]) p["os.version"] = c["os.version"];
  if (c["os.features"]?.length) p["os.features"] = c["os.features"];
  return p;
}

/** Serialize the config and manifest into `edit`; returns the new manifest descriptor. */
export function writeImage(edit: EditSource, img: EditableImage): Descriptor {
  const cfg = edit.addJson(img.config, img.manifest.config.mediaType);
  img.manifest.config = { ...img.manifest.config, digest: cfg.digest, size: cfg.size };
  if (img.manifest.annotations && Object.keys(img.manifest.annotations).length === 0) delete img.manifest.annotations;
  return edit.addJson(img.manifest, img.mediaType);
}

/** An edit of one image; `platform` is the platform of the index entry (or the config's). */
export type ImageEditFn = (img: EditableImage, platform: Platform) => Promise<void> | void;

/** Options of editRoot. */
export interface EditRootOptions {
  /** A platform: edit only that image of an index (the result is an image). "all"/undefined: every platform. */
  platform?: Platform | "all";
  /** false when the destination cannot hold an index: one platform (default linux/amd64) is picked. */
  indexes?: boolean;
  /** Annotations to set on an edited index itself. */
  indexAnnotations?: Record<string, string>;
  signal?: AbortSignal;
}

/** True for index children that are platform images (not attestations or artifacts). */
export function isPlatformImage(d: Descriptor): boolean {
  if (!isImageManifest(d.mediaType)) return false;
  if (d.annotations?.["vnd.docker.reference.type"]) return false;
  return d.platform === undefined || (d.platform.os !== "unknown" && d.platform.architecture !== "unknown");
}

/** The result of editRoot. */
export interface EditedRoot {
  /** The new root (image manifest or index) registered in the edit source. */
  descriptor: Descriptor;
  /** How many images were edited. */
  images: number;
}

/**
 * Apply `fn` to the image `root` names in `source` — or, for an index, to each platform image (a new
 * index pushed), unless a platform is asked for or the destination holds no index. New content is
 * added to `edit`, whose origin must be `source`.
 */
export async function editRoot(edit: EditSource, source: Source, root: Descriptor, fn: ImageEditFn, opts: EditRootOptions = {}): Promise<EditedRoot> {
  const wanted = opts.platform === "all" ? undefined : opts.platform;
  if (isIndex(root.mediaType) && (wanted || opts.indexes === false)) {
    const idx = await readIndex(source, root, opts.signal);
    root = selectManifest(idx, wanted ?? DEFAULT_PLATFORM, root.digest);
  }
  if (isImageManifest(root.mediaType)) {
    const img = await readImage(source, root, opts.signal);
    await fn(img, root.platform ?? configPlatform(img.config));
    return { descriptor: writeImage(edit, img), images: 1 };
  }
  if (!isIndex(root.mediaType)) throw new TcraneError("UNKNOWN_MEDIA_TYPE", `cannot edit a ${root.mediaType}`, { what: root.digest });
  const idx = await readIndex(source, root, opts.signal);
  let images = 0;
  const manifests: Descriptor[] = [];
  for (const child of idx.manifests) {
    if (isPlatformImage(child) || isIndex(child.mediaType)) {
      const r = await editRoot(edit, source, child, fn, { ...opts, indexAnnotations: undefined });
      images += r.images;
      manifests.push({ ...child, mediaType: r.descriptor.mediaType, digest: r.descriptor.digest, size: r.descriptor.size });
    } else manifests.push(child);
  }
  if (images === 0) throw new TcraneError("NOT_FOUND", "the index holds no platform image to edit", { what: root.digest });
  const out: ImageIndex = { ...idx, manifests };
  if (opts.indexAnnotations && Object.keys(opts.indexAnnotations).length) out.annotations = { ...idx.annotations, ...opts.indexAnnotations };
  return { descriptor: edit.addJson(out, root.mediaType), images };
}

/** Read and parse an index. */
export async function readIndex(source: Source, desc: Descriptor, signal?: AbortSignal): Promise<ImageIndex> {
  const bytes = await readManifest(source, desc, signal);
  const parsed = parseAnyManifest(bytes, desc.mediaType, desc.digest);
  if (parsed.kind !== "index") throw new TcraneError("USAGE", `expected an index, found ${parsed.mediaType}`, { what: desc.digest });
  return structuredClone(parsed.value);
}

/** The empty index (OCI, or a Docker manifest list with `docker`). */
export function emptyIndex(docker: boolean): { mediaType: string; index: ImageIndex } {
  const mediaType = docker ? DOCKER_MANIFEST_LIST : OCI_INDEX;
  return { mediaType, index: { schemaVersion: 2, mediaType, manifests: [] } };
}
