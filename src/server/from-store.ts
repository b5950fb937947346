/**
 * The read-only store of `--from PATH`: serves an existing bundle without unpacking it. A directory
 * is read as an OCI image layout by this file; an archive (oci-archive or docker-archive tar) is
 * read through the archive sources of src/transports/. At open, every named image's manifests are
 * read (they are small and kept in memory) to learn which blobs each repository holds; blobs are
 * streamed from the bundle on demand. Every write answers 405 UNSUPPORTED.
 *
 * Names: `io.containerd.image.name`, else `org.opencontainers.image.ref.name` (a RepoTag for docker
 * archives). A registry host is dropped (`docker.io/library/busybox:1` is served as `busybox:1`,
 * `ghcr.io/o/app:v1` as `o/app:v1`); a bare tag (skopeo's `oci:DIR:TAG`) is served in a repository
 * named after the bundle file or directory (lower-cased, e.g. `bundle:TAG`).
 */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { digestOf, parseDigest } from "../image/digest.js";
import type { Descriptor, ImageIndex } from "../image/types.js";
import { E } from "./errors.js";
import { childrenOf, isManifestType } from "./manifest-check.js";
import { isValidName, splitImageName } from "./names.js";
import type { BlobHandle, RegistryStore, StoredManifest } from "./storage.js";

/** What a bundle must offer: the shape of the transports' Source & Lister. */
export interface BundleSource {
  list(): Promise<Array<{ descriptor: Descriptor; names: string[] }>>;
  fetch(desc: Descriptor): Promise<Readable>;
  /** Optional fast path for `Range` requests. */
  fetchRange?(desc: Descriptor, start: number, end: number): Promise<Readable>;
  close?(): Promise<void>;
}

const MAX_MANIFEST = 16 << 20;

