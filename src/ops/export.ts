/**
 * `export IMAGE|- TAR|-`: the flattened filesystem of an image as one tar, with whiteouts applied
 * as docker applies them (`.wh.<name>` deletes the lower entry and everything under it,
 * `.wh..wh..opq` hides what lower layers hold under its directory).
 *
 * Layers are walked from the top down, streaming: an entry is written when no upper layer has
 * claimed its path, so only the set of paths seen so far is kept in memory, never file contents.
 * Guards: `maxBytes` bounds the uncompressed bytes read (a decompression bomb fails with a clear
 * error instead of filling memory or disk), `maxEntries` bounds the size of the path set.
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rename, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, posix } from "node:path";
import { Transform, type Readable, type TransformCallback, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { TcraneError, toTcraneError } from "../errors.js";
import { decompressed } from "../image/compression.js";
import { verifier } from "../image/digest.js";
import type { Descriptor, Platform } from "../image/types.js";
import { openArchive } from "../transfer/ops.js";
import { openSource, parsePlace, type OpenedSource, type Source, type TransportContext } from "../transports/index.js";
import { resolveImageFrom } from "./look.js";

/** Default of `maxBytes`: 64 GiB of uncompressed layer data (and of a spooled stdin archive). */
export const DEFAULT_EXPORT_MAX_BYTES = 64 * 1024 ** 3;
/** Default of `maxEntries`: 10 million distinct paths (about 1 GiB of path strings at worst). */
export const DEFAULT_EXPORT_MAX_ENTRIES = 10_000_000;

/** Options of the export functions. */
export interface ExportOptions {
  /** For an index: the platform to export (default linux/amd64, as crane). */
  platform?: Platform | "all";
  /** Abort once more than this many uncompressed bytes were read (default DEFAULT_EXPORT_MAX_BYTES). */
  maxBytes?: number;
  /** Abort once more than this many distinct paths were seen (default DEFAULT_EXPORT_MAX_ENTRIES). */
  maxEntries?: number;
  signal?: AbortSignal;
}

/** What an export did. */
export interface ExportStats {
  /** Entries written to the output tar. */
  entries: number;
  /** Uncompressed layer bytes read. */
  bytesRead: number;
  layers: number;
}

// Flags of a path in the state left by upper layers.
const EXACT = 1; // the path itself was written or deleted: lower entries of that path are dropped
const SUBTREE = 2; // a file or whiteout: everything below the path in lower layers is dropped
const OPAQUE = 4; // an opaque directory: everything below it in lower layers is dropped

const WH = ".wh.";
const OPQ = ".wh..wh..opq";
const META = ".wh..wh.";
/** pax records tar-stream writes itself from the header fields. */
const OWN_PAX = new Set(["path", "linkpath", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"]);

/** Clean a member name as docker does; undefined for the root; throws on a path escaping the root. */
function clean(name: string, layer: string): string | undefined {
  const stripped = name.replace(/^\/+/, "");
  if (stripped === "") return undefined;
  const p = posix.normalize(stripped).replace(/\/+$/, "");
  if (p === "." || p === "") return undefined;
  if (p === ".." || p.startsWith("../")) throw new TcraneError("CORRUPT_ARCHIVE", `layer member "${name}" escapes the root`, { what: layer });
  return p;
}

/** True when an upper layer hid `p` (the path itself, or an ancestor deleted, replaced by a file, or opaque). */
function hidden(state: Map<string, number>, p: string): boolean {
  if ((state.get(p) ?? 0) & EXACT) return true;
  let dir = p;
  for (;;) {
    const i = dir.lastIndexOf("/");
    dir = i < 0 ? "." : dir.slice(0, i);
    if ((state.get(dir) ?? 0) & (SUBTREE | OPAQUE)) return true;
    if (dir === ".") return false;
  }
}

/** Counts bytes flowing through and fails once more than `max` passed in total. */
class ByteBudget extends Transform {
  constructor(
    private readonly budget: { used: number; max: number },
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.budget.used += chunk.length;
    if (this.budget.used > this.budget.max) {
      cb(budgetError(this.budget.max, this.what));
      return;
    }
    cb(null, chunk);
  }
}

function budgetError(max: number, what: string): TcraneError {
  return new TcraneError("FAILED", `more than ${max} bytes of uncompressed data (--max-bytes): refusing to go on (a decompression bomb?)`, { what });
}

/** A header to write. */
type EntryHeader = Partial<tar.Header> & { name: string };

/** Write one entry into the pack; `data` is streamed with backpressure. */
function writeEntry(pack: tar.Pack, header: EntryHeader, data?: AsyncIterable<Buffer>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (!data) {
      pack.entry(header, Buffer.alloc(0), done).on("error", () => {});
      return;
    }
    const sink = pack.entry(header, done);
    sink.on("error", () => {}); // reported through `done`
    (async () => {
      for await (const chunk of data) {
        if (!sink.write(chunk)) await new Promise<void>((r) => sink.once("drain", () => r()));
      }
      (sink as unknown as { end(): void }).end();
    })().catch((e: unknown) => {
      sink.destroy(e as Error);
      reject(e);
    });
  });
}

