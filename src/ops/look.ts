/**
 * crane's looking and housekeeping operations as library functions: manifest, config, blob, ls,
 * catalog, tag and delete. `manifest` and `config` work on any place; the others talk to a registry.
 * Every error is a TcraneError (bad reference ⇒ INVALID_REFERENCE, absent ⇒ NOT_FOUND, …).
 */
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError } from "../errors.js";
import { verifier } from "../image/digest.js";
import { parseAnyManifest } from "../image/manifest.js";
import { isIndex } from "../image/mediatypes.js";
import { DEFAULT_PLATFORM, selectManifest } from "../image/platform.js";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "../image/types.js";
import { parseRegistry, parseRepository, withTag, type Reference } from "../reference/index.js";
import { readManifest } from "../transfer/engine.js";
import { openSource, parsePlace, RegistryTarget, type OpenedSource, type Place, type TransportContext } from "../transports/index.js";

/** Options shared by the looking operations. */
export interface LookOptions {
  /** Pick this platform's child of an index (undefined / "all": keep the index). */
  platform?: Platform | "all";
  signal?: AbortSignal;
}

/** A manifest (or index) with the descriptor that names it. */
export interface FetchedManifest {
  /** The raw bytes, exactly as the place holds them. */
  bytes: Buffer;
  descriptor: Descriptor;
  /** The descriptor the reference resolved to (an index when a platform child was picked). */
  root: Descriptor;
  place: Place;
}

/** Open `image` (any place), run `fn`, always close. */
export async function withImageSource<T>(ctx: TransportContext, image: string, fn: (os: OpenedSource) => Promise<T>): Promise<T> {
  const opened = await openSource(parsePlace(image), ctx);
  try {
    return await fn(opened);
  } finally {
    await opened.close().catch(() => {});
  }
}

/**
 * Read the root manifest of an opened place (one GET by reference on a registry, bytes as served)
 * and, when `platform` is a platform and the root is an index, the matching child.
 */
export async function fetchManifestFrom(os: OpenedSource, opts: LookOptions = {}): Promise<FetchedManifest> {
  let root: Descriptor;
  let bytes: Buffer;
  if (os.source instanceof RegistryTarget) {
    const t = os.source;
    const got = await t.client.getManifest(t.repo, os.ref ?? "latest", { signal: opts.signal });
    root = { mediaType: got.mediaType, digest: got.digest, size: got.size };
    bytes = got.bytes;
  } else {
    root = await os.source.resolve(os.ref, { signal: opts.signal });
    bytes = await readManifest(os.source, root, opts.signal);
  }
  const wanted = opts.platform === "all" ? undefined : opts.platform;
  if (wanted && isIndex(root.mediaType)) {
    const index = parseIndexBytes(bytes, root);
    const child = selectManifest(index, wanted, os.place.raw);
    return { bytes: await readManifest(os.source, child, opts.signal), descriptor: child, root, place: os.place };
  }
  return { bytes, descriptor: root, root, place: os.place };
}

function parseIndexBytes(bytes: Buffer, desc: Descriptor): ImageIndex {
  const parsed = parseAnyManifest(bytes, desc.mediaType, desc.digest);
  if (parsed.kind !== "index") throw new TcraneError("MALFORMED", "expected an index", { what: desc.digest });
  return parsed.value;
}

/** `manifest IMAGE`: the raw manifest (with a platform: that child of an index) of an image in any place. */
export async function getManifest(ctx: TransportContext, image: string, opts: LookOptions = {}): Promise<FetchedManifest> {
  return withImageSource(ctx, image, (os) => fetchManifestFrom(os, opts));
}

/** An image manifest with its parsed form: an index is resolved to a platform (default linux/amd64). */
export interface ResolvedImage extends FetchedManifest {
  manifest: ImageManifest;
}

/**
 * Resolve an opened place to one image manifest (index ⇒ the platform's child, default
 * linux/amd64, as crane). `fetched`: the root already read by fetchManifestFrom (saves a request).
 */
export async function resolveImageFrom(os: OpenedSource, opts: LookOptions = {}, fetched?: FetchedManifest): Promise<ResolvedImage> {
  const platform = opts.platform === undefined || opts.platform === "all" ? DEFAULT_PLATFORM : opts.platform;
  let m = fetched ?? (await fetchManifestFrom(os, { ...opts, platform }));
  if (isIndex(m.descriptor.mediaType)) {
    const child = selectManifest(parseIndexBytes(m.bytes, m.descriptor), platform, os.place.raw);
    m = { ...m, bytes: await readManifest(os.source, child, opts.signal), descriptor: child };
  }
  const parsed = parseAnyManifest(m.bytes, m.descriptor.mediaType, m.descriptor.digest);
  if (parsed.kind !== "manifest") throw new TcraneError("MALFORMED", "expected an image manifest inside the index", { what: m.descriptor.digest });
  return { ...m, manifest: parsed.value };
}

