/**
 * Tar archives by position: a hand-written reader of 512-byte headers that indexes a plain, seekable
 * tar ONCE (member name → data offset, size, type, link target; ustar prefix, GNU long names and
 * pax `path`/`linkpath`/`size` records honoured), then streams members with
 * fs.createReadStream({start, end}); and TarWriter, a serialized tar-stream writer to a temp file
 * beside the target (optionally gzip-compressed) renamed at commit, or to stdout for `-`.
 *
 * Rules: member paths must be relative and stay inside the archive (`..` or absolute ⇒
 * CORRUPT_ARCHIVE); symlinks and hardlinks are followed only inside the archive; a duplicate
 * member name: the LAST one wins (as extraction would leave it).
 */
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { posix } from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { gzipStream } from "../image/compression.js";
import { TcraneError, toTcraneError } from "../errors.js";
import { FILE_READ_BYTES, emptyStream, namedForTarget, parseJson, tempPathBeside } from "./files.js";

/** Kind of a tar member. */
export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

/** One indexed member. `offset` is the position of its DATA (after every header). */
export interface TarEntry {
  name: string;
  type: TarEntryType;
  offset: number;
  size: number;
  linkname?: string;
  mode: number;
}

const BLOCK = 512;

function cstr(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString("utf8", start, end < 0 || end > start + len ? start + len : end);
}

