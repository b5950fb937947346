/**
 * A counting in-memory store (both Source and Sink) and a builder of small random images, for engine
 * tests (oras `storageTracker` style). Not a transport: tests only.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { digestOf } from "../../src/image/digest.js";
import type { Descriptor, Platform } from "../../src/image/types.js";
import { TcraneError } from "../../src/errors.js";
import type { PushOptions, Sink, SinkTraits, Source } from "../../src/transports/types.js";

export class MemoryStore implements Source, Sink {
  readonly description: string;
  traits?: SinkTraits;
  blobs = new Map<string, Buffer>();
  tags = new Map<string, Descriptor>();
  fetches: string[] = [];
  pushes: string[] = [];
  existsCalls = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** digest -> bytes to serve instead (corruption injection) */
  corrupt = new Map<string, Buffer>();
  /** Artificial delay per fetch (ms), to observe concurrency. */
  delay = 0;

  constructor(name = "memory", traits?: SinkTraits) {
    this.description = name;
    this.traits = traits;
  }
  add(bytes: Buffer): string {
    const d = digestOf(bytes);
    this.blobs.set(d, bytes);
    return d;
  }
  async resolve(ref?: string): Promise<Descriptor> {
    const d = this.tags.get(ref ?? "latest");
    if (!d) throw new TcraneError("NOT_FOUND", "no such tag", { what: ref });
    return d;
  }
  async fetch(desc: Descriptor): Promise<Readable> {
    this.fetches.push(desc.digest);
    const b = this.corrupt.get(desc.digest) ?? this.blobs.get(desc.digest);
    if (!b) throw new TcraneError("NOT_FOUND", "no such blob", { what: desc.digest });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.delay) await new Promise((r) => setTimeout(r, this.delay));
    const s = Readable.from([b]);
    s.on("end", () => this.inFlight--);
    s.on("error", () => this.inFlight--);
    return s;
  }
  async exists(desc: Descriptor): Promise<boolean> {
    this.existsCalls++;
    return this.blobs.has(desc.digest);
  }
  async push(desc: Descriptor, stream: Readable, _o?: PushOptions): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    this.blobs.set(desc.digest, Buffer.concat(chunks));
    this.pushes.push(desc.digest);
  }
  async tag(desc: Descriptor, ref: string): Promise<void> {
    this.tags.set(ref, desc);
    this.pushes.push(`tag:${ref}`);
  }
}

/** A built image: its manifest descriptor and parts. */
export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** uncompressed layer tars (diff ids) */
  diffIds: string[];
}

/** Build a random image with `n` gzip layers (or uncompressed ones) into a store. */
export function buildImage(store: MemoryStore, opts: { layers?: number; size?: number; platform?: Platform; uncompressed?: boolean; shared?: Buffer[]; docker?: boolean } = {}): BuiltImage {
  const n = opts.layers ?? 2;
  const raws = [...(opts.shared ?? [])];
  while (raws.length < n) raws.push(randomBytes(opts.size ?? 1024));
  const layerMt = opts.docker
    ? opts.uncompressed ? "application/vnd.docker.image.rootfs.diff.tar" : "application/vnd.docker.image.rootfs.diff.tar.gzip"
    : opts.uncompressed ? "application/vnd.oci.image.layer.v1.tar" : "application/vnd.oci.image.layer.v1.tar+gzip";
  const diffIds = raws.map((r) => digestOf(r));
  const layers: Descriptor[] = raws.map((r) => {
    const b = opts.uncompressed ? r : gzipSync(r);
    return { mediaType: layerMt, digest: store.add(b), size: b.length };
  });
  const p = opts.platform ?? { os: "linux", architecture: "amd64" };
  const cfg = Buffer.from(JSON.stringify({ architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}), rootfs: { type: "layers", diff_ids: diffIds }, config: {} }));
  const config: Descriptor = { mediaType: opts.docker ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json", digest: store.add(cfg), size: cfg.length };
  const mt = opts.docker ? "application/vnd.docker.distribution.manifest.v2+json" : "application/vnd.oci.image.manifest.v1+json";
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt, config, layers }));
  return { manifest: { mediaType: mt, digest: store.add(m), size: m.length }, config, layers, diffIds };
}

/** Build an index over images for the given platforms; returns its descriptor. */
export function buildIndex(store: MemoryStore, images: Array<{ image: BuiltImage; platform: Platform }>): Descriptor {
  const idx = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: images.map((i) => ({ ...i.image.manifest, platform: i.platform })),
    }),
  );
  return { mediaType: "application/vnd.oci.image.index.v1+json", digest: store.add(idx), size: idx.length };
}
