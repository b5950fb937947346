/**
 * OCI image layout: a reader over any "layout store" (a directory here, a tar in oci-archive.ts)
 * and the directory sink. Names are `org.opencontainers.image.ref.name` annotations; index.json
 * entries may point at nested indexes, which name resolution searches too.
 *
 * Writing a directory: blobs go to a temp name inside `blobs/<alg>/` and are renamed to
 * `blobs/<alg>/<hex>`; tags are applied at commit to index.json under the lock file
 * `index.json.lock` (O_EXCL, wait/retry) and index.json itself is replaced atomically, so two runs
 * writing one layout at once both keep their entries.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError, toTcraneError } from "../errors.js";
import { digestOf, isDigest, parseDigest } from "../image/digest.js";
import { OCI_INDEX, isIndex, isManifest } from "../image/mediatypes.js";
import type { Descriptor, ImageIndex } from "../image/types.js";
import { parseReference } from "../reference/index.js";
import { FILE_READ_BYTES, atomicWriteFile, parseJson, readAll, withLock, tempPathBeside } from "./files.js";
import type { CallOptions, Committer, Lister, Sink, Source } from "./types.js";

/** The annotation naming an index.json entry. */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** containerd's / Docker's full-name annotation. */
export const CONTAINERD_NAME = "io.containerd.image.name";

/** Where a layout's files live: a directory or an indexed tar. */
export interface LayoutStore {
  /** The user's name of the place (for errors). */
  readonly what: string;
  /** Raw index.json bytes (NOT_FOUND/CORRUPT when absent). */
  readIndex(): Promise<Buffer>;
  /** Stream a blob; NOT_FOUND when absent. */
  openBlob(digest: string): Promise<Readable>;
  /** True when the blob is present. */
  hasBlob(digest: string): Promise<boolean>;
}

/** The path of a blob inside a layout, `blobs/<alg>/<hex>` (the digest is validated). */
export function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** Parse and minimally check index.json. */
export function parseIndex(bytes: Buffer, what: string): ImageIndex {
  const idx = parseJson<ImageIndex>(bytes, what);
  if (!idx || typeof idx !== "object" || !Array.isArray(idx.manifests)) {
    throw new TcraneError("MALFORMED", "index.json has no manifests array", { what });
  }
  for (const d of idx.manifests) {
    if (!d || typeof d.digest !== "string" || typeof d.mediaType !== "string" || typeof d.size !== "number") {
      throw new TcraneError("MALFORMED", "index.json holds an invalid descriptor", { what });
    }
  }
  return idx;
}

function normalizedName(s: string | undefined): string | undefined {
  if (!s) return undefined;
  try {
    return parseReference(s).name;
  } catch {
    return undefined;
  }
}

/** The names of an index.json entry: its containerd full name, then its ref.name. */
export function entryNames(d: Descriptor): string[] {
  const names: string[] = [];
  const full = d.annotations?.[CONTAINERD_NAME];
  const ref = d.annotations?.[REF_NAME];
  if (full) names.push(full);
  if (ref && ref !== full) names.push(ref);
  return names;
}

/** A read-only OCI layout (Source + Lister) over a store. */
export class OciLayoutReader implements Source, Lister {
  constructor(
    protected readonly store: LayoutStore,
    readonly description: string,
  ) {}

  /** The top-level index.json entries. */
  async index(): Promise<ImageIndex> {
    return parseIndex(await this.store.readIndex(), `${this.store.what}: index.json`);
  }

