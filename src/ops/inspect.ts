/**
 * `inspect IMAGE`: a skopeo-style summary of an image in any place (name, digest, tags, created,
 * platform, layers, env). An index without a platform is summarised as its list of manifests.
 */
import { TcraneError } from "../errors.js";
import { parseAnyManifest, parseConfig } from "../image/manifest.js";
import { isIndex, isSchema1 } from "../image/mediatypes.js";
import { parseSchema1, schema1Inspect } from "../image/schema1.js";
import type { Platform } from "../image/types.js";
import { DEFAULT_REGISTRY } from "../reference/index.js";
import { readManifest } from "../transfer/engine.js";
import type { TransportContext } from "../transports/index.js";
import { fetchManifestFrom, resolveImageFrom, withImageSource, type LookOptions } from "./look.js";

/** One layer as skopeo's `LayersData` shows it. */
export interface InspectLayer {
  MIMEType: string;
  Digest: string;
  Size: number;
  Annotations: Record<string, string> | null;
}

/** skopeo inspect's output for one image. */
export interface InspectImage {
  Name: string;
  /** The tag a Docker schema 1 manifest names itself by (only schema 1 has one; skopeo shows it). */
  Tag?: string;
  /** Digest of the manifest the reference resolved to (the index's when an index was resolved to a platform, as skopeo). */
  Digest: string;
  /** Every tag of the repository (registry places only; empty when listing is refused or not asked). */
  RepoTags: string[];
  Created?: string;
  DockerVersion?: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  /** Absent for a Docker schema 1 image (no layer sizes or media types), as skopeo shows it. */
  LayersData?: InspectLayer[];
  Env: string[] | null;
}

/** inspect's output for an index when no platform was asked. */
export interface InspectIndex {
  Name: string;
  Digest: string;
  MediaType: string;
  Manifests: Array<{ Digest: string; Platform: Platform | null }>;
}

/** Options of inspect. */
export interface InspectOptions extends LookOptions {
  /** Skip listing the repository's tags (skopeo --no-tags). */
  noTags?: boolean;
}

/**
 * Inspect an image in any place. With a platform, an index is resolved to that child; without one,
 * an index is summarised as `{Name, Digest, MediaType, Manifests}`.
 */
export async function inspect(ctx: TransportContext, image: string, opts: InspectOptions = {}): Promise<InspectImage | InspectIndex> {
  return withImageSource(ctx, image, async (os) => {
    const ref = os.place.reference;
    // skopeo names Docker Hub `docker.io/…`; other registries as given.
    const name = ref ? (ref.registry === DEFAULT_REGISTRY ? `docker.io/${ref.repository}` : ref.context) : os.place.raw;
    const wanted = opts.platform === "all" ? undefined : opts.platform;
    const root = await fetchManifestFrom(os, { signal: opts.signal });
    if (!wanted && isIndex(root.descriptor.mediaType)) {
      const parsed = parseAnyManifest(root.bytes, root.descriptor.mediaType, root.descriptor.digest);
      if (parsed.kind !== "index") throw new TcraneError("MALFORMED", "expected an index", { what: root.descriptor.digest });
      return {
        Name: name,
        Digest: root.descriptor.digest,
        MediaType: root.descriptor.mediaType,
        Manifests: parsed.value.manifests.map((m) => ({ Digest: m.digest, Platform: m.platform ?? null })),
      } satisfies InspectIndex;
    }
    const tags = async (): Promise<string[]> => {
      if (!ref || opts.noTags) return [];
      try {
        return await ctx.client.listTags(ref, { signal: opts.signal });
      } catch (e) {
        // Some registries refuse tag listing: carry on without tags (skopeo does the same).
        if (!(e instanceof TcraneError && (e.code === "UNAUTHORIZED" || e.code === "DENIED"))) throw e;
        return [];
      }
    };
    if (isSchema1(root.descriptor.mediaType)) {
      // no config blob: skopeo reads the newest v1Compatibility, and shows no LayersData (schema 1
      // lists no layer sizes or media types)
      const m = parseSchema1(root.bytes, root.descriptor.digest);
      const i = schema1Inspect(m, root.descriptor.digest);
      const out = { Name: name, Digest: root.descriptor.digest, RepoTags: await tags(), ...i };
      const { Created, DockerVersion, Labels, Architecture, Os, Variant, Layers, Env } = out;
      return JSON.parse(JSON.stringify({ Name: out.Name, Tag: m.tag || undefined, Digest: out.Digest, RepoTags: out.RepoTags, Created, DockerVersion, Labels, Architecture, Os, Variant: Variant || undefined, Layers, Env })) as InspectImage;
    }
    const img = await resolveImageFrom(os, { platform: wanted, signal: opts.signal }, root);
    const configBytes = await readManifest(os.source, img.manifest.config, opts.signal);
    const config = parseConfig(configBytes, img.manifest.config.digest);
    const out: InspectImage = {
      Name: name,
      Digest: img.root.digest,
      RepoTags: await tags(),
      Labels: config.config?.Labels ?? null,
      Architecture: config.architecture,
      Os: config.os,
      Layers: img.manifest.layers.map((l) => l.digest),
      LayersData: img.manifest.layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: l.annotations ?? null })),
      Env: config.config?.Env ?? null,
    };
    if (config.created) out.Created = config.created;
    const dockerVersion = config["docker_version"];
    if (typeof dockerVersion === "string" && dockerVersion) out.DockerVersion = dockerVersion;
    if (config.variant) out.Variant = config.variant;
    // Keep skopeo's key order.
    const { Name, Digest, RepoTags, Created, DockerVersion, Labels, Architecture, Os, Variant, Layers, LayersData, Env } = out;
    return JSON.parse(JSON.stringify({ Name, Digest, RepoTags, Created, DockerVersion, Labels, Architecture, Os, Variant, Layers, LayersData, Env })) as InspectImage;
  });
}

