/**
 * Media types of Docker schema2 and OCI images (formats.md §e), the predicates every module uses
 * to classify a descriptor, and the Docker ⇔ OCI equivalences.
 */

/** Docker schema 1 manifest, unsigned (legacy; see schema1.ts). */
export const DOCKER_MANIFEST_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json";
/** Docker schema 1 manifest signed with libtrust (legacy; see schema1.ts). */
export const DOCKER_MANIFEST_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/** Docker schema2 image manifest. */
export const DOCKER_MANIFEST_SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker manifest list. */
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker image config. */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
/** Docker gzip layer. */
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** Docker uncompressed layer (ggcr). */
export const DOCKER_UNCOMPRESSED_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
/** Docker foreign (non-distributable) gzip layer. */
export const DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/** Docker plugin config. */
export const DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json";

/** OCI descriptor. */
export const OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json";
/** OCI layout header (`oci-layout` file). */
export const OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json";
/** OCI image index. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image manifest. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image config. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** OCI uncompressed layer. */
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
/** OCI gzip layer. */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** OCI zstd layer. */
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
/** OCI non-distributable uncompressed layer (deprecated). */
export const OCI_RESTRICTED_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar";
/** OCI non-distributable gzip layer (deprecated). */
export const OCI_RESTRICTED_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/** OCI non-distributable zstd layer (deprecated). */
export const OCI_RESTRICTED_LAYER_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/** OCI empty JSON blob `{}` (artifacts). */
export const OCI_EMPTY = "application/vnd.oci.empty.v1+json";

/** Artifact config types common in the wild (not image configs; listed for callers, not in KNOWN). */
export const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
/** cosign signature payload config. */
export const COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
/** in-toto attestation (buildkit). */
export const IN_TOTO = "application/vnd.in-toto+json";

/** Every image/manifest media type tcrane knows by name (formats.md §e). */
export const KNOWN_MEDIA_TYPES: readonly string[] = [
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  DOCKER_MANIFEST_SCHEMA2,
  DOCKER_MANIFEST_LIST,
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_UNCOMPRESSED_LAYER,
  DOCKER_FOREIGN_LAYER,
  DOCKER_PLUGIN_CONFIG,
  OCI_DESCRIPTOR,
  OCI_LAYOUT_HEADER,
  OCI_INDEX,
  OCI_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_LAYER_GZIP,
  OCI_LAYER_ZSTD,
  OCI_RESTRICTED_LAYER,
  OCI_RESTRICTED_LAYER_GZIP,
  OCI_RESTRICTED_LAYER_ZSTD,
  OCI_EMPTY,
];

/** The manifest Accept list crane sends (schema1 first, then v2/OCI manifests and indexes). */
export const MANIFEST_ACCEPT: readonly string[] = [
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  DOCKER_MANIFEST_SCHEMA2,
  OCI_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
];

/** Strip parameters (`; charset=utf-8`) and surrounding space from a Content-Type. */
export function baseMediaType(mt: string): string {
  const i = mt.indexOf(";");
  return (i >= 0 ? mt.slice(0, i) : mt).trim();
}

/** True for an OCI index or a Docker manifest list. */
export function isIndex(mt: string | undefined): boolean {
  return mt === OCI_INDEX || mt === DOCKER_MANIFEST_LIST;
}

/** True for an OCI image manifest or a Docker schema2 manifest. */
export function isImageManifest(mt: string | undefined): boolean {
  return mt === OCI_MANIFEST || mt === DOCKER_MANIFEST_SCHEMA2;
}

/**
 * True for any node that has children: an index, an image manifest, or a Docker schema 1 manifest
 * (whose children, its layers, come from schema1.ts: they carry no sizes).
 */
export function isManifest(mt: string | undefined): boolean {
  return isIndex(mt) || isImageManifest(mt) || isSchema1(mt);
}

/** True for Docker schema 1 (signed or not): registries keep it as is; file formats get it converted. */
export function isSchema1(mt: string | undefined): boolean {
  return mt === DOCKER_MANIFEST_SCHEMA1 || mt === DOCKER_MANIFEST_SCHEMA1_SIGNED;
}