  /**
   * Resolve: undefined ⇒ the single entry (several ⇒ USAGE listing them); `@N` ⇒ by position;
   * a digest ⇒ that manifest/index; else a ref.name (exact, then by normalized image name against
   * ref.name and io.containerd.image.name), searched in index.json then in nested indexes.
   */
  async resolve(ref?: string, _opts?: CallOptions): Promise<Descriptor> {
    const top = (await this.index()).manifests;
    const what = ref ? `${this.description}:${ref}` : this.description;
    if (ref === undefined || ref === "") {
      if (top.length === 1) return top[0]!;
      if (top.length === 0) throw new TcraneError("NOT_FOUND", "the layout holds no image", { what });
      const names = top.map((d, i) => entryNames(d)[0] ?? `@${i} (${d.digest})`);
      throw new TcraneError("USAGE", `the layout holds ${top.length} images, name one of: ${names.join(", ")}`, { what });
    }
    const pos = /^@(\d+)$/.exec(ref);
    if (pos) {
      const d = top[Number(pos[1])];
      if (!d) throw new TcraneError("NOT_FOUND", `no image at position ${pos[1]} (${top.length} images)`, { what });
      return d;
    }
    const all = await this.walk(top);
    if (isDigest(ref)) {
      const d = all.find((x) => x.digest === ref);
      if (d) return d;
      if (await this.store.hasBlob(ref)) {
        const bytes = await readAll(await this.store.openBlob(ref), 32 << 20, ref);
        const m = parseJson<{ mediaType?: string }>(bytes, `${this.store.what}: ${blobPath(ref)}`);
        if (m && typeof m.mediaType === "string") return { mediaType: m.mediaType, digest: ref, size: bytes.length };
      }
      throw new TcraneError("NOT_FOUND", "no manifest with this digest in the layout", { what });
    }
    const exact = all.filter((d) => d.annotations?.[REF_NAME] === ref);
    if (exact.length) return exact[exact.length - 1]!;
    const want = normalizedName(ref);
    if (want) {
      const loose = all.filter(
        (d) => normalizedName(d.annotations?.[REF_NAME]) === want || normalizedName(d.annotations?.[CONTAINERD_NAME]) === want,
      );
      if (loose.length) return loose[loose.length - 1]!;
    }
    const names = all.flatMap(entryNames);
    throw new TcraneError("NOT_FOUND", `no image named "${ref}" in the layout${names.length ? ` (it has: ${names.join(", ")})` : ""}`, {
      what: this.description,
    });
  }

  /** Every descriptor reachable through index.json and nested indexes (breadth-first). */
  private async walk(top: Descriptor[]): Promise<Descriptor[]> {
    const out: Descriptor[] = [...top];
    const seen = new Set<string>();
    for (let i = 0; i < out.length && i < 10_000; i++) {
      const d = out[i]!;
      if (!isIndex(d.mediaType) || seen.has(d.digest) || !(await this.store.hasBlob(d.digest))) continue;
      seen.add(d.digest);
      const bytes = await readAll(await this.store.openBlob(d.digest), 32 << 20, d.digest);
      out.push(...parseIndex(bytes, `${this.store.what}: ${blobPath(d.digest)}`).manifests);
    }
    return out;
  }

  /** Stream a blob or manifest (NOT_FOUND when absent). */
  async fetch(desc: Descriptor, _opts?: CallOptions): Promise<Readable> {
    return this.store.openBlob(desc.digest);
  }

  /** True when the blob file is present. */
  async exists(desc: Descriptor, _opts?: CallOptions): Promise<boolean> {
    return this.store.hasBlob(desc.digest);
  }

  /** The top-level entries with their names (containerd full name first, then ref.name). */
  async list(_opts?: CallOptions): Promise<Array<{ descriptor: Descriptor; names: string[] }>> {
    return (await this.index()).manifests.map((descriptor) => ({ descriptor, names: entryNames(descriptor) }));
  }

  /** Nothing to release for a directory. */
  async close(): Promise<void> {}
}

/** A layout directory as a LayoutStore. */
export class DirStore implements LayoutStore {
  constructor(readonly dir: string) {}
  get what(): string {
    return this.dir;
  }
  async readIndex(): Promise<Buffer> {
    const p = join(this.dir, "index.json");
    try {
      return await readAll(createReadStream(p), 64 << 20, p);
    } catch (err) {
      const t = toTcraneError(err);
      if (t.code === "NOT_FOUND") throw new TcraneError("NOT_FOUND", "not an OCI layout (no index.json)", { what: this.dir, cause: err });
      throw t;
    }
  }
  async openBlob(digest: string): Promise<Readable> {
    const p = join(this.dir, blobPath(digest));
    try {
      const st = await stat(p);
      if (!st.isFile()) throw new TcraneError("MALFORMED", "is not a regular file", { what: p });
    } catch (err) {
      if (err instanceof TcraneError) throw err;
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new TcraneError("NOT_FOUND", `blob ${digest} is not in the layout`, { what: this.dir, cause: err });
      }
      throw toTcraneError(err);
    }
    return createReadStream(p, { highWaterMark: FILE_READ_BYTES });
  }
  async hasBlob(digest: string): Promise<boolean> {
    if (!isDigest(digest)) return false;
    return stat(join(this.dir, blobPath(digest))).then(
      (s) => s.isFile(),
      () => false,
    );
  }
}

