/**
 * oci-archive: an OCI image layout inside a tar (skopeo's `oci-archive:`), read through the tar
 * index (member offsets computed once; gzip/zstd/stdin input is first made plain in a temp file)
 * and written as a tar stream to a temp file beside the target, renamed at commit.
 * With `dockerManifest` the sink also writes Docker's manifest.json (Docker 25 style: Config/Layers
 * as `blobs/sha256/<hex>`) so `docker load` / `podman load` accept the archive.
 */
import type { Readable } from "node:stream";
import { TcraneError } from "../errors.js";
import { OCI_INDEX, isImageManifest, isIndex, isManifest } from "../image/mediatypes.js";
import { DEFAULT_PLATFORM, isAttestation, platformMatches } from "../image/platform.js";
import type { Descriptor, ImageIndex, ImageManifest } from "../image/types.js";
import { familiarName, parseReference } from "../reference/index.js";
import { parseJson, plainArchive, readAll, type PlainFile } from "./files.js";
import {
  CONTAINERD_NAME,
  OciLayoutReader,
  RootTracker,
  blobPath,
  indexEntry,
  mergeIndex,
  type LayoutStore,
} from "./oci-layout.js";
import { TarIndex } from "./tar-index.js";
import { createArchiveWriter, type ArchiveWriter } from "./tar-positional.js";
import type { CallOptions, Committer, Sink } from "./types.js";

/** An indexed tar as a LayoutStore. */
export class TarStore implements LayoutStore {
  constructor(readonly tar: TarIndex) {}
  get what(): string {
    return this.tar.what;
  }
  async readIndex(): Promise<Buffer> {
    if (!this.tar.get("index.json")) {
      const hint = this.tar.get("manifest.json") ? " (a docker-save archive? use docker-archive:)" : "";
      throw new TcraneError("CORRUPT_ARCHIVE", `not an OCI archive: no index.json${hint}`, { what: this.tar.what });
    }
    return this.tar.readFile("index.json", 64 << 20);
  }
  async openBlob(digest: string): Promise<Readable> {
    const e = this.tar.get(blobPath(digest));
    if (!e) throw new TcraneError("NOT_FOUND", `blob ${digest} is not in the archive`, { what: this.tar.what });
    return this.tar.open(blobPath(digest));
  }
  async hasBlob(digest: string): Promise<boolean> {
    try {
      return this.tar.has(blobPath(digest));
    } catch {
      return false;
    }
  }
}

/** A readable oci-archive; close() removes any temp copy. */
export class OciArchiveSource extends OciLayoutReader {
  constructor(
    tar: TarIndex,
    private readonly plain: PlainFile,
    description: string,
  ) {
    super(new TarStore(tar), description);
  }
  override async close(): Promise<void> {
    await this.plain.cleanup();
  }
}

/**
 * Open an oci-archive (plain, gzip or zstd; `-` = stdin, spooled to a temp file). The tar is indexed
 * once; index.json is checked now (CORRUPT_ARCHIVE / MALFORMED naming the path).
 */
export async function openOciArchiveSource(path: string, opts: CallOptions = {}): Promise<OciArchiveSource> {
  const plain = await plainArchive(path, opts.signal);
  try {
    const tar = await TarIndex.build(plain.path, path === "-" ? "stdin" : path);
    const src = new OciArchiveSource(tar, plain, `oci-archive:${path}`);
    await src.index();
    return src;
  } catch (err) {
    await plain.cleanup();
    throw err;
  }
}

/** Options of createOciArchiveSink. */
export interface OciArchiveSinkOptions {
  /** gzip the whole archive (default none). */
  compress?: "gzip" | "none";
  /**
   * Also write Docker's manifest.json for tagged single-platform images, and for each tagged index
   * its linux/amd64 child (when all that child's blobs are in the archive) under the index's tag.
   */
  dockerManifest?: boolean;
}