/** Copy the pack's bytes into `out` with backpressure (out is not ended). */
async function pump(pack: tar.Pack, out: Writable): Promise<void> {
  let outErr: unknown;
  const onError = (e: unknown) => {
    outErr = e;
    pack.destroy(e as Error);
  };
  out.on("error", onError);
  try {
    for await (const chunk of pack) {
      if (outErr) throw outErr;
      if (!out.write(chunk)) await once(out, "drain");
    }
    if (outErr) throw outErr;
  } catch (e) {
    pack.destroy(e as Error);
    throw e;
  } finally {
    out.off("error", onError);
  }
}

/** Apply one layer (read top-down) into the pack. */
async function flattenLayer(
  source: Source,
  layer: Descriptor,
  pack: tar.Pack,
  state: Map<string, number>,
  budget: { used: number; max: number },
  opts: { maxEntries: number; signal?: AbortSignal },
  stats: ExportStats,
): Promise<void> {
  const what = `${source.description}@${layer.digest}`;
  const raw = await source.fetch(layer, { signal: opts.signal });
  const v = verifier(layer, what);
  raw.on("error", (e) => v.destroy(e));
  const { stream: plain } = await decompressed(raw.pipe(v));
  const counter = new ByteBudget(budget, what);
  plain.on("error", (e) => counter.destroy(e));
  const extract = tar.extract();
  counter.on("error", (e) => extract.destroy(e));
  plain.pipe(counter).pipe(extract);
  const onAbort = () => extract.destroy(new TcraneError("ABORTED", "interrupted"));
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  // Effects of this layer on lower ones, applied when the layer is done.
  const pending: Array<[string, number]> = [];
  const note = (p: string, flags: number) => {
    state.set(p, (state.get(p) ?? 0) | flags);
    if (state.size > opts.maxEntries) throw new TcraneError("FAILED", `more than ${opts.maxEntries} paths (--max-entries): refusing to go on`, { what });
  };
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const p = clean(h.name, what);
      const base = p === undefined ? "" : posix.basename(p);
      // `.wh..wh.*` at the root is aufs metadata (e.g. `.wh..wh.plnk/`), never part of the filesystem.
      if (p === undefined || base.startsWith(WH) || p.startsWith(META) || hidden(state, p) || !isWritableType(h.type)) {
        if (p !== undefined && base === OPQ) pending.push([posix.dirname(p), OPAQUE]);
        else if (p !== undefined && base.startsWith(WH) && !base.startsWith(META)) pending.push([posix.join(posix.dirname(p), base.slice(WH.length)), EXACT | SUBTREE]);
        entry.resume();
        continue;
      }
      const isDir = h.type === "directory";
      note(p, EXACT);
      if (!isDir) pending.push([p, SUBTREE]);
      const out: EntryHeader = {
        name: isDir ? `${p}/` : p,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        mtime: h.mtime,
        size: h.type === "file" || h.type === "contiguous-file" ? h.size : 0,
        linkname: h.type === "link" && h.linkname ? (clean(h.linkname, what) ?? h.linkname) : h.linkname,
        devmajor: h.devmajor,
        devminor: h.devminor,
      };
      const pax = (h as { pax?: Record<string, string> | null }).pax;
      if (pax) {
        const extra = Object.fromEntries(Object.entries(pax).filter(([k]) => !OWN_PAX.has(k)));
        if (Object.keys(extra).length) out.pax = extra;
      }
      await writeEntry(pack, out, out.size ? (entry as unknown as AsyncIterable<Buffer>) : undefined);
      if (!out.size) entry.resume();
      stats.entries++;
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    raw.destroy(); // a no-op after a clean end; releases the connection or file after a failure
  }
  for (const [p, flags] of pending) note(p, flags);
  stats.layers++;
}

