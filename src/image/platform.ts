/**
 * Platforms: parsing crane's `--platform os/arch[/variant][:osversion]`, formatting, matching an
 * index entry the way ggcr does, and choosing the manifest of an index for a platform.
 */
import { TcraneError } from "../errors.js";
import type { Descriptor, ImageIndex, Platform } from "./types.js";

/** The platform single-image operations fall back to (ggcr's default). */
export const DEFAULT_PLATFORM: Readonly<Platform> = Object.freeze({ os: "linux", architecture: "amd64" });

const PART = /^[A-Za-z0-9_.-]+$/;

/**
 * Parse `os/arch[/variant][:osversion]` (e.g. `linux/arm64/v8`, `windows/amd64:10.0.17763.4010`).
 * Throws INVALID_PLATFORM naming the input.
 */
export function parsePlatform(s: string): Platform {
  const bad = (why: string) =>
    new TcraneError("INVALID_PLATFORM", `${why} (expected os/arch[/variant][:osversion], e.g. linux/amd64)`, { what: s });
  const text = s.trim();
  const colon = text.split(":");
  if (colon.length > 2) throw bad("too many ':'");
  const osVersion = colon[1];
  if (osVersion !== undefined && !/^[A-Za-z0-9_.+-]+$/.test(osVersion)) throw bad("invalid os version");
  const parts = colon[0]!.split("/");
  if (parts.length < 2) throw bad("missing architecture");
  if (parts.length > 3) throw bad("too many '/'");
  for (const p of parts) if (!PART.test(p)) throw bad(p === "" ? "empty component" : `invalid component "${p}"`);
  const platform: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) platform.variant = parts[2];
  if (osVersion !== undefined) platform["os.version"] = osVersion;
  return platform;
}

/** Format a platform as `os/arch[/variant][:osversion]` (ggcr Platform.String()). */
export function formatPlatform(p: Platform): string {
  let s = p.os;
  if (p.architecture) s += `/${p.architecture}`;
  if (p.variant) s += `/${p.variant}`;
  if (p["os.version"]) s += `:${p["os.version"]}`;
  return s;
}

/** ggcr isSubset: every wanted value is in `have`. */
function subset(have: string[] | undefined, want: string[] | undefined): boolean {
  if (!want || want.length === 0) return true;
  const set = new Set(have ?? []);
  return want.every((w) => set.has(w));
}

/** Variant with arm64's implicit "v8" made explicit (containerd/docker normalisation). */
function variantOf(p: Platform): string | undefined {
  if (p.architecture === "arm64" && (p.variant === undefined || p.variant === "")) return "v8";
  return p.variant || undefined;
}

/**
 * ggcr `matchesPlatform(have, want)`: os and architecture equal; `os.version` and variant compared
 * only when `want` sets them; want's features and os.features must be subsets of have's. A missing
 * `have` is linux/amd64 (ggcr's assumption for index entries without a platform). For arm64 an
 * absent variant counts as `v8` on both sides, so `linux/arm64/v8` finds entries written without a
 * variant (ggcr would not; docker and containerd do).
 */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  const h = have ?? DEFAULT_PLATFORM;
  if (h.os !== want.os || h.architecture !== want.architecture) return false;
  if (want["os.version"] && h["os.version"] !== want["os.version"]) return false;
  if (want.variant && variantOf(h) !== variantOf(want)) return false;
  return subset(h["os.features"], want["os.features"]) && subset(h.features, want.features);
}

/**
 * True for an index entry that describes another image rather than being one: BuildKit's
 * attestation manifests (`vnd.docker.reference.type`, e.g. `attestation-manifest`, with platform
 * `unknown/unknown`). Never chosen for a platform, not even `--platform unknown/unknown`.
 */
export function isAttestation(d: Pick<Descriptor, "annotations" | "platform">): boolean {
  if (d.annotations?.["vnd.docker.reference.type"]) return true;
  return d.platform?.os === "unknown" && d.platform.architecture === "unknown";
}

/**
 * The first manifest of `index` whose platform matches `want`, attestations skipped. Throws
 * NOT_FOUND naming the platform and listing the available ones.
 */
export function selectManifest(index: Pick<ImageIndex, "manifests">, want: Platform, what?: string): Descriptor {
  const images = index.manifests.filter((d) => !isAttestation(d));
  for (const d of images) if (platformMatches(want, d.platform)) return d;
  const available = [...new Set(images.map((d) => formatPlatform(d.platform ?? DEFAULT_PLATFORM)))];
  throw new TcraneError(
    "NOT_FOUND",
    `no image for platform ${formatPlatform(want)} in the index; available: ${available.length ? available.join(", ") : "none"}`,
    { what },
  );
}
