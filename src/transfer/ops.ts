/**
 * Command-level operations on top of the one engine: copy, pull, push, save, validate, digest.
 * Each is a (source, sink) pair handed to copyImage; none has a copy loop of its own.
 */
import { Readable } from "node:stream";
import { stat } from "node:fs/promises";
import pLimit from "p-limit";
import { TcraneError, toTcraneError } from "../errors.js";
import type { Descriptor, Platform } from "../image/types.js";
import { isLayer } from "../image/mediatypes.js";
import { parseReference, type Reference } from "../reference/index.js";
import { openSink, openSource, parsePlace, type OpenedSink, type OpenedSource, type Place, type SinkOptions, type TransportContext } from "../transports/index.js";
import type { PushOptions, Sink, Source } from "../transports/types.js";
import { OverlaySource } from "../transports/overlay.js";
import { OCI_INDEX } from "../image/mediatypes.js";
import { copyDescriptor, copyImage, DEFAULT_JOBS, resolveRoot, type CopyOptions, type CopyResult } from "./engine.js";
import type { EventListener } from "./events.js";

/** Options shared by the operations. */
export interface OpOptions {
  jobs?: number;
  platform?: Platform | "all";
  signal?: AbortSignal;
  onEvent?: EventListener;
  allowNondistributable?: boolean;
  /** A shared blob limiter (several images under one budget). */
  limit?: ReturnType<typeof pLimit>;
}

function engineOpts(o: OpOptions, extra: Partial<CopyOptions> = {}): CopyOptions {
  return {
    jobs: o.jobs ?? DEFAULT_JOBS,
    platform: o.platform,
    signal: o.signal,
    onEvent: o.onEvent,
    allowNondistributable: o.allowNondistributable,
    limit: o.limit,
    ...extra,
  };
}

/** The RepoTag crane writes for a reference (ggcr tarball.Write): as typed, `:latest` added when implicit, digests become `i-was-a-digest`. */
export function repoTagFor(ref: Reference): string {
  if (ref.digest) return `${ref.context}:i-was-a-digest`;
  const base = ref.original.replace(/@.*$/, "");
  return ref.implicitTag ? `${base}:latest` : base;
}

/** Run `fn` with an opened sink, committing on success and aborting (nothing left behind) on failure. */
async function withSink<T>(opened: OpenedSink, fn: (s: OpenedSink) => Promise<T>): Promise<T> {
  let ok = false;
  try {
    const r = await fn(opened);
    await opened.commit();
    ok = true;
    return r;
  } finally {
    if (!ok) await opened.abort().catch(() => {});
  }
}

async function withSource<T>(opened: OpenedSource, fn: (s: OpenedSource) => Promise<T>): Promise<T> {
  try {
    return await fn(opened);
  } finally {
    await opened.close().catch(() => {});
  }
}

/** Result of a copy: where it went and its digest. */
export interface CopyOutcome extends CopyResult {
  destination: string;
}

/** copy SRC DST: any place to any place. */
export async function copy(ctx: TransportContext, src: string, dst: string, o: OpOptions & SinkOptions & { noClobber?: boolean } = {}): Promise<CopyOutcome> {
  const from = parsePlace(src);
  const to = parsePlace(dst);
  return withSource(await openSource(from, ctx), async (os) => {
    const sinkOpened = await openSink(to, ctx, o);
    return withSink(sinkOpened, async (ok) => {
      let tag = ok.tag;
      if (tag === undefined && to.transport === "docker-archive" && from.reference) tag = repoTagFor(from.reference);
      if (tag === undefined && to.transport !== "registry" && from.reference) tag = from.reference.name;
      if (o.noClobber && tag && to.transport === "registry") {
        const existing = await (ok.sink as unknown as Source).resolve(tag, { signal: o.signal }).catch(() => undefined);
        if (existing) throw new TcraneError("FAILED", `refusing to clobber existing tag ${tag}`, { what: dst });
      }
      const r = await copyImage(os.source, os.ref, ok.sink, engineOpts(o, { tags: tag ? [tag] : [], rootAnnotations: annotationsFor(from) }));
      if (to.reference?.digest && to.reference.digest !== r.descriptor.digest) {
        throw new TcraneError("DIGEST_MISMATCH", `copied image has digest ${r.descriptor.digest}`, { what: dst });
      }
      return { ...r, destination: destinationName(to, r.descriptor) };
    });
  });
}

