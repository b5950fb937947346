/**
 * Index edits (crane `index list|filter|append`): listing the children of an index, keeping only
 * the children of some platforms (crane's fuzzy platform match: `linux` keeps every linux child),
 * and the descriptors to append for manifests or indexes found elsewhere.
 */
import { TcraneError } from "../errors.js";
import { isImageManifest, isIndex } from "../image/mediatypes.js";
import { formatPlatform } from "../image/platform.js";
import type { Descriptor, ImageIndex, Platform } from "../image/types.js";
import type { Source } from "../transports/types.js";
import type { EditSource } from "./edit-source.js";
import { configPlatform, readImage, readIndex } from "./image.js";

/** A platform pattern: any field left out matches everything (crane `index filter --platform linux`). */
export interface PlatformPattern {
  os?: string;
  architecture?: string;
  variant?: string;
  "os.version"?: string;
}

const PART = /^[A-Za-z0-9_.-]+$/;

/** Parse `os[/arch[/variant]][:osversion]`; several may be given separated by commas. */
export function parsePlatformPatterns(s: string): PlatformPattern[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      const bad = (why: string) => new TcraneError("INVALID_PLATFORM", `${why} (expected os[/arch[/variant]][:osversion])`, { what: x });
      const [path, osVersion, more] = x.split(":");
      if (more !== undefined) throw bad("too many ':'");
      const parts = path!.split("/");
      if (parts.length > 3) throw bad("too many '/'");
      for (const p of parts) if (!PART.test(p)) throw bad(p === "" ? "empty component" : `invalid component "${p}"`);
      const pat: PlatformPattern = { os: parts[0] };
      if (parts[1]) pat.architecture = parts[1];
      if (parts[2]) pat.variant = parts[2];
      if (osVersion) pat["os.version"] = osVersion;
      return pat;
    });
}

function variantOf(arch: string | undefined, v: string | undefined): string | undefined {
  return arch === "arm64" && !v ? "v8" : v || undefined;
}

/** Does an index entry's platform satisfy the pattern? Entries without a platform never do (as crane). */
export function platformSatisfies(have: Platform | undefined, want: PlatformPattern): boolean {
  if (!have) return false;
  if (want.os && have.os !== want.os) return false;
  if (want.architecture && have.architecture !== want.architecture) return false;
  if (want.variant && variantOf(have.architecture, have.variant) !== variantOf(want.architecture ?? have.architecture, want.variant)) return false;
  if (want["os.version"] && have["os.version"] !== want["os.version"]) return false;
  return true;
}

/** Keep the children matching any of the patterns. */
export function filterIndex(index: ImageIndex, patterns: PlatformPattern[]): ImageIndex {
  return { ...index, manifests: index.manifests.filter((d) => patterns.some((p) => platformSatisfies(d.platform, p))) };
}

/** One line of `index list`. */
export interface IndexEntry {
  digest: string;
  mediaType: string;
  size: number;
  /** `os/arch[/variant][:osversion]`, or undefined when the entry names none. */
  platform?: string;
  annotations?: Record<string, string>;
}

/** The children of an index as `index list` shows them. */
export function listIndex(index: ImageIndex): IndexEntry[] {
  return index.manifests.map((d) => {
    const e: IndexEntry = { digest: d.digest, mediaType: d.mediaType, size: d.size };
    if (d.platform) e.platform = formatPlatform(d.platform);
    if (d.annotations) e.annotations = d.annotations;
    return e;
  });
}

/**
 * The descriptors `index append -m REF` adds for the manifest `desc` of `source` (crane): an image
 * gets its platform from its config; an index adds each of its children (`flatten`, default) or
 * itself. Everything added is routed to `source` in `edit`.
 */
export async function descriptorsToAppend(edit: EditSource, source: Source, desc: Descriptor, opts: { flatten?: boolean; signal?: AbortSignal } = {}): Promise<Descriptor[]> {
  if (isImageManifest(desc.mediaType)) {
    const img = await readImage(source, desc, opts.signal);
    edit.route(desc.digest, source);
    return [{ mediaType: desc.mediaType, digest: desc.digest, size: desc.size, platform: configPlatform(img.config) }];
  }
  if (!isIndex(desc.mediaType)) throw new TcraneError("UNKNOWN_MEDIA_TYPE", `cannot append a ${desc.mediaType} to an index`, { what: desc.digest });
  if (opts.flatten === false) {
    edit.route(desc.digest, source);
    return [{ mediaType: desc.mediaType, digest: desc.digest, size: desc.size }];
  }
  const idx = await readIndex(source, desc, opts.signal);
  for (const c of idx.manifests) {
    if (!isImageManifest(c.mediaType) && !isIndex(c.mediaType)) {
      throw new TcraneError("UNKNOWN_MEDIA_TYPE", `unexpected child ${c.digest} with media type ${c.mediaType}`, { what: desc.digest });
    }
    edit.route(c.digest, source);
  }
  return idx.manifests.map((c) => ({ ...c }));
}
