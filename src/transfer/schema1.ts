/**
 * What the engine needs to move a Docker schema 1 image (src/image/schema1.ts has the format):
 * the sizes of its layers (schema 1 lists none), and the diff IDs (uncompressed digests) of its
 * layers, computed while they stream into the sink, which a conversion to schema 2 needs.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Gunzip } from "node:zlib";
import { zlib } from "../builtins.js";
import { TcraneError } from "../errors.js";
import { verifier } from "../image/digest.js";
import type { Descriptor } from "../image/types.js";
import type { CallOptions, Source } from "../transports/types.js";

/** Optional power of a source: the size of a blob known only by digest (a registry's HEAD). */
export interface BlobSizer {
  blobSize(digest: string, opts?: CallOptions): Promise<number | undefined>;
}

function isBlobSizer(x: unknown): x is BlobSizer {
  return typeof (x as BlobSizer)?.blobSize === "function";
}

/**
 * The size of a schema 1 layer blob in `source` (schema 1 lists none): a registry's HEAD, else the
 * blob read through once and counted (local places: archives, layouts), its digest checked on the
 * way. NOT_FOUND when the source does not have it.
 */
export async function schema1BlobSize(source: Source, digest: string, opts: CallOptions = {}): Promise<number> {
  if (isBlobSizer(source)) {
    const size = await source.blobSize(digest, opts);
    if (size === undefined) throw new TcraneError("NOT_FOUND", "layer blob unknown to the registry", { what: `${source.description}@${digest}` });
    return size;
  }
  const v = verifier({ digest }, `${source.description}@${digest}`);
  await pipeline(await source.fetch({ mediaType: "application/octet-stream", digest, size: 0 }, { signal: opts.signal, verify: false }), v, async function* (s: AsyncIterable<Buffer>) {
    for await (const _ of s) {
      /* count */
    }
  }, { signal: opts.signal });
  return v.bytes;
}

/** A layer's diff ID as its bytes pass: `gzip` tells whether the blob was gzip (else the diff ID is its own digest). */
export interface DiffId {
  diffId: string;
  gzip: boolean;
}

/**
 * A pass-through stream that hashes the uncompressed form of the layer flowing through it (gzip is
 * detected by its magic bytes; anything else is taken as a plain tar). `result` resolves at the
 * stream's end; a corrupt gzip fails the stream. Backpressure: a chunk is passed on once the
 * decompressor has taken it.
 */
export class DiffIdTap extends Transform {
  #gunzip: Gunzip | undefined;
  #hash: Hash = createHash("sha256");
  #decided = false;
  #gzip = false;
  #head: Buffer[] = [];
  #headBytes = 0;
  #resolve!: (d: DiffId) => void;
  /** The diff ID, once every byte passed (never settles when the stream is cut short). */
  readonly result: Promise<DiffId>;

  constructor() {
    super();
    this.result = new Promise((r) => (this.#resolve = r));
  }

  #feed(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (!this.#gzip) {
      this.#hash.update(chunk);
      cb();
    } else if (this.#gunzip!.write(chunk)) cb();
    else this.#gunzip!.once("drain", () => cb());
  }

  #decide(): void {
    const head = Buffer.concat(this.#head);
    this.#decided = true;
    this.#gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    if (this.#gzip) {
      this.#gunzip = zlib().createGunzip();
      this.#gunzip.on("data", (d: Buffer) => this.#hash.update(d));
      this.#gunzip.on("error", (e) => this.destroy(new TcraneError("MALFORMED", `layer is not valid gzip: ${e.message}`, { cause: e })));
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.#decided) {
      this.#head.push(chunk);
      this.#headBytes += chunk.length;
      if (this.#headBytes < 2) return cb();
      this.#decide();
      const head = Buffer.concat(this.#head);
      this.#head = [];
      return this.#feed(head, (err) => cb(err, head));
    }
    this.#feed(chunk, (err) => cb(err, chunk));
  }

  override _flush(cb: TransformCallback): void {
    if (!this.#decided) {
      const head = Buffer.concat(this.#head);
      this.#decide();
      if (head.length) this.push(head);
      this.#hash.update(head);
    }
    if (!this.#gzip) {
      this.#resolve({ diffId: `sha256:${this.#hash.digest("hex")}`, gzip: false });
      return cb();
    }
    this.#gunzip!.once("end", () => {
      this.#resolve({ diffId: `sha256:${this.#hash.digest("hex")}`, gzip: true });
      cb();
    });
    this.#gunzip!.end();
    this.#gunzip!.resume();
  }
}

/** The diff ID of a layer in `source`, streamed (verified against its digest on the way). */
export async function diffIdOf(source: Source, desc: Descriptor, opts: CallOptions = {}): Promise<DiffId> {
  const tap = new DiffIdTap();
  const stream = await source.fetch(desc, { signal: opts.signal, verify: false });
  await pipeline(stream, verifier(desc, `${source.description}@${desc.digest}`), tap, async function* (s: AsyncIterable<Buffer>) {
    for await (const _ of s) {
      /* drain */
    }
  }, { signal: opts.signal });
  return tap.result;
}