function annotationsFor(from: Place): Record<string, string> | undefined {
  return from.reference ? { "io.containerd.image.name": from.reference.name } : undefined;
}

/** `registry/repo@digest` for a registry place, else the place string. */
export function destinationName(to: Place, d: Descriptor): string {
  return to.reference ? `${to.reference.context}@${d.digest}` : to.raw;
}

/** copy -a: every tag of a repository into another repository. */
export async function copyAllTags(ctx: TransportContext, src: string, dst: string, o: OpOptions & { noClobber?: boolean } = {}): Promise<CopyOutcome[]> {
  const from = parsePlace(src);
  const to = parsePlace(dst);
  if (from.transport !== "registry" || to.transport !== "registry") throw new TcraneError("USAGE", "--all-tags copies between registry repositories");
  const tags = await ctx.client.listTags(from.reference!, { signal: o.signal });
  const limit = pLimit(o.jobs ?? DEFAULT_JOBS);
  const out: CopyOutcome[] = [];
  for (const t of tags.sort()) {
    out.push(await copy(ctx, `${from.reference!.context}:${t}`, `${to.reference!.context}:${t}`, { ...o, limit }));
  }
  return out;
}

/** pull IMAGE… PATH: images into one file or layout (crane's pull). */
export async function pull(
  ctx: TransportContext,
  images: string[],
  path: string,
  o: OpOptions & { format?: "tarball" | "legacy" | "oci" | "oci-archive"; compress?: "gzip" | "none" } = {},
): Promise<CopyResult[]> {
  const format = o.format ?? "tarball";
  const place: Place =
    format === "oci" ? { transport: "oci", raw: `oci:${path}`, path } : format === "oci-archive" ? { transport: "oci-archive", raw: `oci-archive:${path}`, path } : { transport: "docker-archive", raw: `docker-archive:${path}`, path };
  const sink = await openSink(place, ctx, { format: format === "legacy" ? "legacy" : "tarball", compress: o.compress });
  const limit = pLimit(o.jobs ?? DEFAULT_JOBS);
  return withSink(sink, async (ok) => {
    const results: CopyResult[] = [];
    for (const image of images) {
      const from = parsePlace(image);
      const r = await withSource(await openSource(from, ctx), (os) => {
        const tag = from.reference ? (place.transport === "docker-archive" ? repoTagFor(from.reference) : from.reference.name) : from.name ?? image;
        return copyImage(os.source, os.ref, ok.sink, engineOpts(o, { tags: [tag], limit, rootAnnotations: annotationsFor(from) }));
      });
      results.push(r);
    }
    return results;
  });
}

/** save IMAGE… -o PATH: the air-gap bundle (OCI archive that docker/podman can also load). */
export async function save(
  ctx: TransportContext,
  images: string[],
  path: string,
  o: OpOptions & { format?: "oci-archive" | "docker-archive" | "oci"; compress?: "gzip" | "none" } = {},
): Promise<CopyResult[]> {
  const format = o.format ?? "oci-archive";
  if (format === "docker-archive") return pull(ctx, images, path, { ...o, format: "tarball" });
  if (format === "oci") return pull(ctx, images, path, { ...o, format: "oci" });
  const place: Place = { transport: "oci-archive", raw: `oci-archive:${path}`, path };
  const sink = await openSink(place, ctx, { compress: o.compress, dockerManifest: true });
  const limit = pLimit(o.jobs ?? DEFAULT_JOBS);
  return withSink(sink, async (ok) => {
    const results: CopyResult[] = [];
    for (const image of images) {
      const from = parsePlace(image);
      if (!from.reference) throw new TcraneError("USAGE", "save takes registry references", { what: image });
      results.push(
        await withSource(await openSource(from, ctx), (os) =>
          copyImage(os.source, os.ref, ok.sink, engineOpts(o, { tags: [from.reference!.name], limit, rootAnnotations: annotationsFor(from) })),
        ),
      );
    }
    return results;
  });
}

