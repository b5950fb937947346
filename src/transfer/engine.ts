/**
 * The one transfer engine: moves an image or an index graph from any Source to any Sink.
 * Post-order (children before parents, manifests last, the root tagged last), in-flight dedup by
 * digest, "exists" as an optimisation, bounded blob concurrency that holds no slot while waiting for
 * children, cross-repo mounts, gzip of uncompressed layers for sinks that want compressed ones,
 * platform selection, digest verification of every byte, progress events.
 * pull, push, copy, save, validate and mirror are this engine with different ends.
 */
import { Readable, pipeline as streamPipeline, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import pLimit from "p-limit";
import { RegistryError, TcraneError, VerificationError } from "../errors.js";
import { parseDigest, verifier } from "../image/digest.js";
import { readAll } from "../transports/files.js";
import type { Descriptor, Platform } from "../image/types.js";
import { children, parseAnyManifest } from "../image/manifest.js";
import { DOCKER_LAYER, isIndex, isManifest, isDistributable, isSchema1, layerCompression } from "../image/mediatypes.js";
import { SCHEMA1_LAYER, manifestDigest, parseSchema1, schema1Layers, schema1ToSchema2Config, schema2ConfigDescriptor, schema2Manifest } from "../image/schema1.js";
import { selectManifest, DEFAULT_PLATFORM } from "../image/platform.js";
import { isMounter, isReferencePusher, isSource, isStreamPusher, type Sink, type SinkTraits, type Source } from "../transports/types.js";
import type { EventListener, TransferEvent } from "./events.js";
import { compressLayer, gzipLayerStream, rewriteManifest, toCompressed } from "./recompress.js";
import { DiffIdTap, diffIdOf, schema1BlobSize, type DiffId } from "./schema1.js";

/** Largest manifest the engine reads from any source (bytes). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Default number of blobs in flight (see README: measured on a 2-core machine). */
export const DEFAULT_JOBS = 4;

/**
 * Blobs of at most this many bytes are small: a copy of many of them waits on request round trips
 * (a registry commits every upload to disk), not on bandwidth, so they get more slots (see
 * SMALL_PER_JOB). Measured on the 2-core machine, 200 × 64 KiB registry → registry: 4 in flight
 * 1.9 s, 16 in flight 1.55 s.
 */
export const SMALL_BLOB_BYTES = 1 << 20;
/** Small blobs in flight per job (so -j 4 moves up to 4 large and 16 small blobs at once). */
export const SMALL_PER_JOB = 4;

/**
 * The limiter of small blobs beside `limit` (the `jobs` one): SMALL_PER_JOB slots a job, except at
 * -j 1, which stays one blob at a time (the same limiter).
 */
export function smallBlobLimit(jobs: number, limit: ReturnType<typeof pLimit>): ReturnType<typeof pLimit> {
  return jobs <= 1 ? limit : pLimit(jobs * SMALL_PER_JOB);
}

/**
 * Layers gzip-compressed at once (beside the `jobs` limit, never above it). Compressing is CPU work:
 * one layer already spreads its windows over every core (parallel-gzip.ts) and the main thread
 * checksums every byte, so a third or fourth layer at once adds no speed, only its buffers.
 * Measured on the 2-core machine, the 8 × 128 MiB uncompressed docker-archive pushed to a registry
 * (4 runs each, alternating): 4 at once 3.9–4.1 s and 116–122 MiB peak RSS, 2 at once 3.7–3.9 s
 * and 107–113 MiB. Layers of SMALL_BLOB_BYTES or less are not counted.
 */
export const COMPRESS_IN_FLIGHT = 2;

/** Mount requests in flight at once (they move no data; the connection pool bounds them too). */
const MOUNTS_IN_FLIGHT = 16;

/** Options of one copy. */
export interface CopyOptions {
  /** Blobs in flight (default DEFAULT_JOBS). */
  jobs?: number;
  /** undefined / "all": keep an index whole; a platform: copy only the matching child. */
  platform?: Platform | "all";
  /** Tags (refs) to point at the root in the sink, after everything else is there. */
  tags?: string[];
  /** Annotations to add to the root descriptor given to sink.tag (e.g. io.containerd.image.name). */
  rootAnnotations?: Record<string, string>;
  /** Copy non-distributable layers too (default: skip them, as crane does). */
  allowNondistributable?: boolean;
  /** Sink traits, when the sink object does not declare them itself. */
  traits?: SinkTraits;
  /** Skip the whole copy when the sink's tag already points at the same digest (default true). */
  skipUpToDate?: boolean;
  signal?: AbortSignal;
  onEvent?: EventListener;
  /** A shared limiter (for mirroring many images under one blob budget). */
  limit?: ReturnType<typeof pLimit>;
  /** A shared limiter for small blobs (SMALL_BLOB_BYTES; see smallBlobLimit). With `limit` alone, small blobs share `limit`. */
  smallLimit?: ReturnType<typeof pLimit>;
  /** Directory for temporary files (gzip of uncompressed layers). */
  tmpDir?: string;
  /** Internal: the up-to-date lookup copyImage started early. */
  sinkTags?: Promise<(string | undefined)[]>;
}

/** What one copy did. */
export interface CopyResult {
  /** The root descriptor as stored in the sink (its digest may differ from the source's only when layers were compressed). */
  descriptor: Descriptor;
  /** Source root digest. */
  sourceDigest: string;
  /** true when the sink already had the tag pointing at this digest: nothing was copied. */
  upToDate: boolean;
  bytes: number;
  blobs: { copied: number; skipped: number; mounted: number };
  /** Set when a Docker schema 1 image was converted to schema 2 for a sink that cannot hold schema 1. */
  converted?: { from: string; to: string };
}

/** Read a (small) manifest fully, verified against its descriptor. */
export async function readManifest(source: Source, desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
  if (desc.size > MAX_MANIFEST_BYTES) {
    throw new TcraneError("MALFORMED", `manifest is ${desc.size} bytes, more than the ${MAX_MANIFEST_BYTES}-byte limit`, { what: desc.digest });
  }
  if (desc.data !== undefined) {
    const b = Buffer.from(desc.data, "base64");
    const v = verifier(desc);
    await pipeline(Readable.from([b]), v, async function* (s) { for await (const _ of s) { /* drain */ } });
    return b;
  }
  const stream = await source.fetch(desc, { signal });
  if (isSchema1(desc.mediaType)) {
    // The digest covers the payload without signatures, which registries re-sign on every GET: the
    // bytes (and their size) change, the payload's digest does not.
    const bytes = await readAll(stream, MAX_MANIFEST_BYTES, desc.digest);
    const got = manifestDigest(bytes, desc.mediaType, parseDigest(desc.digest).algorithm, desc.digest);
    if (got !== desc.digest) throw new VerificationError("DIGEST_MISMATCH", `${source.description}@${desc.digest}`, desc.digest, got);
    return bytes;
  }
  const chunks: Buffer[] = [];
  const v = verifier(desc);
  await pipeline(stream, v, async function* (s: AsyncIterable<Buffer>) {
    for await (const c of s) chunks.push(c);
  }, { signal });
  return Buffer.concat(chunks);
}

/**
 * Resolve `ref` in `source` and pick the root to copy: with a platform, the matching child of an
 * index; for a sink that cannot hold an index, the given platform or linux/amd64 (crane's default).
 */
export async function resolveRoot(
  source: Source,
  ref: string | undefined,
  opts: { platform?: Platform | "all"; indexes?: boolean; signal?: AbortSignal },
): Promise<{ root: Descriptor; sourceRoot: Descriptor }> {
  const sourceRoot = await source.resolve(ref, { signal: opts.signal });
  if (!isManifest(sourceRoot.mediaType)) {
    throw new TcraneError("UNKNOWN_MEDIA_TYPE", `"${sourceRoot.mediaType}" is not a manifest or index media type`, { what: `${source.description}${ref ? `:${ref}` : ""}` });
  }
  let root = sourceRoot;
  const wanted = opts.platform === "all" ? undefined : opts.platform;
  if (isIndex(root.mediaType) && (wanted || opts.indexes === false)) {
    const bytes = await readManifest(source, root, opts.signal);
    const parsed = parseAnyManifest(bytes, root.mediaType);
    if (parsed.kind !== "index") throw new TcraneError("MALFORMED", "expected an index", { what: root.digest });
    root = selectManifest(parsed.value, wanted ?? DEFAULT_PLATFORM);
  }
  return { root, sourceRoot };
}

/**
 * Copy the image or index `ref` names in `source` into `sink`. The sink is not committed: callers
 * that own a Committer commit (or abort) after all images are in.
 */
export async function copyImage(source: Source, ref: string | undefined, sink: Sink, opts: CopyOptions = {}): Promise<CopyResult> {
  const traits: SinkTraits = { ...(opts.traits ?? {}), ...(sink.traits ?? {}) };
  // The sink's tags are looked up while the source resolves (one request round instead of two).
  const sinkTags = upToDateLookup(sink, opts);
  const { root } = await resolveRoot(source, ref, { platform: opts.platform, indexes: traits.indexes, signal: opts.signal });
  return copyDescriptor(source, root, sink, { ...opts, traits, sinkTags });
}

/** What the sink's tags point at now (undefined: absent or unreadable), when the up-to-date check applies. */
function upToDateLookup(sink: Sink, opts: CopyOptions): Promise<(string | undefined)[]> | undefined {
  const tags = opts.tags ?? [];
  if (opts.skipUpToDate === false || tags.length === 0 || !isSource(sink)) return undefined;
  return Promise.all(tags.map((t) => sink.resolve(t, { signal: opts.signal }).then((d) => d.digest, () => undefined)));
}

/** Copy the graph under an already-resolved root descriptor. */
export async function copyDescriptor(source: Source, root: Descriptor, sink: Sink, opts: CopyOptions = {}): Promise<CopyResult> {
  const traits: SinkTraits = { ...(opts.traits ?? {}), ...(sink.traits ?? {}) };
  const signal = opts.signal;
  const emit = (e: TransferEvent) => opts.onEvent?.(e);
  const jobs = Math.max(1, opts.jobs ?? DEFAULT_JOBS);
  const limit = opts.limit ?? pLimit(jobs);
  // A caller's shared `limit` alone bounds every blob; otherwise small blobs get their own slots.
  const smallLimit = opts.smallLimit ?? (opts.limit ? limit : smallBlobLimit(jobs, limit));
  /** The limiter a plain blob copy waits on. */
  const slot = (desc: Descriptor) => (desc.size <= SMALL_BLOB_BYTES ? smallLimit : limit);
  const mountLimit = pLimit(MOUNTS_IN_FLIGHT);
  const compressLimit = pLimit(Math.min(jobs, COMPRESS_IN_FLIGHT));
  /** Run `fn` in a compression slot (large layers), then in the blob's own slot. */
  const compressing = <T>(desc: Descriptor, fn: () => Promise<T>): Promise<T> =>
    desc.size <= SMALL_BLOB_BYTES ? slot(desc)(fn) : compressLimit(() => limit(fn));
  const tags = opts.tags ?? [];
  const started = Date.now();
  const result: CopyResult = { descriptor: root, sourceDigest: root.digest, upToDate: false, bytes: 0, blobs: { copied: 0, skipped: 0, mounted: 0 } };
  const label = tags[0] ?? root.digest;

  // Idempotence: a tag already pointing at this digest costs one lookup and nothing else.
  const lookup = opts.sinkTags ?? upToDateLookup(sink, opts);
  if (lookup) {
    const have = await lookup;
    if (have.every((d) => d === root.digest)) {
      emit({ type: "image-skipped", ref: label, digest: root.digest, reason: "up-to-date" });
      return { ...result, upToDate: true };
    }
  }
  emit({ type: "image-start", ref: label, digest: root.digest, mediaType: root.mediaType });

  const inflight = new Map<string, Promise<Descriptor>>();
  const rootBytes: { value?: Buffer } = {};
  const wantsTagPush = tags.length > 0 && isReferencePusher(sink);

  const copyBlob = async (desc: Descriptor): Promise<Descriptor> => {
    if (!isDistributable(desc.mediaType) && !opts.allowNondistributable) {
      emit({ type: "blob-skipped", digest: desc.digest, size: desc.size });
      return desc;
    }
    const compression = layerCompression(desc.mediaType);
    if (traits.compressedLayers && compression === "none" && isStreamPusher(sink)) {
      // Uncompressed layer into a sink that hashes as it stores (a registry): gzip straight into
      // the upload; the compressed digest and size are known when the upload ends.
      return compressing(desc, async () => {
        signal?.throwIfAborted();
        emit({ type: "blob-start", digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
        const open = () => gzipLayerStream(source, desc, { signal, onBytes: progress(desc) });
        const { digest, size } = await sink.pushStream(toCompressed(desc.mediaType), open, { signal });
        const out: Descriptor = { ...desc, mediaType: toCompressed(desc.mediaType), digest, size };
        delete out.data;
        emit({ type: "blob-compressed", from: desc.digest, digest, size });
        result.blobs.copied++;
        result.bytes += size;
        emit({ type: "blob-done", digest: desc.digest, size: desc.size });
        return out;
      });
    }
    if (traits.compressedLayers && compression === "none") {
      // Uncompressed layer into a sink that wants compressed ones: gzip it (to a temp file, so the
      // digest is known before the push), then copy the compressed blob.
      return compressing(desc, async () => {
        const c = await compressLayer(source, desc, { signal, tmpDir: opts.tmpDir });
        try {
          emit({ type: "blob-compressed", from: desc.digest, digest: c.descriptor.digest, size: c.descriptor.size });
          await pushBlob(c.source, c.descriptor);
          return c.descriptor;
        } finally {
          await c.cleanup();
        }
      });
    }
    // A mount moves no bytes: tried first (one request answers "mounted" or "already there"),
    // under its own wider limit so mounts never wait behind uploads.
    if (isMounter(sink) && sink.mountable?.(desc, source)) {
      if (await mountLimit(() => mount(source, desc))) return desc;
      return slot(desc)(async () => {
        await pushBlob(source, desc, false);
        return desc;
      });
    }
    return slot(desc)(async () => {
      await pushBlob(source, desc);
      return desc;
    });
  };

  /** A byte counter that emits blob-progress at most once per MiB (and at the end). */
  const progress = (desc: Descriptor) => {
    let last = 0;
    return (seen: number) => {
      if (seen - last >= 1 << 20 || seen === desc.size) {
        last = seen;
        emit({ type: "blob-progress", digest: desc.digest, bytes: seen, size: desc.size });
      }
    };
  };

  const mount = async (from: Source, desc: Descriptor): Promise<boolean> => {
    signal?.throwIfAborted();
    if (!isMounter(sink) || !(await sink.mount(desc, from, { signal }))) return false;
    result.blobs.mounted++;
    emit({ type: "blob-mounted", digest: desc.digest, size: desc.size, from: from.description });
    return true;
  };

  /**
   * Copy one blob (exists ⇒ skip, else mount, else fetch → verify → push). `tap`: a pass-through
   * put between the verifier and the sink on every (re)open; false when no bytes moved.
   */
  const pushBlob = async (from: Source, desc: Descriptor, tryMount = true, tap?: () => Transform): Promise<boolean> => {
    signal?.throwIfAborted();
    if (await sink.exists(desc, { signal })) {
      result.blobs.skipped++;
      emit({ type: "blob-skipped", digest: desc.digest, size: desc.size });
      return false;
    }
    if (tryMount && (await mount(from, desc))) return false;
    emit({ type: "blob-start", digest: desc.digest, size: desc.size, mediaType: desc.mediaType });
    // The sink gets the verifier at once and the source's bytes are piped into it when they come:
    // a registry opens its upload session (POST) while the source answers (GET), one round trip
    // less per blob. A failed fetch fails the verifier, so the sink's push fails with its error.
    const open = async () => {
      const v = verifier(desc, `${from.description}@${desc.digest}`, progress(desc));
      // A sink may start reading later or never: readers get the error through their own
      // listeners; without this one, an error before anyone reads kills the process.
      v.on("error", () => undefined);
      from.fetch(desc, { signal, verify: false }).then(
        (raw) => {
          if (v.destroyed) {
            raw.destroy(); // the sink gave up meanwhile
            return;
          }
          raw.on("error", (e) => v.destroy(e));
          v.on("close", () => raw.destroy()); // a consumer that stops early frees the source (its response) too
          raw.pipe(v);
        },
        (e: unknown) => v.destroy(e instanceof Error ? e : new Error(String(e))),
      );
      if (!tap) return v;
      const t = tap();
      return streamPipeline(v, t, () => undefined); // an error or early stop on either side ends both
    };
    const first = await open();
    try {
      await sink.push(desc, first, { signal, reopen: open });
    } catch (e) {
      first.destroy(); // a sink that gave up must not leave the source (a response body) open
      throw e;
    }
    result.blobs.copied++;
    result.bytes += desc.size;
    emit({ type: "blob-done", digest: desc.digest, size: desc.size });
    return true;
  };

  /** A layer of a schema 1 image, copied while its diff ID is computed (fetched again only when the sink already had it). */
  const copyLayerWithDiffId = async (desc: Descriptor): Promise<DiffId> => {
    let last: DiffIdTap | undefined;
    const moved = await slot(desc)(() => pushBlob(source, desc, true, () => (last = new DiffIdTap())));
    if (moved && last) {
      // the sink has read every byte (the verifier checked them), so the tap saw them all
      const done = await Promise.race([last.result, new Promise<undefined>((r) => setImmediate(() => r(undefined)))]);
      if (done) return done;
    }
    return slot(desc)(() => diffIdOf(source, desc, { signal }));
  };

  /**
   * A Docker schema 1 manifest. Into a sink that holds schema 1 (a registry): its layers, then its
   * bytes as they are (its digest is kept). Into any other: converted as skopeo does, to a schema 2
   * manifest and a config made from the v1Compatibility history (diff IDs computed as the layers
   * stream), with the digest change reported.
   */
  const copySchema1 = async (desc: Descriptor, isRoot: boolean): Promise<Descriptor> => {
    const [bytes, rootThere] = await Promise.all([
      readManifest(source, desc, signal),
      isRoot && traits.schema1 ? sink.exists(desc, { signal }) : false,
    ]);
    if (rootThere) {
      rootBytes.value = bytes;
      result.blobs.skipped++;
      emit({ type: "blob-skipped", digest: desc.digest, size: desc.size });
      return desc;
    }
    const m = parseSchema1(bytes, `${source.description}@${desc.digest}`);
    const layers = schema1Layers(m);
    const sizes = new Map<string, Promise<number>>();
    const sized = (digest: string): Promise<Descriptor> => {
      let p = sizes.get(digest);
      if (!p) sizes.set(digest, (p = schema1BlobSize(source, digest, { signal })));
      return p.then((size) => ({ mediaType: SCHEMA1_LAYER, digest, size }));
    };
    if (traits.schema1) {
      const kids = await Promise.all([...new Set(layers.map((l) => l.digest))].map(sized));
      await Promise.all(kids.map((k) => copyNode(k, false)));
      if (isRoot) {
        rootBytes.value = bytes;
        if (wantsTagPush) return desc;
      }
      await pushManifest(desc, bytes, kids);
      emit({ type: "manifest-done", digest: desc.digest, mediaType: desc.mediaType, size: desc.size });
      return desc;
    }
    // Conversion: each filesystem layer once (an image may list one blob twice), diff IDs in order.
    const diffIds = new Map<string, Promise<{ desc: Descriptor; diff: DiffId }>>();
    const layerOf = (digest: string) => {
      let p = diffIds.get(digest);
      if (!p) {
        // docker pushed schema 1 layers gzip-compressed; the sink is told so before any byte flows
        p = sized(digest).then(async (d) => {
          const layer = { ...d, mediaType: DOCKER_LAYER };
          const diff = await copyLayerWithDiffId(layer);
          if (!diff.gzip) {
            throw new TcraneError("UNSUPPORTED", "a layer of this Docker schema 1 image is not gzip-compressed: it cannot be converted to schema 2", { what: `${source.description}@${digest}` });
          }
          return { desc: layer, diff };
        });
        diffIds.set(digest, p);
      }
      return p;
    };
    const done = await Promise.all(layers.filter((l) => !l.throwaway).map((l) => layerOf(l.digest)));
    const config = schema1ToSchema2Config(m, done.map((l) => l.diff.diffId), desc.digest);
    const configDesc = schema2ConfigDescriptor(config);
    const configSource: Source = {
      description: `${source.description}@${desc.digest} (converted config)`,
      resolve: async () => configDesc,
      exists: async () => true,
      fetch: async () => Readable.from([config]),
    };
    await smallLimit(() => pushBlob(configSource, configDesc, false));
    const layerDescs = done.map((l) => ({ mediaType: DOCKER_LAYER, size: l.desc.size, digest: l.desc.digest }));
    const out = schema2Manifest(configDesc, layerDescs);
    emit({ type: "manifest-converted", from: desc.digest, digest: out.descriptor.digest, mediaType: out.descriptor.mediaType, reason: `${sink.description} cannot hold Docker schema 1` });
    result.converted = { from: desc.digest, to: out.descriptor.digest };
    if (isRoot) {
      rootBytes.value = out.bytes;
      if (wantsTagPush) return out.descriptor;
    }
    await pushManifest(out.descriptor, out.bytes, [configDesc, ...layerDescs]);
    emit({ type: "manifest-done", digest: out.descriptor.digest, mediaType: out.descriptor.mediaType, size: out.descriptor.size });
    return out.descriptor;
  };

  const copyManifest = async (desc: Descriptor, isRoot: boolean): Promise<Descriptor> => {
    if (isSchema1(desc.mediaType)) return copySchema1(desc, isRoot);
    if (!isRoot && (await sink.exists(desc, { signal }))) {
      emit({ type: "blob-skipped", digest: desc.digest, size: desc.size });
      return desc;
    }
    // The root's bytes and whether the sink has it are asked at once (one request round).
    const [bytes, rootThere] = await Promise.all([
      readManifest(source, desc, signal),
      isRoot ? sink.exists(desc, { signal }) : false,
    ]);
    if (rootThere) {
      // Already complete in the sink (a registry holds no manifest without its children): only tag.
      rootBytes.value = bytes;
      result.blobs.skipped++;
      emit({ type: "blob-skipped", digest: desc.digest, size: desc.size });
      return desc;
    }
    const kids = children(desc.mediaType, bytes);
    const done = await Promise.all(kids.map((k) => copyNode(k, false)));
    let out = desc;
    let outBytes = bytes;
    if (done.some((d, i) => d.digest !== kids[i]!.digest)) {
      ({ descriptor: out, bytes: outBytes } = rewriteManifest(desc, bytes, kids, done));
    }
    if (isRoot) {
      rootBytes.value = outBytes;
      if (out !== desc && (await sink.exists(out, { signal }))) return out;
      if (wantsTagPush) return out; // pushed together with its tag below
    }
    await pushManifest(out, outBytes, done);
    emit({ type: "manifest-done", digest: out.digest, mediaType: out.mediaType, size: out.size });
    return out;
  };

  // "exists" is an optimisation, not a truth: a manifest PUT refused because a child is unknown
  // (a registry race between concurrent uploads, a HEAD that lied) re-checks its children once.
  const pushManifest = async (desc: Descriptor, bytes: Buffer, kids: Descriptor[]): Promise<void> => {
    const put = () => sink.push(desc, Readable.from([bytes]), { signal, reopen: async () => Readable.from([bytes]) });
    try {
      await put();
    } catch (e) {
      if (!isBlobUnknown(e)) throw e;
      await new Promise((r) => setTimeout(r, 200));
      for (const k of kids) {
        if (isManifest(k.mediaType) || !isDistributable(k.mediaType)) continue;
        if (await sink.exists(k, { signal })) continue;
        inflight.delete(k.digest);
        await copyNode(k, false);
      }
      await put();
    }
  };

  const copyNode = (desc: Descriptor, isRoot: boolean): Promise<Descriptor> => {
    let p = inflight.get(desc.digest);
    if (!p) {
      p = isManifest(desc.mediaType) ? copyManifest(desc, isRoot) : copyBlob(desc);
      inflight.set(desc.digest, p);
    }
    return p;
  };

  const finalRoot = await copyNode(root, true);
  const tagged: Descriptor = opts.rootAnnotations ? { ...finalRoot, annotations: { ...finalRoot.annotations, ...opts.rootAnnotations } } : finalRoot;
  for (const t of tags) {
    if (wantsTagPush && isReferencePusher(sink)) await sink.pushReference(tagged, rootBytes.value!, t, { signal });
    else await sink.tag(tagged, t, { signal });
  }
  if (wantsTagPush) emit({ type: "manifest-done", digest: finalRoot.digest, mediaType: finalRoot.mediaType, size: finalRoot.size });
  result.descriptor = finalRoot;
  emit({ type: "image-done", ref: label, digest: finalRoot.digest, bytes: result.bytes, seconds: (Date.now() - started) / 1000 });
  return result;
}

/** A registry refusal that names an unknown blob (MANIFEST_BLOB_UNKNOWN / BLOB_UNKNOWN). */
function isBlobUnknown(e: unknown): boolean {
  return e instanceof RegistryError && e.errors.some((x) => x.code === "MANIFEST_BLOB_UNKNOWN" || x.code === "BLOB_UNKNOWN");
}