/** Open an OCI layout directory for reading. NOT_FOUND when `dir` holds no index.json. */
export async function openOciLayoutSource(dir: string): Promise<OciLayoutReader> {
  const st = await stat(dir).catch((err) => {
    throw toTcraneError(err);
  });
  if (!st.isDirectory()) throw new TcraneError("MALFORMED", "is not a directory (an OCI layout is a directory)", { what: dir });
  const r = new OciLayoutReader(new DirStore(dir), `oci:${dir}`);
  await r.index();
  return r;
}

/** The index.json entry `tag(desc, ref)` produces: the descriptor plus ref.name (when `ref` is given). */
export function indexEntry(desc: Descriptor, ref: string): Descriptor {
  const { data: _data, ...rest } = desc;
  if (!ref) return { ...rest };
  return { ...rest, annotations: { ...desc.annotations, [REF_NAME]: ref } };
}

/** Merge tag entries into an index: same ref.name replaced; unnamed entries deduplicated by digest. */
export function mergeIndex(idx: ImageIndex, entries: Descriptor[]): ImageIndex {
  let manifests = [...idx.manifests];
  for (const e of entries) {
    const name = e.annotations?.[REF_NAME];
    if (name !== undefined) manifests = manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
    else if (manifests.some((m) => m.digest === e.digest && m.annotations?.[REF_NAME] === undefined)) continue;
    manifests.push(e);
  }
  return { ...idx, manifests };
}

/**
 * Remembers the manifests a sink stored and the children of the indexes among them, so commit can
 * list every root that was pushed but never tagged (as an unnamed index.json entry, like crane).
 */
export class RootTracker {
  private readonly pushed = new Map<string, Descriptor>();
  private readonly children = new Set<string>();

