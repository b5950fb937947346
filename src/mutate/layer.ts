/**
 * New layers: a tar (file, `-` for stdin, or any stream) becomes a gzip layer blob in a temp file, its
 * diff_id (sha256 of the tar) and digest (sha256 of the gzip) computed in the same single pass.
 * Input that is already gzip-compressed is kept byte for byte (as ggcr's tarball.LayerFromFile
 * does) while its diff_id is computed from a side decompression; zstd input is re-compressed to gzip.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform, Writable, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError, toTcraneError } from "../errors.js";
import { VerifyingStream } from "../image/digest.js";
import { decompressor, gzipStream, sniff } from "../image/compression.js";
import type { Descriptor } from "../image/types.js";
import type { EditSource } from "./edit-source.js";

/** A layer built into an EditSource. */
export interface BuiltLayer {
  /** The blob: gzip, `mediaType` as asked. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffId: string;
}

/** Options of the layer builders. */
export interface LayerOptions {
  /** Media type of the descriptor (a gzip layer type). */
  mediaType: string;
  /** gzip level (default 1, ggcr's BestSpeed). */
  level?: number;
  /** The input is known to be an uncompressed tar (skip sniffing). */
  plain?: boolean;
  signal?: AbortSignal;
}

let counter = 0;

/** Drains a stream, hashing it (the diff_id side of an already-compressed input). */
class Tee extends Transform {
  constructor(private readonly side: Writable) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.side.write(chunk)) cb(null, chunk);
    else this.side.once("drain", () => cb(null, chunk));
  }
  override _flush(cb: TransformCallback): void {
    this.side.end();
    cb();
  }
}

/**
 * Build a gzip layer from a tar stream (plain, gzip or zstd: sniffed from the bytes) into `edit`'s
 * temp dir and register it there. One pass over the input.
 */
export async function layerFromStream(edit: EditSource, input: Readable, opts: LayerOptions, what = "layer"): Promise<BuiltLayer> {
  const dir = await edit.tempDir();
  const file = join(dir, `layer-${process.pid}-${++counter}.tar.gz`);
  const { compression, stream } = opts.plain ? { compression: "none" as const, stream: input } : await sniff(input);
  const blob = new VerifyingStream({ what });
  const tar = new VerifyingStream({ what });
  try {
    if (compression === "gzip") {
      // Keep the compressed bytes; decompress on the side only to hash the tar.
      const side = decompressor("gzip");
      const sideDone = pipeline(side, tar, new Writable({ write: (_c, _e, cb) => cb() }), { signal: opts.signal });
      await Promise.all([pipeline(stream, new Tee(side), blob, createWriteStream(file), { signal: opts.signal }), sideDone]);
    } else {
      const plain = compression === "zstd" ? stream.pipe(decompressor("zstd")) : stream;
      if (plain !== stream) stream.on("error", (e) => plain.destroy(e));
      await pipeline(plain, tar, gzipStream(opts.level ?? 1), blob, createWriteStream(file), { signal: opts.signal });
    }
  } catch (e) {
    if (e instanceof TcraneError) throw e;
    const code = (e as NodeJS.ErrnoException)?.code;
    if (typeof code === "string" && code.startsWith("Z_")) throw new TcraneError("CORRUPT_ARCHIVE", `cannot read the layer: ${(e as Error).message}`, { what, cause: e });
    throw toTcraneError(e);
  }
  const size = (await stat(file)).size;
  const descriptor: Descriptor = { mediaType: opts.mediaType, digest: blob.digest!, size };
  edit.addFile(descriptor, file);
  return { descriptor, diffId: tar.digest! };
}

/** Build a gzip layer from a tar file (`-` = stdin). */
export async function layerFromFile(edit: EditSource, path: string, opts: LayerOptions): Promise<BuiltLayer> {
  if (path === "-") return layerFromStream(edit, process.stdin, opts, "stdin");
  const st = await stat(path).catch((e) => {
    throw toTcraneError(e);
  });
  if (st.isDirectory()) throw new TcraneError("USAGE", "is a directory: give a tar file (e.g. tar -cf layer.tar -C DIR .)", { what: path });
  return layerFromStream(edit, createReadStream(path, { highWaterMark: 1 << 20 }), opts, path);
}