/** `config IMAGE`: the raw config blob of an image in any place (index ⇒ the platform's image, default linux/amd64). */
export async function getConfig(ctx: TransportContext, image: string, opts: LookOptions = {}): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
  return withImageSource(ctx, image, async (os) => {
    const img = await resolveImageFrom(os, opts);
    const desc = img.manifest.config;
    return { bytes: await readManifest(os.source, desc, opts.signal), descriptor: desc };
  });
}

/** Parse a reference that must name a registry image (no file transport). */
export function registryReference(image: string, command: string): Reference {
  const place = parsePlace(image);
  if (place.transport !== "registry") throw new TcraneError("USAGE", `${command} works on registry images only`, { what: image });
  return place.reference!;
}

/**
 * `blob REPO@DIGEST`: stream a blob into `out`, verified against its digest while it flows (never
 * buffered). `out` is not ended (stdout must stay open). Resolves to the number of bytes written.
 */
export async function streamBlob(ctx: TransportContext, ref: string, out: Writable, opts: { signal?: AbortSignal } = {}): Promise<number> {
  const r = registryReference(ref, "blob");
  if (!r.digest) throw new TcraneError("USAGE", "blob needs REPO@DIGEST", { what: ref });
  const stream = await ctx.client.fetchBlob(r, { digest: r.digest }, { signal: opts.signal });
  const v = verifier({ digest: r.digest }, `${r.context}@${r.digest}`);
  await pipeline(stream, v, out, { end: false, signal: opts.signal });
  return v.bytes;
}

/** Options of `ls`. */
export interface ListTagsOptions {
  /** Print `repo:tag` instead of the tag. */
  fullRef?: boolean;
  /** Drop `sha256-…` tags (cosign signatures, attestations, …). */
  omitDigestTags?: boolean;
  /** Page size of each request (default: the registry's). */
  pageSize?: number;
  signal?: AbortSignal;
}

/** `ls REPO`: every tag of a repository (every page). */
export async function listTags(ctx: TransportContext, repository: string, opts: ListTagsOptions = {}): Promise<string[]> {
  const repo = parseRepository(repository.replace(/^docker:\/\//, ""));
  let tags = await ctx.client.listTags(repo, { signal: opts.signal, pageSize: opts.pageSize });
  if (opts.omitDigestTags) tags = tags.filter((t) => !t.startsWith("sha256-"));
  return opts.fullRef ? tags.map((t) => `${repo.context}:${t}`) : tags;
}

/** `catalog REGISTRY`: every repository of a registry (every page); `fullRef` prefixes the registry. */
export async function catalog(ctx: TransportContext, registry: string, opts: { fullRef?: boolean; pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
  const host = parseRegistry(registry.replace(/^docker:\/\//, "").replace(/\/+$/, ""));
  const repos = await ctx.client.catalog(host, { signal: opts.signal, pageSize: opts.pageSize });
  return opts.fullRef ? repos.map((r) => `${host}/${r}`) : repos;
}

/** What `tag` did. */
export interface TagResult {
  /** The new reference, `registry/repo:tag`. */
  ref: string;
  digest: string;
  mediaType: string;
}

/**
 * `tag IMAGE TAG`: point another tag of the same repository at IMAGE. No blob traffic: one manifest
 * GET and one PUT by tag.
 */
export async function tagImage(ctx: TransportContext, image: string, tag: string, opts: { signal?: AbortSignal } = {}): Promise<TagResult> {
  const r = registryReference(image, "tag");
  const target = withTag(r, tag);
  const got = await ctx.client.getManifest(r, r.digest ?? r.tag ?? "latest", { signal: opts.signal });
  await ctx.client.putManifest(r, tag, got.bytes, got.mediaType, { signal: opts.signal, skipExisting: false });
  return { ref: target.name, digest: got.digest, mediaType: got.mediaType };
}

/** What `delete` did. */
export interface DeleteResult {
  /** `registry/repo@digest` that was deleted. */
  ref: string;
  digest: string;
}

/**
 * `delete IMAGE`: delete a manifest. A tag is resolved to its digest first (HEAD, GET when the HEAD
 * gives no digest), then the manifest is deleted by digest, as crane does.
 */
export async function deleteImage(ctx: TransportContext, image: string, opts: { signal?: AbortSignal } = {}): Promise<DeleteResult> {
  const r = registryReference(image, "delete");
  let digest = r.digest;
  if (!digest) {
    const head = await ctx.client.headManifest(r, r.tag ?? "latest", { signal: opts.signal });
    digest = head?.digest || (await ctx.client.getManifest(r, r.tag ?? "latest", { signal: opts.signal })).digest;
  }
  await ctx.client.deleteManifest(r, digest, { signal: opts.signal });
  return { ref: `${r.context}@${digest}`, digest };
}