/** Is `path` a plain path (no transport prefix)? Then it is a layout dir or an archive file. */
async function placeForPath(path: string): Promise<Place> {
  if (/^(docker-archive|oci-archive|oci):/.test(path)) return parsePlace(path);
  const st = await stat(path).catch((e) => {
    throw toTcraneError(e);
  });
  if (st.isDirectory()) return { transport: "oci", raw: `oci:${path}`, path };
  return { transport: "oci-archive", raw: `oci-archive:${path}`, path };
}

/** Open a path that may be an OCI archive or a docker archive: OCI first (keeps indexes), docker otherwise. */
export async function openArchive(ctx: TransportContext, path: string): Promise<OpenedSource> {
  const place = await placeForPath(path);
  if (place.transport !== "oci-archive") return openSource(place, ctx);
  try {
    return await openSource(place, ctx);
  } catch (e) {
    const err = toTcraneError(e);
    if (err.code !== "NOT_FOUND" && err.code !== "MALFORMED" && err.code !== "CORRUPT_ARCHIVE") throw e;
    const docker: Place = { transport: "docker-archive", raw: `docker-archive:${place.path}`, path: place.path, name: place.name };
    try {
      return await openSource(docker, ctx);
    } catch (de) {
      // no index.json, but a manifest.json that is broken: the docker error is the real story
      const d = toTcraneError(de);
      throw /no index\.json/.test(err.message) && !/no manifest\.json|not a tar|empty file|truncated/.test(d.message) ? de : e;
    }
  }
}

/** push PATH IMAGE: one image (or the whole index with `index`) from a file or layout to a registry. */
export async function push(ctx: TransportContext, path: string, image: string, o: OpOptions & { index?: boolean } = {}): Promise<CopyOutcome> {
  const to = parsePlace(image);
  if (to.transport !== "registry") throw new TcraneError("USAGE", "push writes to a registry reference", { what: image });
  return withSource(await openArchive(ctx, path), async (os) => {
    const sink = await openSink(to, ctx);
    return withSink(sink, async (ok) => {
      const tags = ok.tag ? [ok.tag] : [];
      if (o.index) {
        // crane push --index: every image of the layout as one OCI index.
        if (!os.lister) throw new TcraneError("USAGE", "--index needs an OCI layout or archive", { what: path });
        const overlay = new OverlaySource(os.source);
        const manifests = (await os.lister.list({ signal: o.signal })).map((e) => e.descriptor);
        const root = overlay.addJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }, OCI_INDEX);
        const r = await copyDescriptor(overlay, root, ok.sink, engineOpts(o, { tags }));
        return { ...r, destination: destinationName(to, r.descriptor) };
      }
      const r = await copyImage(os.source, os.ref, ok.sink, engineOpts(o, { tags }));
      return { ...r, destination: destinationName(to, r.descriptor) };
    });
  });
}

/** Re-root a named image under REGISTRY[/PREFIX]: docker.io/library/alpine:3.20 ⇒ REGISTRY/PREFIX/library/alpine:3.20. */
export function reroot(name: string, target: string): string {
  const ref = parseReference(name);
  const base = target.replace(/\/+$/, "");
  return `${base}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}`;
}

