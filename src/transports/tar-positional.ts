/**
 * A tar written by position: every entry's place is reserved when it is added (header + data,
 * rounded to 512 bytes), so concurrent entries stream into the file at the same time instead of
 * waiting for each other. Used for plain archive files (a gzip stream or stdout must be written in
 * order: see TarWriter). The file appears at `target` only at commit (temp + rename).
 */
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import fs, { createWriteStream } from "node:fs";
import { once } from "node:events";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError } from "../errors.js";
import { namedForTarget, tempPathBeside } from "./files.js";
import { TarWriter, type TarWriterOptions } from "./tar-index.js";

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** fs functions for write streams on the archive's shared descriptor: everything but close. */
const SHARED_FD_FS = { open: fs.open, write: fs.write, writev: fs.writev, close: (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => cb(null) };

/** A ustar header for a regular file (names up to 100 bytes, or 255 split at a '/'). */
export function ustarHeader(name: string, size: number, mode = 0o644, mtime = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = "";
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const i = name.lastIndexOf("/", 155);
    if (i <= 0 || Buffer.byteLength(name.slice(i + 1)) > 100) throw new TcraneError("FAILED", "member name too long for a ustar header", { what: name });
    prefix = name.slice(0, i);
    base = name.slice(i + 1);
  }
  h.write(base, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  if (size > 0o77777777777) {
    // 8 GiB and more: GNU base-256 (as GNU tar, tar-stream and Go's archive/tar write and read it)
    h[124] = 0x80;
    for (let i = 135, v = size; i > 124; i--, v = Math.floor(v / 256)) h[i] = v % 256;
  } else h.write(octal(size, 12), 124, "ascii");
  h.write(octal(mtime, 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write("0", 156, "ascii");
  h.write("ustar\u000000", 257, "binary");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

/** The interface both tar writers offer. */
export interface ArchiveWriter {
  add(name: string, size: number, data: Buffer | Readable): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Entries stream into their reserved places concurrently. */
export class PositionalTarWriter implements ArchiveWriter {
  private readonly tmp: string;
  private readonly fh: Promise<FileHandle>;
  private end = 0;
  private readonly pending = new Set<Promise<void>>();
  private failed: unknown;
  private closed = false;

  constructor(readonly target: string) {
    this.tmp = tempPathBeside(target);
    this.fh = open(this.tmp, "wx");
    this.fh.catch((e) => (this.failed ??= e));
  }

  add(name: string, size: number, data: Buffer | Readable): Promise<void> {
    // every failure destroys the stream it was handed, so no source (a response body) stays open
    const drop = (e: unknown): Promise<void> => {
      if (!Buffer.isBuffer(data)) data.destroy();
      return Promise.reject(e);
    };
    if (this.closed) return drop(new TcraneError("FAILED", "archive already finished", { what: this.target }));
    let header: Buffer;
    try {
      header = ustarHeader(name, size);
    } catch (e) {
      return drop(e);
    }
    const at = this.end;
    this.end += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    const p = this.write(at, header, name, size, data);
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      (e) => {
        this.pending.delete(p);
        this.failed ??= e;
      },
    );
    return p;
  }

  private async write(at: number, header: Buffer, name: string, size: number, data: Buffer | Readable): Promise<void> {
    try {
      await this.writeEntry(at, header, name, size, data);
    } catch (e) {
      if (!Buffer.isBuffer(data)) data.destroy();
      throw namedForTarget(e, this.tmp, this.target);
    }
  }

  private async writeEntry(at: number, header: Buffer, name: string, size: number, data: Buffer | Readable): Promise<void> {
    const fh = await this.fh;
    if (this.failed) throw this.error();
    await fh.write(header, 0, BLOCK, at);
    let n = 0;
    if (Buffer.isBuffer(data)) {
      n = data.length;
      if (n === size) await fh.write(data, 0, n, at + BLOCK);
    } else {
      // A positional write stream on the shared descriptor: chunks that arrive while a write is in
      // flight go out together in one pwritev (one write per chunk cost ~0.4 s per GiB here, and
      // reading the stream with for-await concatenated its buffered chunks: another copy).
      // The descriptor belongs to the archive: a stream destroyed on error closes its fd even with
      // autoClose false (node's fs streams), which would close it under every other entry (and a
      // later open could reuse the number: seen as SIGABRT after SIGINT). Its `close` is a no-op.
      const out = createWriteStream("", { fd: fh.fd, start: at + BLOCK, autoClose: false, highWaterMark: 1 << 20, fs: SHARED_FD_FS });
      data.on("data", (c: Buffer) => {
        n += c.length;
        if (n > size) data.destroy(new TcraneError("SIZE_MISMATCH", `member is longer than its declared ${size} bytes`, { what: name }));
      });
      try {
        await pipeline(data, out);
      } catch (e) {
        // a write may still be in flight on the shared descriptor: wait for it before the caller
        // can close the file (a later open could get the same descriptor number)
        if (!out.closed) await once(out, "close").catch(() => undefined);
        throw e;
      }
    }
    if (n !== size) throw new TcraneError("SIZE_MISMATCH", `member has ${n} bytes, declared ${size}`, { what: name });
    // padding needs no write: the gap up to the next reservation reads as zeros
  }

  async commit(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (this.failed) {
      await this.abort();
      throw this.error();
    }
    this.closed = true;
    try {
      const fh = await this.fh;
      await fh.truncate(this.end + 2 * BLOCK); // two zero blocks end the archive
      await fh.close();
      await rename(this.tmp, this.target);
    } catch (e) {
      this.failed ??= e;
      await this.abort();
      throw this.error();
    }
  }

  async abort(): Promise<void> {
    this.closed = true;
    this.failed ??= new TcraneError("ABORTED", "aborted");
    await Promise.allSettled([...this.pending]);
    await this.fh.then((f) => f.close()).catch(() => undefined);
    await rm(this.tmp, { force: true });
  }

  private error(): TcraneError {
    return namedForTarget(this.failed, this.tmp, this.target);
  }
}

/** A writer for `target`: by position for a plain file, in order for gzip or stdout. */
export function createArchiveWriter(target: string, opts: TarWriterOptions = {}): ArchiveWriter {
  if (target === "-" || opts.compress === "gzip") return new TarWriter(target, opts);
  return new PositionalTarWriter(target);
}