/** Writes an oci-archive: `oci-layout`, blobs as pushed, then index.json (and manifest.json) at commit. */
export class OciArchiveSink implements Sink, Committer {
  readonly description: string;
  private readonly writer: ArchiveWriter;
  private readonly written = new Set<string>();
  private readonly manifests = new Map<string, ImageManifest>();
  private readonly indexes = new Map<string, ImageIndex>();
  private readonly entries: Descriptor[] = [];
  private readonly roots = new RootTracker();
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    readonly path: string,
    private readonly opts: OciArchiveSinkOptions = {},
  ) {
    this.description = `oci-archive:${path}`;
    this.writer = createArchiveWriter(path, { compress: opts.compress });
  }

  /** Start the archive with its `oci-layout` member. */
  async init(): Promise<void> {
    await this.writer.add("oci-layout", 30, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  }

  /** True when this run already wrote the blob. */
  async exists(desc: Descriptor, _opts?: CallOptions): Promise<boolean> {
    return this.written.has(desc.digest);
  }

  /** Append `blobs/<alg>/<hex>` (manifests are kept in memory too, for manifest.json). */
  async push(desc: Descriptor, stream: Readable, _opts?: CallOptions): Promise<void> {
    const name = blobPath(desc.digest);
    if (this.written.has(desc.digest)) {
      stream.resume();
      await this.inflight.get(desc.digest);
      return;
    }
    this.written.add(desc.digest);
    const p = this.store(desc, name, stream);
    this.inflight.set(desc.digest, p);
    try {
      await p;
    } finally {
      this.inflight.delete(desc.digest);
    }
  }

  private async store(desc: Descriptor, name: string, stream: Readable): Promise<void> {
    try {
      if (isManifest(desc.mediaType)) {
        const bytes = await readAll(stream, 32 << 20, desc.digest);
        this.roots.add(desc, bytes);
        if (isImageManifest(desc.mediaType)) this.manifests.set(desc.digest, parseJson<ImageManifest>(bytes, desc.digest));
        else if (isIndex(desc.mediaType)) this.indexes.set(desc.digest, parseJson<ImageIndex>(bytes, desc.digest));
        await this.writer.add(name, bytes.length, bytes);
      } else {
        await this.writer.add(name, desc.size, stream);
      }
    } catch (err) {
      this.written.delete(desc.digest);
      throw err;
    }
  }

  /** Record an index.json entry for `desc` named `ref` ("" = unnamed). */
  async tag(desc: Descriptor, ref: string, _opts?: CallOptions): Promise<void> {
    const merged = mergeIndex({ schemaVersion: 2, manifests: this.entries }, [indexEntry(desc, ref)]);
    this.entries.splice(0, this.entries.length, ...merged.manifests);
  }

  /**
   * The Docker manifest.json entries (one per image): tagged single-platform images, and the
   * linux/amd64 child of each tagged index (under the index's tag) when all its blobs are here.
   */
  dockerManifest(): Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> {
    const byDigest = new Map<string, { Config: string; RepoTags: string[] | null; Layers: string[] }>();
    for (const e of this.entries) {
      const digest = this.manifests.has(e.digest) ? e.digest : this.amd64Child(e.digest);
      const m = digest ? this.manifests.get(digest) : undefined;
      if (!digest || !m) continue;
      let item = byDigest.get(digest);
      if (!item) {
        item = { Config: blobPath(m.config.digest), RepoTags: null, Layers: m.layers.map((l) => blobPath(l.digest)) };
        byDigest.set(digest, item);
      }
      const tag = repoTag(e);
      if (tag && !(item.RepoTags ?? []).includes(tag)) item.RepoTags = [...(item.RepoTags ?? []), tag];
    }
    return [...byDigest.values()];
  }

  /** The digest of an index's linux/amd64 image whose manifest, config and layers this archive holds. */
  private amd64Child(indexDigest: string): string | undefined {
    const idx = this.indexes.get(indexDigest);
    for (const d of idx?.manifests ?? []) {
      if (!isImageManifest(d.mediaType) || isAttestation(d) || !platformMatches(DEFAULT_PLATFORM, d.platform)) continue;
      const m = this.manifests.get(d.digest);
      if (m && [m.config, ...m.layers].every((b) => this.written.has(b.digest))) return d.digest;
    }
    return undefined;
  }

  /** Write index.json (untagged pushed roots as unnamed entries) and manifest.json, finish, rename. */
  async commit(_opts?: CallOptions): Promise<void> {
    this.entries.push(...this.roots.untagged(this.entries));
    const idx: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.entries };
    const ib = Buffer.from(JSON.stringify(idx));
    await this.writer.add("index.json", ib.length, ib);
    if (this.opts.dockerManifest) {
      const mb = Buffer.from(JSON.stringify(this.dockerManifest()));
      await this.writer.add("manifest.json", mb.length, mb);
    }
    await this.writer.commit();
  }

  /** Remove the partial archive; an existing file at the target stays untouched. */
  async abort(): Promise<void> {
    await this.writer.abort();
  }
}

/**
 * A Docker RepoTag for an index.json entry: its containerd name in familiar form, else its ref.name
 * when that looks like an image name (has a `/` or `:`; a bare ref.name such as `v1` is just a tag).
 */
function repoTag(e: Descriptor): string | undefined {
  const refName = e.annotations?.["org.opencontainers.image.ref.name"];
  const named = refName && /[/:]/.test(refName) ? refName : undefined;
  for (const s of [e.annotations?.[CONTAINERD_NAME], named]) {
    if (!s) continue;
    try {
      const r = parseReference(s);
      if (r.digest) continue;
      return familiarName(r);
    } catch {
      // not an image name (e.g. a bare tag): try the next one
    }
  }
  return undefined;
}

/** Create an oci-archive sink writing `path` (`-` = stdout), replacing it at commit. */
export async function createOciArchiveSink(path: string, opts: OciArchiveSinkOptions = {}): Promise<OciArchiveSink> {
  const s = new OciArchiveSink(path, opts);
  await s.init();
  return s;
}
