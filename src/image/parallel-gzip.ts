/**
 * gzip in parallel, pigz-style, and without wasting time on incompressible data.
 *
 * The input is cut into 1 MiB windows. Each window becomes raw deflate blocks ending in a full flush
 * (so no window refers to another), compressed at level 1 on libuv's thread pool — several windows
 * at once, on every core — or written as stored blocks when its first 16 KiB look incompressible (byte
 * entropy, see levelFor: archives, media and random data cost no compression at all). The pieces are emitted in order
 * inside one gzip member (RFC 1952: header, deflate stream, CRC-32, size). The output depends only on
 * the input bytes, so the same layer always gets the same digest.
 */
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { availableParallelism } from "node:os";

const WINDOW = 1 << 20;
const PROBE = 16 * 1024;
/** Bits per byte above which a window is stored (see levelFor). */
const STORE_ENTROPY = 7.95;
/** Windows in flight per stream: one per core (at least 2), so one layer can use every core. */
const IN_FLIGHT = Math.max(2, Math.min(8, availableParallelism()));
const deflateRaw = promisify(zlib.deflateRaw) as (b: Buffer, o: zlib.ZlibOptions) => Promise<Buffer>;

/** gzip header: no name, mtime 0, XFL 4 (fastest), OS unix. */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3]);
/** An empty final stored block (the stream is byte-aligned after a full flush). */
const FINAL = Buffer.from([1, 0, 0, 0xff, 0xff]);

/**
 * Level for one window: 0 (stored) when its first 16 KiB look incompressible, 1 otherwise. The test is
 * the byte entropy of the sample (bits per byte): random, encrypted and already-compressed data
 * measure ≥ 7.98 on 16 KiB, code and text 4–6, binaries 5–7. Above 7.95 level-1 deflate saves under
 * 1% of such data, and the test costs ~25 ms per GiB on the main thread, where the level-1 trial
 * compression it replaced cost ~0.5 CPU-s per GiB. Data whose bytes look random but which repeats
 * at long range would be stored, not compressed: only the size differs, never the content.
 */
export function levelFor(window: Buffer): 0 | 1 {
  const n = Math.min(window.length, PROBE);
  if (n < 1024) return 1;
  const counts = new Uint32Array(256);
  for (let i = 0; i < n; i++) counts[window[i]!]!++;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c) bits -= c * Math.log2(c / n);
  }
  return bits / n >= STORE_ENTROPY ? 0 : 1;
}

/** Raw deflate stored blocks (non-final) holding `data`. */
export function storedBlocks(data: Buffer): Buffer {
  return Buffer.concat(storedPieces(data));
}

/** The same as pieces: 5-byte block headers and views of `data` (no copy of the data). */
function storedPieces(data: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 65535) {
    const piece = data.subarray(i, i + 65535);
    const h = Buffer.alloc(5);
    h[0] = 0; // BFINAL=0, BTYPE=00
    h.writeUInt16LE(piece.length, 1);
    h.writeUInt16LE(~piece.length & 0xffff, 3);
    parts.push(h, piece);
  }
  return parts;
}

/** Compress one window (independent of the others). */
function compressWindow(w: Buffer): Promise<Buffer[]> {
  if (levelFor(w) === 0) return Promise.resolve(storedPieces(w));
  return deflateRaw(w, { level: 1, finishFlush: zlib.constants.Z_FULL_FLUSH, chunkSize: WINDOW + (WINDOW >> 4) }).then((b) => [b]);
}

/** A gzip Transform compressing 1 MiB windows in parallel (see the file comment). */
export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private crc = 0;
  private size = 0;
  private started = false;
  /** Windows being compressed, in input order. */
  private readonly queue: Array<Promise<Buffer[]>> = [];

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc = zlib.crc32(chunk, this.crc);
    this.size += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < WINDOW) return cb();
    const all = Buffer.concat(this.pending, this.pendingBytes);
    const whole = all.length - (all.length % WINDOW);
    this.pending = whole < all.length ? [all.subarray(whole)] : [];
    this.pendingBytes = all.length - whole;
    for (let off = 0; off < whole; off += WINDOW) this.queue.push(compressWindow(all.subarray(off, off + WINDOW)));
    this.drain(IN_FLIGHT).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    if (this.pendingBytes > 0) this.queue.push(compressWindow(Buffer.concat(this.pending, this.pendingBytes)));
    this.pending = [];
    this.drain(0).then(() => {
      if (!this.started) this.push(HEADER);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.size % 2 ** 32, 4);
      this.push(Buffer.concat([FINAL, trailer]));
      cb();
    }, cb);
  }

  /** Emit finished windows in order until at most `keep` are still in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.queue.length > keep) {
      const out = await this.queue.shift()!;
      if (!this.started) {
        this.started = true;
        this.push(HEADER);
      }
      for (const b of out) this.push(b);
    }
  }
}