/** push ARCHIVE --to REGISTRY[/PREFIX]: every named image the archive holds, concurrently and idempotently. */
export async function pushAll(ctx: TransportContext, path: string, target: string, o: OpOptions & { images?: number } = {}): Promise<CopyOutcome[]> {
  return withSource(await openArchive(ctx, path), async (os) => {
    if (!os.lister) throw new TcraneError("USAGE", "push --to needs an archive or layout", { what: path });
    const entries = await os.lister.list({ signal: o.signal });
    const jobs: Array<{ descriptor: Descriptor; name: string }> = [];
    for (const e of entries) {
      const full = e.descriptor.annotations?.["io.containerd.image.name"] ?? e.names[0];
      if (!full) throw new TcraneError("MALFORMED", `image ${e.descriptor.digest} has no name to push it under`, { what: path });
      jobs.push({ descriptor: e.descriptor, name: full });
    }
    const blobLimit = pLimit(o.jobs ?? DEFAULT_JOBS);
    const imageLimit = pLimit(Math.max(1, o.images ?? 2));
    return Promise.all(
      jobs.map((j) =>
        imageLimit(async () => {
          const to = parsePlace(reroot(j.name, target));
          const sink = await openSink(to, ctx);
          return withSink(sink, async (ok) => {
            const r = await copyImage(os.source, j.descriptor.digest, ok.sink, engineOpts(o, { tags: ok.tag ? [ok.tag] : [], limit: blobLimit }));
            return { ...r, destination: destinationName(to, r.descriptor) };
          });
        }),
      ),
    );
  });
}

/** A sink that only reads: every byte goes through the engine's verifiers and is dropped. */
class DiscardSink implements Sink {
  readonly description = "validate";
  // a Docker schema 1 image is checked as it is (its layers and the payload's digest), not converted
  readonly traits = { indexes: true, compressedLayers: false, schema1: true };
  constructor(
    private readonly source: Source,
    private readonly fast: boolean,
  ) {}
  async exists(desc: Descriptor): Promise<boolean> {
    if (this.fast && isLayer(desc.mediaType)) {
      if (!(await this.source.exists(desc))) throw new TcraneError("NOT_FOUND", "blob is missing", { what: desc.digest });
      return true;
    }
    return false;
  }
  async push(_desc: Descriptor, stream: Readable, _o?: PushOptions): Promise<void> {
    for await (const _ of stream) {
      /* drained through the verifier */
    }
  }
  async tag(): Promise<void> {}
}

/** One validated image. */
export interface ValidateResult {
  name: string;
  digest: string;
  mediaType: string;
  blobs: number;
  bytes: number;
}

/** validate IMAGE|PATH: re-read everything and check every digest and size (`fast` skips layer bodies). */
export async function validate(ctx: TransportContext, target: string, o: OpOptions & { fast?: boolean } = {}): Promise<ValidateResult[]> {
  let opened: OpenedSource;
  if (/^(docker:\/\/)/.test(target)) opened = await openSource(parsePlace(target), ctx);
  else {
    const isPath = await stat(target).then(() => true, () => false);
    opened = isPath || /^(docker-archive|oci-archive|oci):/.test(target) ? await openArchive(ctx, target) : await openSource(parsePlace(target), ctx);
  }
  return withSource(opened, async (os) => {
    const roots: Array<{ name: string; ref: string | undefined }> = [];
    if (os.lister && os.ref === undefined) {
      for (const e of await os.lister.list({ signal: o.signal })) roots.push({ name: e.names[0] ?? e.descriptor.digest, ref: e.descriptor.digest });
    } else roots.push({ name: target, ref: os.ref });
    const out: ValidateResult[] = [];
    for (const r of roots) {
      const sink = new DiscardSink(os.source, o.fast === true);
      const res = await copyImage(os.source, r.ref, sink, engineOpts(o, { skipUpToDate: false }));
      out.push({ name: r.name, digest: res.descriptor.digest, mediaType: res.descriptor.mediaType, blobs: res.blobs.copied, bytes: res.bytes });
    }
    return out;
  });
}

/** digest IMAGE: the root digest of an image in any place (with a platform: the child's). */
export async function digest(ctx: TransportContext, target: string, o: { platform?: Platform | "all"; signal?: AbortSignal } = {}): Promise<{ digest: string; mediaType: string; place: Place }> {
  const place = /^(docker-archive|oci-archive|oci):/.test(target) || (await stat(target).then(() => true, () => false)) ? await placeForPath(target) : parsePlace(target);
  const opened = place.transport === "oci-archive" && !target.startsWith("oci-archive:") ? await openArchive(ctx, target) : await openSource(place, ctx);
  return withSource(opened, async (os) => {
    const { root } = await resolveRoot(os.source, os.ref, { platform: o.platform, signal: o.signal });
    return { digest: root.digest, mediaType: root.mediaType, place };
  });
}