function num(buf: Buffer, start: number, len: number): number {
  if (buf[start]! & 0x80) {
    // GNU base-256: big-endian, first byte's high bit set.
    let v = buf[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = cstr(buf, start, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return want === unsigned || want === signed;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.toString("utf8", i, sp), 10);
    if (!(len > 0)) break;
    const rec = data.toString("utf8", sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Normalize a member name: strip `./`, duplicate and trailing slashes; "" for the root. */
function cleanName(raw: string): string {
  let n = posix.normalize(raw.replace(/\/+$/, ""));
  while (n.startsWith("./")) n = n.slice(2);
  return n === "." ? "" : n;
}

function unsafe(name: string): boolean {
  return name.startsWith("/") || name === ".." || name.startsWith("../");
}

/** A plain tar indexed once; members are read by position. */
export class TarIndex {
  private readonly members = new Map<string, TarEntry>();

  private constructor(
    /** The plain (uncompressed) tar file read. */
    readonly path: string,
    /** How the archive is named in errors (the user's path). */
    readonly what: string,
  ) {}

  /**
   * Index a plain tar file in one pass. Errors (CORRUPT_ARCHIVE, what = `what`): empty file, not a
   * tar, bad header checksum, truncated member, unsafe member path.
   */
  static async build(path: string, what = path): Promise<TarIndex> {
    const idx = new TarIndex(path, what);
    const corrupt = (msg: string) => new TcraneError("CORRUPT_ARCHIVE", msg, { what });
    const fh = await open(path, "r").catch((err) => {
      const t = toTcraneError(err);
      throw new TcraneError(t.code, t.message, { what, cause: err });
    });
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new TcraneError("MALFORMED", "is a directory, expected an archive file", { what });
      const fileSize = st.size;
      if (fileSize === 0) throw corrupt("empty file, not a tar archive");
      const h = Buffer.alloc(BLOCK);
      let pos = 0;
      let longName: string | undefined;
      let longLink: string | undefined;
      let pax: Record<string, string> = {};
      let count = 0;
      const readData = async (off: number, size: number): Promise<Buffer> => {
        if (size > 16 << 20) throw corrupt(`extended header too large at offset ${off}`);
        const b = Buffer.alloc(size);
        const { bytesRead } = await fh.read(b, 0, size, off);
        if (bytesRead !== size) throw corrupt("truncated tar archive");
        return b;
      };
      for (;;) {
        const { bytesRead } = await fh.read(h, 0, BLOCK, pos);
        if (bytesRead === 0) break; // EOF without end-of-archive blocks: tolerated, as tar-stream does
        if (bytesRead < BLOCK) throw corrupt(`truncated tar archive (partial header at offset ${pos})`);
        if (h.every((b) => b === 0)) break;
        if (!checksumOk(h)) {
          throw corrupt(count === 0 ? "not a tar archive" : `corrupt tar header at offset ${pos}`);
        }
        count++;
        const type = String.fromCharCode(h[156]!);
        let size = num(h, 124, 12);
        if (pax.size !== undefined) size = Number(pax.size);
        if (!Number.isSafeInteger(size) || size < 0) throw corrupt(`bad member size at offset ${pos}`);
        if ("123456".includes(type)) size = 0; // header-only types carry no data (as Go's archive/tar)
        const dataStart = pos + BLOCK;
        if (dataStart + size > fileSize) throw corrupt("truncated tar archive");
        const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
        if (type === "x" || type === "g" || type === "L" || type === "K") {
          const data = await readData(dataStart, size);
          if (type === "x") pax = parsePax(data);
          else if (type === "L") longName = cstr(data, 0, data.length);
          else if (type === "K") longLink = cstr(data, 0, data.length);
          pos = next;
          continue;
        }
        const magic = h.toString("latin1", 257, 263);
        let name = cstr(h, 0, 100);
        if (magic === "ustar\0") {
          const prefix = cstr(h, 345, 155);
          if (prefix) name = `${prefix}/${name}`;
        }
        name = pax.path ?? longName ?? name;
        const linkRaw = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
        pax = {};
        longName = longLink = undefined;
        const kind: TarEntryType =
          type === "0" || type === "\0" || type === "7"
            ? "file"
            : type === "5"
              ? "directory"
              : type === "2"
                ? "symlink"
                : type === "1"
                  ? "hardlink"
                  : "other";
        if (unsafe(name) || unsafe(posix.normalize(name))) throw corrupt(`unsafe member path "${name}"`);
        const clean = cleanName(name);
        if (clean !== "") {
          idx.members.set(clean, {
            name: clean,
            type: name.endsWith("/") && kind === "file" ? "directory" : kind,
            offset: dataStart,
            size: kind === "file" ? size : 0,
            linkname: kind === "symlink" || kind === "hardlink" ? linkRaw : undefined,
            mode: num(h, 100, 8) || 0,
          });
        }
        pos = next;
      }
      if (count === 0) throw corrupt("not a tar archive (no members)");
      return idx;
    } finally {
      await fh.close();
    }
  }

  /** Every member (after duplicate resolution), in no particular order. */
  entries(): IterableIterator<TarEntry> {
    return this.members.values();
  }

  /** The raw member (links not followed). */
  get(name: string): TarEntry | undefined {
    return this.members.get(cleanName(name));
  }

  /** True when `name` resolves to a regular file (links followed). Never throws. */
  has(name: string): boolean {
    try {
      this.resolve(name);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The regular file `name` designates, following symlinks (relative to the link's directory) and
   * hardlinks (relative to the archive root) inside the archive. Throws NOT_FOUND (no such member),
   * MALFORMED (a directory where a file is expected) or CORRUPT_ARCHIVE (a link leaving the archive,
   * link loops, special files).
   */
  resolve(name: string): TarEntry {
    let cur = cleanName(name);
    if (unsafe(cur)) throw this.err("CORRUPT_ARCHIVE", `unsafe member path "${name}"`);
    for (let hop = 0; hop < 40; hop++) {
      const e = this.members.get(cur);
      if (!e) throw this.err("NOT_FOUND", `member "${cur}" is missing from the archive`);
      if (e.type === "file") return e;
      if (e.type === "directory") throw this.err("MALFORMED", `member "${cur}" is a directory, expected a file`);
      if (e.type === "other") throw this.err("CORRUPT_ARCHIVE", `member "${cur}" is not a regular file`);
      const target = e.linkname ?? "";
      if (target.startsWith("/")) throw this.err("CORRUPT_ARCHIVE", `link "${cur}" points outside the archive (${target})`);
      const joined = e.type === "symlink" ? posix.normalize(posix.join(posix.dirname(cur), target)) : posix.normalize(target);
      if (unsafe(joined)) throw this.err("CORRUPT_ARCHIVE", `link "${cur}" points outside the archive (${target})`);
      cur = cleanName(joined);
    }
    throw this.err("CORRUPT_ARCHIVE", `too many levels of links at "${name}"`);
  }

  /** Stream a member's bytes (links followed). */
  open(nameOrEntry: string | TarEntry): Readable {
    const e = typeof nameOrEntry === "string" ? this.resolve(nameOrEntry) : nameOrEntry;
    if (e.size === 0) return emptyStream();
    return createReadStream(this.path, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: FILE_READ_BYTES });
  }

  /** The first `n` bytes of a member (for sniffing). */
  async head(e: TarEntry, n: number): Promise<Buffer> {
    const fh = await open(this.path, "r");
    try {
      const b = Buffer.alloc(Math.min(n, e.size));
      const { bytesRead } = await fh.read(b, 0, b.length, e.offset);
      return b.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  /** Read a small member whole (JSON documents), refusing more than `limit` bytes. */
  async readFile(name: string, limit = 32 << 20): Promise<Buffer> {
    const e = this.resolve(name);
    if (e.size > limit) throw this.err("MALFORMED", `member "${name}" is too large (${e.size} bytes)`);
    const fh = await open(this.path, "r");
    try {
      const b = Buffer.alloc(e.size);
      await fh.read(b, 0, e.size, e.offset);
      return b;
    } finally {
      await fh.close();
    }
  }

  /** Read and parse a JSON member (MALFORMED on bad JSON). */
  async readJson<T = unknown>(name: string): Promise<T> {
    return parseJson<T>(await this.readFile(name), `${this.what}: ${name}`);
  }

  private err(code: "NOT_FOUND" | "MALFORMED" | "CORRUPT_ARCHIVE", msg: string): TcraneError {
    return new TcraneError(code, msg, { what: this.what });
  }
}

/** Options of TarWriter. */
export interface TarWriterOptions {
  compress?: "gzip" | "none";
}

/**
 * A tar being written: entries are appended one at a time (calls are serialized internally, so
 * concurrent pushes are safe); the file appears at `target` only at commit (temp + rename).
 * `target` `-` writes to stdout (no rename; abort cannot take back what was written).
 */
export class TarWriter {
  private readonly pack = tar.pack();
  private readonly tmp: string | undefined;
  private readonly done: Promise<void>;
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown;
  private closed = false;
  private file: WriteStream | undefined;

  constructor(
    readonly target: string,
    opts: TarWriterOptions = {},
  ) {
    const toStdout = target === "-";
    this.tmp = toStdout ? undefined : tempPathBeside(target);
    const out: Writable = toStdout ? process.stdout : (createWriteStream(this.tmp!, { flags: "wx", highWaterMark: 1 << 20 }) as WriteStream);
    this.file = toStdout ? undefined : (out as WriteStream);
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [this.pack as unknown as NodeJS.ReadableStream];
    if (opts.compress === "gzip") stages.push(gzipStream(1));
    this.done = (pipeline as (...s: unknown[]) => Promise<void>)(...stages, out, { end: !toStdout });
    this.done.catch((err) => {
      this.failed ??= err;
    });
  }

  /** Append a file entry holding exactly `size` bytes of `data`. */
  add(name: string, size: number, data: Buffer | Readable): Promise<void> {
    const run = async () => {
      if (this.failed) throw this.error();
      if (this.closed) throw new TcraneError("FAILED", "archive already finished", { what: this.target });
      const header = { name, size, mode: 0o644, mtime: new Date(0), type: "file" as const };
      if (Buffer.isBuffer(data)) {
        await new Promise<void>((resolve, reject) => this.pack.entry(header, data, (e) => (e ? reject(e) : resolve())));
        return;
      }
      let settle!: (e?: Error | null) => void;
      const entryDone = new Promise<void>((resolve, reject) => {
        settle = (e) => (e ? reject(e) : resolve());
      });
      entryDone.catch(() => undefined);
      const entry = this.pack.entry(header, (e) => settle(e));
      try {
        await pipeline(data, entry as unknown as NodeJS.WritableStream);
        await entryDone;
      } catch (err) {
        this.failed ??= err;
        throw err;
      }
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Finish the tar and move it into place. */
  async commit(): Promise<void> {
    await this.chain;
    if (this.failed) throw this.error();
    this.closed = true;
    this.pack.finalize();
    try {
      await this.done;
      if (this.tmp) await rename(this.tmp, this.target);
    } catch (err) {
      this.failed ??= err;
      await this.abort();
      throw this.error();
    }
  }

  /** The first failure as a TcraneError naming the target (not the temp file). */
  private error(): TcraneError {
    return namedForTarget(this.failed, this.tmp, this.target);
  }

  /** Throw the partial file away. */
  async abort(): Promise<void> {
    this.closed = true;
    this.failed ??= new TcraneError("ABORTED", "aborted");
    this.pack.destroy();
    await this.done.catch(() => undefined);
    // the file may still be opening: wait until it is closed, or it would appear after the rm
    const f = this.file;
    if (f && !f.closed) await new Promise<void>((r) => f.once("close", () => r()));
    if (this.tmp) await rm(this.tmp, { force: true });
  }
}
