/**
 * The in-memory store (the default; for tests and demos). Uploads stream to a temp directory like
 * every store, but a committed blob is then held in memory BY DESIGN: pushing a 10 GiB layer to a
 * memory registry needs 10 GiB of RAM. Use `--dir` for anything large.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { BlobHandle, PutManifestOptions, RegistryStore, StoredManifest } from "./storage.js";

interface Repo {
  manifests: Map<string, StoredManifest>;
  tags: Map<string, string>;
  blobs: Set<string>;
  /** subject digest -> referrer manifest digests */
  referrers: Map<string, Set<string>>;
}

/** A RegistryStore keeping everything in memory. */
export class MemoryStore implements RegistryStore {
  readonly readOnly = false;
  private readonly blobs = new Map<string, Buffer>();
  private readonly repos = new Map<string, Repo>();
  /** The upload temp dir, made once: a promise, so concurrent first uploads share one directory. */
  private tmp: Promise<string> | undefined;

  uploadDir(): Promise<string> {
    this.tmp ??= mkdtemp(join(tmpdir(), "tcrane-registry-"));
    return this.tmp;
  }

  private repo(name: string, create: boolean): Repo | undefined {
    let r = this.repos.get(name);
    if (!r && create) {
      r = { manifests: new Map(), tags: new Map(), blobs: new Set(), referrers: new Map() };
      this.repos.set(name, r);
    }
    return r;
  }

  async listRepos(): Promise<string[]> {
    return [...this.repos.keys()].sort();
  }

  async listTags(repo: string): Promise<string[] | undefined> {
    const r = this.repo(repo, false);
    return r ? [...r.tags.keys()].sort() : undefined;
  }

  async repoExists(repo: string): Promise<boolean> {
    return this.repos.has(repo);
  }

  async getManifest(repo: string, ref: string): Promise<StoredManifest | undefined> {
    const r = this.repo(repo, false);
    if (!r) return undefined;
    const digest = ref.includes(":") ? ref : r.tags.get(ref);
    return digest === undefined ? undefined : r.manifests.get(digest);
  }

  async hasManifest(repo: string, digest: string): Promise<boolean> {
    return this.repo(repo, false)?.manifests.has(digest) ?? false;
  }

  async putManifest(repo: string, m: StoredManifest, opts: PutManifestOptions): Promise<void> {
    const r = this.repo(repo, true)!;
    r.manifests.set(m.digest, m);
    if (opts.subject) {
      let s = r.referrers.get(opts.subject);
      if (!s) r.referrers.set(opts.subject, (s = new Set()));
      s.add(m.digest);
    }
    if (opts.tag) r.tags.set(opts.tag, m.digest);
  }

  async deleteManifest(repo: string, ref: string): Promise<boolean> {
    const r = this.repo(repo, false);
    if (!r) return false;
    if (!ref.includes(":")) return r.tags.delete(ref);
    if (!r.manifests.delete(ref)) return false;
    for (const [t, d] of r.tags) if (d === ref) r.tags.delete(t);
    for (const s of r.referrers.values()) s.delete(ref);
    return true;
  }

  async referrers(repo: string, subject: string): Promise<StoredManifest[]> {
    const r = this.repo(repo, false);
    const ds = r?.referrers.get(subject);
    if (!r || !ds) return [];
    return [...ds].map((d) => r.manifests.get(d)).filter((m): m is StoredManifest => m !== undefined);
  }

  async getBlob(repo: string, digest: string): Promise<BlobHandle | undefined> {
    const buf = this.repo(repo, false)?.blobs.has(digest) ? this.blobs.get(digest) : undefined;
    if (!buf) return undefined;
    return {
      size: buf.length,
      open: async (range) => Readable.from(range ? [buf.subarray(range.start, range.end + 1)] : [buf]),
    };
  }

  async commitBlob(repo: string, digest: string, tempPath: string, _size: number): Promise<void> {
    try {
      if (!this.blobs.has(digest)) this.blobs.set(digest, await readFile(tempPath));
    } finally {
      await rm(tempPath, { force: true });
    }
    this.repo(repo, true)!.blobs.add(digest);
  }

  async mountBlob(from: string, to: string, digest: string): Promise<boolean> {
    if (!this.repo(from, false)?.blobs.has(digest)) return false;
    this.repo(to, true)!.blobs.add(digest);
    return true;
  }

  async deleteBlob(repo: string, digest: string): Promise<boolean> {
    return this.repo(repo, false)?.blobs.delete(digest) ?? false;
  }

  async close(): Promise<void> {
    const tmp = this.tmp;
    this.tmp = undefined;
    const dir = await tmp?.catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