/** An OCI layout directory as a BundleSource (names from io.containerd.image.name, else ref.name). */
export async function openLayoutDir(dir: string): Promise<BundleSource> {
  let idx: ImageIndex;
  try {
    idx = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
  } catch (err) {
    throw new Error(`not an OCI image layout (index.json: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const path = (d: Descriptor) => {
    const { algorithm, hex } = parseDigest(d.digest);
    return join(dir, "blobs", algorithm, hex);
  };
  return {
    list: async () =>
      (idx.manifests ?? []).map((d) => {
        const n = d.annotations?.["io.containerd.image.name"] ?? d.annotations?.["org.opencontainers.image.ref.name"];
        return { descriptor: d, names: n ? [n] : [] };
      }),
    fetch: async (d) => createReadStream(path(d)),
    fetchRange: async (d, start, end) => createReadStream(path(d), { start, end }),
  };
}

async function readAll(s: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of s as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      s.destroy();
      throw new Error("manifest too large");
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Skip `start` bytes and stop after `end` (inclusive) of a stream. */
function slice(src: Readable, start: number, end: number): Readable {
  let pos = 0;
  let done = false;
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (done) return cb();
      const a = Math.max(0, start - pos);
      const b = Math.min(chunk.length, end + 1 - pos);
      pos += chunk.length;
      if (b > a) this.push(chunk.subarray(a, b));
      if (pos > end) {
        done = true;
        this.push(null);
        src.unpipe(t);
        src.destroy();
      }
      cb();
    },
  });
  src.on("error", (e) => t.destroy(e));
  return src.pipe(t);
}

interface Repo {
  tags: Map<string, string>;
  manifests: Set<string>;
  blobs: Map<string, Descriptor>;
  referrers: Map<string, Set<string>>;
}

/** The read-only RegistryStore over a bundle. */
export class FromStore implements RegistryStore {
  readonly readOnly = true;
  private readonly manifests = new Map<string, StoredManifest>();
  private readonly repos = new Map<string, Repo>();

  private constructor(private readonly src: BundleSource) {}

  /** Index the bundle: names, and the manifests and blobs reachable from each named image. */
  static async open(src: BundleSource, fallbackRepo: string): Promise<FromStore> {
    const s = new FromStore(src);
    for (const { descriptor, names } of await src.list()) {
      // a full name (containerd's, a RepoTag) wins over a bare ref.name tag of the same entry
      const full = names.filter((n) => /[:/]/.test(n));
      for (const name of full.length > 0 ? full : names) {
        const parsed = /[:/]/.test(name) ? splitImageName(name, true) : splitImageName(`${fallbackRepo}:${name}`, false);
        if (!parsed) continue;
        let r = s.repos.get(parsed.repo);
        if (!r) s.repos.set(parsed.repo, (r = { tags: new Map(), manifests: new Set(), blobs: new Map(), referrers: new Map() }));
        if (await s.walk(r, descriptor)) r.tags.set(parsed.tag, descriptor.digest);
      }
    }
    for (const [name, r] of s.repos) if (r.tags.size === 0) s.repos.delete(name);
    return s;
  }

  private async walk(r: Repo, d: Descriptor): Promise<boolean> {
    if (r.manifests.has(d.digest)) return true;
    let m = this.manifests.get(d.digest);
    if (!m) {
      if (!isManifestType(d.mediaType)) return false;
      let bytes: Buffer;
      try {
        bytes = await readAll(await this.src.fetch(d), MAX_MANIFEST);
      } catch {
        return false; // e.g. an index whose other platforms were not saved
      }
      if (digestOf(bytes, parseDigest(d.digest).algorithm) !== d.digest) return false;
      m = { digest: d.digest, mediaType: d.mediaType, bytes };
      this.manifests.set(d.digest, m);
    }
    r.manifests.add(d.digest);
    const g = childrenOf(m.bytes, m.mediaType);
    for (const b of g.blobs) r.blobs.set(b.digest, b);
    for (const c of g.children) await this.walk(r, c);
    if (g.subject) {
      let set = r.referrers.get(g.subject);
      if (!set) r.referrers.set(g.subject, (set = new Set()));
      set.add(d.digest);
    }
    return true;
  }

  async uploadDir(): Promise<string> {
    throw E.readOnly();
  }
  async listRepos(): Promise<string[]> {
    return [...this.repos.keys()].sort();
  }
  async listTags(repo: string): Promise<string[] | undefined> {
    const r = this.repos.get(repo);
    return r ? [...r.tags.keys()].sort() : undefined;
  }
  async repoExists(repo: string): Promise<boolean> {
    return this.repos.has(repo);
  }
  async getManifest(repo: string, ref: string): Promise<StoredManifest | undefined> {
    const r = this.repos.get(repo);
    const digest = ref.includes(":") ? ref : r?.tags.get(ref);
    return r && digest && r.manifests.has(digest) ? this.manifests.get(digest) : undefined;
  }
  async hasManifest(repo: string, digest: string): Promise<boolean> {
    return this.repos.get(repo)?.manifests.has(digest) ?? false;
  }
  async referrers(repo: string, subject: string): Promise<StoredManifest[]> {
    const ds = this.repos.get(repo)?.referrers.get(subject) ?? new Set<string>();
    return [...ds].map((d) => this.manifests.get(d)!);
  }
  async getBlob(repo: string, digest: string): Promise<BlobHandle | undefined> {
    const d = this.repos.get(repo)?.blobs.get(digest);
    if (!d) return undefined;
    return {
      size: d.size,
      open: async (range) => {
        if (!range) return this.src.fetch(d);
        if (this.src.fetchRange) return this.src.fetchRange(d, range.start, range.end);
        return slice(await this.src.fetch(d), range.start, range.end);
      },
    };
  }
  async putManifest(): Promise<void> {
    throw E.readOnly();
  }
  async deleteManifest(): Promise<boolean> {
    throw E.readOnly();
  }
  async commitBlob(): Promise<void> {
    throw E.readOnly();
  }
  async mountBlob(): Promise<boolean> {
    throw E.readOnly();
  }
  async deleteBlob(): Promise<boolean> {
    throw E.readOnly();
  }
  async close(): Promise<void> {
    await this.src.close?.();
  }
}

/** The repository name used for bare-tag images of a bundle: its file/directory name, cleaned. */
export function fallbackRepoName(path: string): string {
  const base = basename(path.replace(/\/+$/, "")).replace(/\.(tar|tgz|tar\.gz|oci|tar\.zst)$/i, "").toLowerCase();
  const clean = base.replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return isValidName(clean) ? clean : "image";
}

/** True when `path` is a directory. */
export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path)).isDirectory();
}
