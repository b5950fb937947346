/**
 * Blob upload sessions. Each session streams its data to a temp file named by its uuid in the
 * store's upload directory, hashing (sha256) as bytes arrive, so a finished upload is verified
 * without re-reading it; a sha512 digest is verified by re-reading the file through a
 * VerifyingStream. Data never sits in memory. A chunk that fails midway is rolled back (file
 * truncated, hash restored), so the session stays usable. Sessions idle for longer than
 * `maxIdleMs` (default 1 hour) are dropped, with their files, when the next session starts.
 */
import { createHash, randomUUID, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseDigest, VerifyingStream } from "../image/digest.js";
import { E, HttpError } from "./errors.js";

/** One upload in progress. */
export interface UploadSession {
  readonly id: string;
  readonly repo: string;
  readonly path: string;
  /** Bytes received so far. */
  size: number;
  hash: Hash;
  busy: boolean;
  /** Last time a request used the session (ms since the epoch). */
  touched: number;
}

/** The `Range` header value of an upload: `0-<last byte>` (`0-0` when empty, like distribution). */
export function rangeHeader(s: UploadSession): string {
  return `0-${Math.max(0, s.size - 1)}`;
}

/** Stream `body` into `path` (created or appended) while hashing into `hash`; resolves to the byte count. */
async function appendTo(body: Readable, path: string, hash: Hash, limit?: number): Promise<number> {
  let n = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      if (limit !== undefined && n > limit) return cb(E.uploadInvalid("more data than Content-Range announced"));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(body, counter, createWriteStream(path, { flags: "a" }));
  return n;
}

/** The upload sessions of one server. */
export class Uploads {
  private readonly sessions = new Map<string, UploadSession>();

  constructor(
    private readonly dir: () => Promise<string>,
    private readonly maxIdleMs = 3600_000,
  ) {}

  /** Start a session for `repo` (an empty temp file); drops sessions idle for too long. */
  async create(repo: string): Promise<UploadSession> {
    const now = Date.now();
    for (const old of this.sessions.values()) if (!old.busy && now - old.touched > this.maxIdleMs) await this.cancel(old);
    const id = randomUUID();
    const path = join(await this.dir(), id);
    await writeFile(path, "");
    const s: UploadSession = { id, repo, path, size: 0, hash: createHash("sha256"), busy: false, touched: now };
    this.sessions.set(id, s);
    return s;
  }

  /** The session `id` of `repo`, or 404 BLOB_UPLOAD_UNKNOWN; `forWrite` refuses (416) a session another request is writing. */
  get(repo: string, id: string, forWrite = false): UploadSession {
    const s = this.sessions.get(id);
    if (!s || s.repo !== repo) throw E.uploadUnknown(id);
    if (forWrite && s.busy) throw E.uploadInvalid("another request is writing to this upload", 416, { Range: rangeHeader(s) });
    s.touched = Date.now();
    return s;
  }

  /**
   * Append a request body. With `range` (from Content-Range) the chunk must start at the current
   * size (else 416) and have exactly that length. On failure the chunk is rolled back.
   */
  async append(s: UploadSession, body: Readable, range?: { start: number; end: number }): Promise<void> {
    let limit: number | undefined;
    if (range) {
      if (range.start !== s.size || range.end < range.start) {
        throw E.uploadInvalid(`chunk ${range.start}-${range.end} is out of order: ${s.size} bytes received`, 416, { Range: rangeHeader(s) });
      }
      limit = range.end - range.start + 1;
    }
    s.busy = true;
    const saved = s.hash.copy();
    try {
      const n = await appendTo(body, s.path, s.hash, limit);
      if (limit !== undefined && n !== limit) throw E.uploadInvalid(`chunk of ${n} bytes, Content-Range announced ${limit}`, 416, { Range: rangeHeader(s) });
      s.size += n;
    } catch (err) {
      s.hash = saved;
      await truncate(s.path, s.size).catch(() => undefined);
      throw err instanceof HttpError ? err : E.uploadInvalid(`upload interrupted: ${(err as Error).message}`);
    } finally {
      s.busy = false;
    }
  }

  /**
   * Finish: check the data against `digest`. On a mismatch the session and its file are removed
   * and 400 DIGEST_INVALID is thrown, so nothing is stored. On success the session ends and the
   * caller owns the file at `s.path`.
   */
  async finish(s: UploadSession, digest: string): Promise<void> {
    this.sessions.delete(s.id);
    try {
      const { algorithm } = parseDigest(digest);
      let actual: string;
      if (algorithm === "sha256") {
        actual = `sha256:${s.hash.digest("hex")}`;
      } else {
        const v = new VerifyingStream({ algorithm });
        await pipeline(createReadStream(s.path), v, new Writable({ write: (_c, _e, cb) => cb() }));
        actual = v.digest!;
      }
      if (actual !== digest) throw E.digestInvalid(`expected ${digest}, got ${actual}`, { expected: digest, actual });
    } catch (err) {
      await rm(s.path, { force: true });
      throw err;
    }
  }

  /**
   * A monolithic upload in one request: stream `body` through a VerifyingStream for `digest` into a
   * fresh temp file. Returns the path and size; on a mismatch the file is removed and 400
   * DIGEST_INVALID is thrown.
   */
  async monolithic(body: Readable, digest: string): Promise<{ path: string; size: number }> {
    const path = join(await this.dir(), randomUUID());
    const v = new VerifyingStream({ digest });
    try {
      await pipeline(body, v, createWriteStream(path));
    } catch (err) {
      await rm(path, { force: true });
      if (v.digest && v.digest !== digest) throw E.digestInvalid(`expected ${digest}, got ${v.digest}`, { expected: digest, actual: v.digest });
      throw E.uploadInvalid(`upload interrupted: ${(err as Error).message}`);
    }
    return { path, size: v.bytes };
  }

  /** Cancel a session and remove its data. */
  async cancel(s: UploadSession): Promise<void> {
    this.sessions.delete(s.id);
    await rm(s.path, { force: true });
  }

  /** Cancel every session (server shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => this.cancel(s)));
  }
}
