/**
 * A counting in-memory store (both Source and Sink) for engine tests (oras `storageTracker` style).
 * Not a transport: tests only. Images are built with ../fixtures/images.ts and stored with `put`
 * (which counts nothing): `const img = store.put(randomImage([1024, 1024]))`.
 */
import { Readable } from "node:stream";
import { digestOf } from "../../src/image/digest.js";
import type { Descriptor } from "../../src/image/types.js";
import { TcraneError } from "../../src/errors.js";
import type { PushOptions, Sink, SinkTraits, Source } from "../../src/transports/types.js";
import { nodeBlobs, type Node } from "../fixtures/images.js";

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
  /** Store every blob and manifest of a built image or index (uncounted); returns it. */
  put<N extends Node>(node: N): N {
    for (const [d, b] of nodeBlobs(node)) this.blobs.set(d.digest, b);
    return node;
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
