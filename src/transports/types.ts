/**
 * The small interfaces every place an image can live implements (oras `Target` style).
 * A Source resolves a reference to a root descriptor and fetches content by descriptor; a Sink adds
 * push and tag. Optional powers are separate tiny interfaces found by type guards. Nothing here
 * parses a manifest to walk it: that is derived once in src/image/ and done by src/transfer/.
 */
import type { Readable } from "node:stream";
import type { Descriptor } from "../image/types.js";

/** Common options of every async call. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of Source.fetch. */
export interface FetchOptions extends CallOptions {
  /** false when the caller verifies the bytes itself (the engine does): a transport may skip its own check. */
  verify?: boolean;
}

/** Options of Sink.push. */
export interface PushOptions extends CallOptions {
  /** Re-open the content from the start (lets a sink restart a failed upload). */
  reopen?: () => Promise<Readable>;
}

/** What a sink can hold; absent fields mean "yes". */
export interface SinkTraits {
  /** false for sinks that cannot store an index (docker-archive): the engine picks one platform. */
  indexes?: boolean;
  /** true for sinks that want compressed layers (registry, OCI): uncompressed ones get gzip-compressed. */
  compressedLayers?: boolean;
  /**
   * true for sinks that store a Docker schema 1 manifest as it is (a registry). Unlike the others,
   * absent means no: every other sink gets a schema 1 image converted to schema 2.
   */
  schema1?: boolean;
}

/** A place images are read from. */
export interface Source {
  /** Human-readable name of the place, e.g. `docker://localhost:5000/a:b` or `oci:dir:tag`. */
  readonly description: string;
  /**
   * Resolve a reference (tag, ref.name, digest, or undefined for "the only/default image") to the
   * root descriptor (a manifest or an index). Throws NOT_FOUND when absent.
   */
  resolve(ref?: string, opts?: CallOptions): Promise<Descriptor>;
  /**
   * Fetch the bytes of a blob or manifest. The stream is the raw content; callers verify it with
   * src/image/digest.ts (transports may verify too). Throws NOT_FOUND when absent.
   */
  fetch(desc: Descriptor, opts?: FetchOptions): Promise<Readable>;
  /** True when the content is present (an optimisation, not a truth: false negatives are fine). */
  exists(desc: Descriptor, opts?: CallOptions): Promise<boolean>;
}

/** A place images are written to. */
export interface Sink {
  readonly description: string;
  /** Capabilities the engine adapts to. */
  readonly traits?: SinkTraits;
  /** True when the sink already has this content (skip it). */
  exists(desc: Descriptor, opts?: CallOptions): Promise<boolean>;
  /**
   * Store content. `stream` yields exactly `desc.size` bytes hashing to `desc.digest`; the sink must
   * verify (or rely on the engine's verifying stream) and commit atomically (temp + rename).
   */
  push(desc: Descriptor, stream: Readable, opts?: PushOptions): Promise<void>;
  /** Point `ref` (a tag / ref.name / RepoTag) at a root descriptor already pushed. */
  tag(desc: Descriptor, ref: string, opts?: CallOptions): Promise<void>;
}

/** Optional: sinks that can mount a blob from another repository of the same registry. */
export interface Mounter {
  /** Try to mount `desc` from `from`; true when mounted, false when the caller must copy. */
  mount(desc: Descriptor, from: Source, opts?: CallOptions): Promise<boolean>;
  /**
   * Optional: true when a mount of `desc` from `from` can work (same registry, other repository), so
   * the engine tries the mount first, without an "exists" check (a mount answers "already there" too).
   */
  mountable?(desc: Descriptor, from: Source): boolean;
}

/**
 * Optional: sinks that store a blob whose digest and size are known only at its end (a layer
 * compressed on its way in), computing both while it streams. `open` may be called again to restart
 * and must yield the same bytes.
 */
export interface StreamPusher {
  pushStream(mediaType: string, open: () => Promise<Readable>, opts?: CallOptions): Promise<{ digest: string; size: number }>;
}

/** Optional: sinks that store a root manifest and its tag in one step (a registry PUT by tag). */
export interface ReferencePusher {
  pushReference(desc: Descriptor, bytes: Buffer, ref: string, opts?: CallOptions): Promise<void>;
}

/** Optional: a sink that needs finishing (archives: write index/manifest.json, rename temp file). */
export interface Committer {
  /** Finish writing and make the result visible atomically. */
  commit(opts?: CallOptions): Promise<void>;
  /** Throw away everything written; any previous file at the target stays untouched. */
  abort(): Promise<void>;
}

/** Optional: something holding resources (file handles, connections). */
export interface Closer {
  close(): Promise<void>;
}

/** Optional: sources that know every image they hold (archives, layouts): used by `push --to`. */
export interface Lister {
  /** Every image with its names (ref names / RepoTags, may be empty for unnamed ones). */
  list(opts?: CallOptions): Promise<Array<{ descriptor: Descriptor; names: string[] }>>;
}

export function isMounter(x: unknown): x is Mounter {
  return typeof (x as Mounter)?.mount === "function";
}
export function isStreamPusher(x: unknown): x is StreamPusher {
  return typeof (x as StreamPusher)?.pushStream === "function";
}
export function isCommitter(x: unknown): x is Committer {
  return typeof (x as Committer)?.commit === "function" && typeof (x as Committer)?.abort === "function";
}
export function isCloser(x: unknown): x is Closer {
  return typeof (x as Closer)?.close === "function";
}
export function isLister(x: unknown): x is Lister {
  return typeof (x as Lister)?.list === "function";
}
export function isReferencePusher(x: unknown): x is ReferencePusher {
  return typeof (x as ReferencePusher)?.pushReference === "function";
}
export function isSource(x: unknown): x is Source {
  return typeof (x as Source)?.resolve === "function" && typeof (x as Source)?.fetch === "function";
}
