/**
 * The Source every editing command hands to the one engine: it serves the new blobs an edit made
 * (configs and manifests in memory, layers in temp files) and routes every other digest to the
 * Source it came from (a default origin, explicit routes, and — learned lazily — the children of any
 * manifest it served from an origin). `mountingSink()` wraps the destination so the engine's
 * cross-repository mounts see the real origin of an unchanged blob instead of this source, which
 * keeps unchanged layers of a registry image off the wire.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { TcraneError } from "../errors.js";
import { digestOf } from "../image/digest.js";
import { children } from "../image/manifest.js";
import { isManifest } from "../image/mediatypes.js";
import type { Descriptor } from "../image/types.js";
import { readAll } from "../transports/files.js";
import {
  isMounter,
  isReferencePusher,
  isSource,
  type CallOptions,
  type Mounter,
  type PushOptions,
  type Sink,
  type Source,
} from "../transports/types.js";
import { MAX_MANIFEST_BYTES } from "../transfer/engine.js";

/** New content over one or more origin sources. */
export class EditSource implements Source {
  readonly description: string;
  private readonly memory = new Map<string, Buffer>();
  private readonly files = new Map<string, string>();
  private readonly routes = new Map<string, Source>();
  private tmp: string | undefined;

  /** `origin`: where digests that were neither added nor routed are read from (none: an image built from scratch). */
  constructor(
    readonly origin?: Source,
    private readonly tmpParent: string = tmpdir(),
  ) {
    this.description = origin ? `${origin.description} (edited)` : "new image";
  }

  /** A temp directory owned by this source (removed by close()). */
  async tempDir(): Promise<string> {
    this.tmp ??= await mkdtemp(join(this.tmpParent, "tcrane-edit-"));
    return this.tmp;
  }

  /** Add bytes (a config, manifest or index); returns their descriptor. */
  add(bytes: Buffer, mediaType: string): Descriptor {
    const digest = digestOf(bytes);
    this.memory.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }

  /** Add a JSON document serialized compactly. */
  addJson(value: unknown, mediaType: string): Descriptor {
    return this.add(Buffer.from(JSON.stringify(value)), mediaType);
  }

  /** Serve `desc` from a file (a layer built in this source's temp dir). */
  addFile(desc: Descriptor, path: string): void {
    this.files.set(desc.digest, path);
  }

  /** Read `digest` (and, for a manifest, everything under it) from `source`. */
  route(digest: string, source: Source): void {
    if (!this.isNew(digest) && !this.routes.has(digest)) this.routes.set(digest, source);
  }

  /** True for content this edit created. */
  isNew(digest: string): boolean {
    return this.memory.has(digest) || this.files.has(digest);
  }

  /** The source an unchanged digest is read from (undefined for new content). */
  originOf(digest: string): Source | undefined {
    if (this.isNew(digest)) return undefined;
    return this.routes.get(digest) ?? this.origin;
  }

  /** The bytes of a new small blob (config/manifest) added with add(). */
  bytesOf(digest: string): Buffer | undefined {
    return this.memory.get(digest);
  }

  async resolve(ref?: string, opts?: CallOptions): Promise<Descriptor> {
    if (!this.origin) throw new TcraneError("NOT_FOUND", "an edited image has no references", { what: ref });
    return this.origin.resolve(ref, opts);
  }

  async fetch(desc: Descriptor, opts?: CallOptions): Promise<Readable> {
    const mem = this.memory.get(desc.digest);
    if (mem) return Readable.from([mem]);
    const file = this.files.get(desc.digest);
    if (file) return createReadStream(file, { highWaterMark: 1 << 20 });
    const from = this.originOf(desc.digest);
    if (!from) throw new TcraneError("NOT_FOUND", "not part of the edited image", { what: desc.digest });
    const stream = await from.fetch(desc, opts);
    if (!isManifest(desc.mediaType) || desc.size > MAX_MANIFEST_BYTES) return stream;
    // A manifest served from an origin: its children live there too (the engine verifies the bytes).
    const bytes = await readAll(stream, MAX_MANIFEST_BYTES + 1, desc.digest);
    try {
      for (const c of children(desc.mediaType, bytes)) this.route(c.digest, from);
    } catch {
      /* not parseable: the engine reports it */
    }
    return Readable.from([bytes]);
  }

  async exists(desc: Descriptor, opts?: CallOptions): Promise<boolean> {
    if (this.isNew(desc.digest)) return true;
    const from = this.originOf(desc.digest);
    return from ? from.exists(desc, opts) : false;
  }

  /** Remove the temp files. */
  async close(): Promise<void> {
    if (this.tmp) await rm(this.tmp, { recursive: true, force: true });
    this.tmp = undefined;
  }
}

/**
 * Wrap a sink so that mounts requested by the engine for an EditSource use the blob's real origin
 * (a registry repository), and every other call goes to the sink unchanged. Optional powers of the
 * sink (ReferencePusher, Source for the up-to-date check) are kept.
 */
export function mountingSink(sink: Sink): Sink & Mounter {
  const inner = sink as Sink & Partial<Mounter> & Partial<Source>;
  const wrapped: Sink & Mounter & Record<string, unknown> = {
    description: sink.description,
    traits: sink.traits,
    exists: (d: Descriptor, o?: CallOptions) => sink.exists(d, o),
    push: (d: Descriptor, s: Readable, o?: PushOptions) => sink.push(d, s, o),
    tag: (d: Descriptor, r: string, o?: CallOptions) => sink.tag(d, r, o),
    mount: async (d: Descriptor, from: Source, o?: CallOptions) => {
      if (!isMounter(inner)) return false;
      const origin = from instanceof EditSource ? from.originOf(d.digest) : from;
      if (!origin) return false;
      return inner.mount(d, origin, o);
    },
    mountable: (d: Descriptor, from: Source) => {
      const origin = from instanceof EditSource ? from.originOf(d.digest) : from;
      return !!origin && isMounter(inner) && !!inner.mountable?.(d, origin);
    },
  };
  if (isReferencePusher(sink)) wrapped.pushReference = sink.pushReference.bind(sink);
  if (isSource(sink)) {
    wrapped.resolve = inner.resolve!.bind(sink);
    wrapped.fetch = inner.fetch!.bind(sink);
  }
  return wrapped;
}