const LAYERS = new Set<string>([
  DOCKER_LAYER,
  DOCKER_UNCOMPRESSED_LAYER,
  DOCKER_FOREIGN_LAYER,
  OCI_LAYER,
  OCI_LAYER_GZIP,
  OCI_LAYER_ZSTD,
  OCI_RESTRICTED_LAYER,
  OCI_RESTRICTED_LAYER_GZIP,
  OCI_RESTRICTED_LAYER_ZSTD,
]);

/** True for a filesystem layer media type (Docker or OCI, any compression, distributable or not). */
export function isLayer(mt: string | undefined): boolean {
  return mt !== undefined && LAYERS.has(mt);
}

/** True for an image config media type (Docker or OCI). */
export function isConfig(mt: string | undefined): boolean {
  return mt === OCI_CONFIG || mt === DOCKER_CONFIG;
}

/**
 * ggcr `MediaType.IsDistributable()`: false only for the Docker foreign layer and the OCI
 * non-distributable tar and tar+gzip layers; crane does not push those unless asked.
 */
export function isDistributable(mt: string | undefined): boolean {
  return mt !== DOCKER_FOREIGN_LAYER && mt !== OCI_RESTRICTED_LAYER && mt !== OCI_RESTRICTED_LAYER_GZIP;
}

/** True when tcrane knows this media type by name. */
export function isKnown(mt: string | undefined): boolean {
  return mt !== undefined && KNOWN_MEDIA_TYPES.includes(mt);
}

/** The compression a layer media type declares, or undefined when `mt` is not a known layer type. */
export function layerCompression(mt: string | undefined): "gzip" | "zstd" | "none" | undefined {
  switch (mt) {
    case DOCKER_LAYER:
    case DOCKER_FOREIGN_LAYER:
    case OCI_LAYER_GZIP:
    case OCI_RESTRICTED_LAYER_GZIP:
      return "gzip";
    case OCI_LAYER_ZSTD:
    case OCI_RESTRICTED_LAYER_ZSTD:
      return "zstd";
    case DOCKER_UNCOMPRESSED_LAYER:
    case OCI_LAYER:
    case OCI_RESTRICTED_LAYER:
      return "none";
    default:
      return undefined;
  }
}

const DOCKER_TO_OCI: Record<string, string> = {
  [DOCKER_MANIFEST_SCHEMA2]: OCI_MANIFEST,
  [DOCKER_MANIFEST_LIST]: OCI_INDEX,
  [DOCKER_CONFIG]: OCI_CONFIG,
  [DOCKER_LAYER]: OCI_LAYER_GZIP,
  [DOCKER_UNCOMPRESSED_LAYER]: OCI_LAYER,
  [DOCKER_FOREIGN_LAYER]: OCI_RESTRICTED_LAYER_GZIP,
};

const OCI_TO_DOCKER: Record<string, string> = {
  [OCI_MANIFEST]: DOCKER_MANIFEST_SCHEMA2,
  [OCI_INDEX]: DOCKER_MANIFEST_LIST,
  [OCI_CONFIG]: DOCKER_CONFIG,
  [OCI_LAYER_GZIP]: DOCKER_LAYER,
  [OCI_LAYER]: DOCKER_UNCOMPRESSED_LAYER,
  [OCI_RESTRICTED_LAYER_GZIP]: DOCKER_FOREIGN_LAYER,
};

/** The OCI equivalent of a Docker manifest, list, config or layer type; other types unchanged. */
export function toOci(mt: string): string {
  return DOCKER_TO_OCI[mt] ?? mt;
}

/**
 * The Docker equivalent of an OCI manifest, index, config or layer type; types without a Docker
 * equivalent (zstd layers, artifacts, the empty blob) are returned unchanged.
 */
export function toDocker(mt: string): string {
  return OCI_TO_DOCKER[mt] ?? mt;
}