  /** Note a pushed manifest or index (its bytes give an index's children). */
  add(desc: Descriptor, bytes: Buffer): void {
    if (!isManifest(desc.mediaType)) return;
    this.pushed.set(desc.digest, { mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    if (!isIndex(desc.mediaType)) return;
    try {
      const idx = JSON.parse(bytes.toString("utf8")) as ImageIndex;
      for (const m of idx.manifests ?? []) if (m && typeof m.digest === "string") this.children.add(m.digest);
    } catch {
      // not our job to validate: the engine already parsed it
    }
  }

  /** Forget everything (abort). */
  clear(): void {
    this.pushed.clear();
    this.children.clear();
  }

  /** Pushed roots (not children of a pushed index) absent from `entries`. */
  untagged(entries: Descriptor[]): Descriptor[] {
    const named = new Set(entries.map((e) => e.digest));
    return [...this.pushed.values()].filter((d) => !this.children.has(d.digest) && !named.has(d.digest));
  }
}

const EMPTY_INDEX = (): ImageIndex => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
const LAYOUT_FILE = `{\n    "imageLayoutVersion": "1.0.0"\n}`;

/** Writes into an OCI layout directory (appending); also readable (Source). */
export class OciLayoutSink extends OciLayoutReader implements Sink, Committer {
  private readonly pending: Descriptor[] = [];
  private readonly temps = new Set<string>();
  private readonly roots = new RootTracker();
  /** Blobs this sink stored (paths under the layout), and whether init made the layout / its directory. */
  private readonly stored = new Set<string>();
  private createdLayout = false;
  /** The outermost directory init created on the way to `dir` (`dir` itself or a parent), if any. */
  private createdFrom: string | undefined;

  constructor(readonly dir: string) {
    super(new DirStore(dir), `oci:${dir}`);
  }

  /** Create the directory, `oci-layout` and an empty `index.json` when missing. */
  async init(): Promise<void> {
    try {
      const first = await mkdir(join(this.dir, "blobs"), { recursive: true });
      if (first !== undefined && resolve(first) !== resolve(this.dir, "blobs")) this.createdFrom = first;
    } catch (err) {
      const t = toTcraneError(err);
      throw new TcraneError(t.code, t.message, { what: this.dir, cause: err });
    }
    const st = await stat(join(this.dir, "oci-layout")).catch(() => undefined);
    if (!st) {
      await atomicWriteFile(join(this.dir, "oci-layout"), LAYOUT_FILE);
      this.createdLayout = true;
    }
    await withLock(join(this.dir, "index.json.lock"), async () => {
      const has = await stat(join(this.dir, "index.json")).catch(() => undefined);
      if (!has) await atomicWriteFile(join(this.dir, "index.json"), JSON.stringify(EMPTY_INDEX(), null, 3));
    });
  }

  /** Store a blob/manifest: temp name in blobs/<alg>/, byte count checked, then rename. */
  async push(desc: Descriptor, stream: Readable, opts?: CallOptions): Promise<void> {
    if (isManifest(desc.mediaType)) {
      const bytes = await readAll(stream, 32 << 20, desc.digest);
      await this.write(desc, Readable.from([bytes]), opts);
      this.roots.add(desc, bytes);
      return;
    }
    await this.write(desc, stream, opts);
  }

  private async write(desc: Descriptor, stream: Readable, opts?: CallOptions): Promise<void> {
    const target = join(this.dir, blobPath(desc.digest));
    await mkdir(join(target, ".."), { recursive: true });
    const tmp = tempPathBeside(target);
    this.temps.add(tmp);
    let n = 0;
    stream.on("data", (chunk: Buffer) => (n += chunk.length)); // counted as it goes by: no extra stream stage
    try {
      await pipeline(stream, createWriteStream(tmp, { flags: "wx", highWaterMark: 1 << 20 }), { signal: opts?.signal });
      if (n !== desc.size) {
        throw new TcraneError("SIZE_MISMATCH", `size mismatch: expected ${desc.size} bytes, got ${n}`, { what: desc.digest });
      }
      await rename(tmp, target);
      this.stored.add(blobPath(desc.digest));
    } catch (err) {
      await rm(tmp, { force: true });
      throw toTcraneError(err);
    } finally {
      this.temps.delete(tmp);
    }
  }

  /** Record that `ref` (a ref.name; "" for an unnamed entry) points at `desc`; applied at commit. */
  async tag(desc: Descriptor, ref: string, _opts?: CallOptions): Promise<void> {
    this.pending.push(indexEntry(desc, ref));
  }

  /**
   * Apply the recorded tags to index.json under the lock, atomically; roots pushed by this run but
   * never tagged are added as unnamed entries (deduplicated by digest).
   */
  async commit(_opts?: CallOptions): Promise<void> {
    const entries = this.pending.splice(0);
    entries.push(...this.roots.untagged(entries));
    if (!entries.length) return;
    await withLock(join(this.dir, "index.json.lock"), async () => {
      let idx: ImageIndex;
      try {
        idx = await this.index();
      } catch (err) {
        if (!(err instanceof TcraneError && err.code === "NOT_FOUND")) throw err;
        idx = EMPTY_INDEX();
      }
      await atomicWriteFile(join(this.dir, "index.json"), JSON.stringify(mergeIndex(idx, entries), null, 3));
    });
  }

  /**
   * Forget pending tags and remove in-flight temp files. A layout this sink created is removed
   * whole (with the directories created for it) while index.json lists nothing and the blobs
   * are all this sink's: a failed copy into a new layout leaves nothing behind. In a layout that was
   * there before, or one another writer has used meanwhile, stored blobs stay (harmless).
   */
  async abort(): Promise<void> {
    this.pending.length = 0;
    this.roots.clear();
    await Promise.all([...this.temps].map((t) => rm(t, { force: true })));
    if (!this.createdLayout) return;
    const removed = await withLock(join(this.dir, "index.json.lock"), async () => {
      const idx = await this.index().catch(() => undefined);
      if (!idx || idx.manifests.length > 0) return false;
      for (const alg of await readdir(join(this.dir, "blobs")).catch(() => [] as string[])) {
        for (const name of await readdir(join(this.dir, "blobs", alg))) {
          if (!this.stored.has(`blobs/${alg}/${name}`)) return false; // someone else's blob or temp file
        }
      }
      await rm(join(this.dir, "blobs"), { recursive: true, force: true });
      await rm(join(this.dir, "index.json"), { force: true });
      await rm(join(this.dir, "oci-layout"), { force: true });
      return true;
    }).catch(() => false);
    if (!removed || this.createdFrom === undefined) return;
    // the directories init created, innermost first; rmdir leaves any that is not empty
    for (let d = resolve(this.dir); ; d = dirname(d)) {
      if (!(await rmdir(d).then(() => true, () => false))) break;
      if (d === resolve(this.createdFrom) || d === dirname(d)) break;
    }
  }
}

/** Open (creating when needed) an OCI layout directory for writing; it is appended to. */
export async function createOciLayoutSink(dir: string): Promise<OciLayoutSink> {
  const s = new OciLayoutSink(dir);
  await s.init();
  return s;
}

/** The digest of canonical JSON bytes, handy for manifests written by hand. */
export function jsonDescriptor(mediaType: string, value: unknown): { desc: Descriptor; bytes: Buffer } {
  const bytes = Buffer.from(JSON.stringify(value));
  return { desc: { mediaType, digest: digestOf(bytes), size: bytes.length }, bytes };
}
