/**
 * Compression of layers and archives: sniffing gzip/zstd from magic bytes (never from a name),
 * streaming decompressors (zlib gunzip; pure-JS fzstd on Node 20, which has no zstd in zlib) and
 * the gzip compressor tcrane writes with (level 1, as ggcr). Corrupt input ⇒ CORRUPT_ARCHIVE.
 */
import { PassThrough, Readable, Transform, pipeline, type TransformCallback } from "node:stream";
import { zlib } from "../builtins.js";
import { ParallelGzip } from "./parallel-gzip.js";
import { Decompress } from "fzstd";
import { TcraneError } from "../errors.js";

/** A compression tcrane can read. */
export type Compression = "gzip" | "zstd" | "none";

const CHUNK = 64 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** The compression the first bytes of some data announce. */
export function detectCompression(head: Uint8Array): Compression {
  const starts = (m: number[]) => head.length >= m.length && m.every((b, i) => head[i] === b);
  if (starts(GZIP_MAGIC)) return "gzip";
  if (starts(ZSTD_MAGIC)) return "zstd";
  return "none";
}

/**
 * Peek at the magic bytes of `stream` without losing them: resolves to the compression and a
 * stream that yields every byte of the input (head included). Errors of the input propagate.
 */
export async function sniff(stream: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < ZSTD_MAGIC.length) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
    head.push(b);
    length += b.length;
  }
  const first = Buffer.concat(head);
  async function* replay(): AsyncGenerator<Buffer> {
    let finished = done;
    try {
      if (first.length) yield first;
      while (!finished) {
        const r = await it.next();
        if (r.done) finished = true;
        else yield typeof r.value === "string" ? Buffer.from(r.value) : r.value;
      }
    } finally {
      // The consumer stopped early (destroyed the stream): release the input too.
      if (!finished) await it.return?.();
    }
  }
  return { compression: detectCompression(first), stream: Readable.from(replay(), { objectMode: false }) };
}

function corrupt(kind: string, err: unknown): TcraneError {
  if (err instanceof TcraneError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new TcraneError("CORRUPT_ARCHIVE", `corrupt ${kind} data: ${msg}`, { cause: err });
}

/** A zstd decompressor stream over fzstd's pushing decoder (handles concatenated frames). */
class ZstdDecompress extends Transform {
  private readonly decoder: Decompress;
  constructor() {
    super({ readableHighWaterMark: CHUNK * 4 });
    this.decoder = new Decompress((data) => {
      if (data.length) this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.decoder.push(chunk, false);
    } catch (e) {
      cb(corrupt("zstd", e));
      return;
    }
    cb();
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
    } catch (e) {
      cb(corrupt("zstd", e));
      return;
    }
    cb();
  }
}

/** A streaming gunzip whose errors (bad header, bad CRC, truncation) become CORRUPT_ARCHIVE. */
function gunzip(): Transform {
  const g = zlib().createGunzip({ chunkSize: CHUNK });
  const destroy = g._destroy.bind(g);
  g._destroy = (err: Error | null, cb: (error: Error | null) => void) => {
    destroy(err, (e?: Error | null) => cb(e ? corrupt("gzip", e) : null));
  };
  return g;
}

/** A Transform that decompresses `c` (identity PassThrough for "none"). */
export function decompressor(c: Compression): Transform {
  switch (c) {
    case "gzip":
      return gunzip();
    case "zstd":
      return new ZstdDecompress();
    case "none":
      return new PassThrough();
  }
}

/** The gzip compressor tcrane writes layers and archives with: level 1 (ggcr BestSpeed) as parallel windows (see parallel-gzip.ts); other levels through plain zlib. */
export function gzipStream(level = 1): Transform {
  // level 1 (the default, as ggcr): parallel windows, stored where data does not compress
  if (level === 1) return new ParallelGzip();
  return zlib().createGzip({ level, chunkSize: CHUNK });
}

/** Sniff `stream` and return it decompressed, with the compression that was found. */
export async function decompressed(stream: Readable): Promise<{ compression: Compression; stream: Readable }> {
  const s = await sniff(stream);
  if (s.compression === "none") return s;
  const d = decompressor(s.compression);
  // pipeline propagates errors and early destruction both ways; the error reaches `d`'s reader.
  return { compression: s.compression, stream: pipeline(s.stream, d, () => {}) };
}