function isWritableType(t: string): boolean {
  return t === "file" || t === "contiguous-file" || t === "directory" || t === "symlink" || t === "link" || t === "character-device" || t === "block-device" || t === "fifo";
}

/**
 * Flatten `layers` (bottom first, as a manifest lists them) of `source` into a tar written to `out`
 * (not ended). Each layer is verified against its digest while it streams.
 */
export async function flattenLayers(source: Source, layers: Descriptor[], out: Writable, opts: ExportOptions = {}): Promise<ExportStats> {
  const budget = { used: 0, max: opts.maxBytes ?? DEFAULT_EXPORT_MAX_BYTES };
  const maxEntries = opts.maxEntries ?? DEFAULT_EXPORT_MAX_ENTRIES;
  const stats: ExportStats = { entries: 0, bytesRead: 0, layers: 0 };
  const pack = tar.pack();
  const pumping = pump(pack, out);
  pumping.catch(() => {});
  const state = new Map<string, number>();
  let failure: unknown;
  try {
    for (let i = layers.length - 1; i >= 0; i--) {
      opts.signal?.throwIfAborted();
      await flattenLayer(source, layers[i]!, pack, state, budget, { maxEntries, signal: opts.signal }, stats);
    }
    pack.finalize();
  } catch (e) {
    failure = e;
    pack.destroy(e as Error);
  }
  try {
    await pumping;
  } catch (e) {
    failure ??= e;
  }
  if (failure) throw toTcraneError(failure);
  stats.bytesRead = budget.used;
  return stats;
}

/** Where the image comes from and where the tar goes, for exportImage. */
export interface ExportStreams {
  /** Read for IMAGE `-` (default process.stdin). */
  stdin?: Readable;
  /** Written for TAR `-` (default process.stdout; never ended). */
  stdout?: Writable;
}

/** What exportImage did. */
export interface ExportResult extends ExportStats {
  /** Digest of the exported image manifest. */
  digest: string;
}

/** Spool a stream into a temp file (bounded by `max` bytes); returns its path and a cleanup. */
async function spool(input: Readable, max: number): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "tcrane-export-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, "image.tar");
  try {
    await pipeline(input, new ByteBudget({ used: 0, max }, "-"), createWriteStream(path));
  } catch (e) {
    await cleanup();
    throw toTcraneError(e);
  }
  return { path, cleanup };
}

/**
 * `export IMAGE|- TAR|-`: write the flattened filesystem of IMAGE (any place; `-` = a docker or OCI
 * image tarball on stdin, spooled to a temp file) to TAR (`-` = stdout). A TAR file is written under
 * a temp name beside it and renamed at the end; nothing is left behind on failure.
 */
export async function exportImage(ctx: TransportContext, image: string, output: string, opts: ExportOptions & ExportStreams = {}): Promise<ExportResult> {
  const max = opts.maxBytes ?? DEFAULT_EXPORT_MAX_BYTES;
  let spooled: { path: string; cleanup: () => Promise<void> } | undefined;
  let opened: OpenedSource;
  if (image === "-") {
    spooled = await spool(opts.stdin ?? process.stdin, max);
    opened = await openArchive(ctx, spooled.path).catch(async (e: unknown) => {
      await spooled!.cleanup();
      throw e;
    });
  } else {
    opened = await openSource(parsePlace(image), ctx);
  }
  try {
    const img = await resolveImageFrom(opened, { platform: opts.platform, signal: opts.signal });
    if (output === "-") {
      const stats = await flattenLayers(opened.source, img.manifest.layers, opts.stdout ?? process.stdout, opts).catch((e: unknown) => {
        const cause = (e as { cause?: { code?: string } }).cause;
        if (cause?.code === "EPIPE") throw new TcraneError("IO", "the reader closed the output before the export finished", { what: "stdout", cause: e });
        throw e;
      });
      return { ...stats, digest: img.descriptor.digest };
    }
    const tmp = join(dirname(output), `.${basename(output)}.tcrane-${process.pid}-${Date.now()}.tmp`);
    const file = createWriteStream(tmp);
    try {
      const stats = await flattenLayers(opened.source, img.manifest.layers, file, opts);
      file.end();
      await once(file, "finish");
      await rename(tmp, output);
      return { ...stats, digest: img.descriptor.digest };
    } catch (e) {
      if (!file.closed) {
        const closed = once(file, "close").catch(() => {});
        file.destroy();
        await closed;
      }
      await unlink(tmp).catch(() => {});
      throw toTcraneError(e);
    }
  } finally {
    await opened.close().catch(() => {});
    await spooled?.cleanup();
  }
}

