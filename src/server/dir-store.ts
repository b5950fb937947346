/**
 * The on-disk store (`--dir DIR`): an OCI image layout plus a little per-repository bookkeeping.
 *
 *   DIR/oci-layout, DIR/index.json         the layout; one entry per tag, annotated with
 *                                          org.opencontainers.image.ref.name = io.containerd.image.name = "<repo>:<tag>"
 *   DIR/blobs/<alg>/<hex>                  every blob and manifest, shared by all repositories
 *   DIR/tcrane-registry/repos/<repo>/      membership, one small file per item (atomic, lock free):
 *       _blobs/<alg>/<hex>                 (empty) the repository holds this blob
 *       _manifests/<alg>/<hex>             (its media type) the repository holds this manifest
 *       _referrers/<alg>/<subject hex>/<alg>-<hex>  (empty) a manifest whose subject is that digest
 *   DIR/tcrane-registry/uploads/<uuid>     uploads in progress (same filesystem: commit is a rename)
 *
 * Repository names are validated before they reach this file, so they never escape DIR; marker
 * directories start with "_" which no path component can. index.json is rewritten (temp + rename)
 * under an in-process lock, so concurrent pushes to one server are safe. Deleting removes
 * membership only; blob files are not garbage-collected.
 */
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { parseDigest } from "../image/digest.js";
import type { Descriptor, ImageIndex } from "../image/types.js";
import { splitImageName } from "./names.js";
import type { BlobHandle, PutManifestOptions, RegistryStore, StoredManifest } from "./storage.js";

const REF_NAME = "org.opencontainers.image.ref.name";
const IMAGE_NAME = "io.containerd.image.name";

function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomUUID()}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function blobRel(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(algorithm, hex);
}

/** Which repository and tag an index.json entry names, when it is one of ours. */
function entryName(d: Descriptor): { repo: string; tag: string } | undefined {
  const n = d.annotations?.[IMAGE_NAME] ?? d.annotations?.[REF_NAME];
  return n && n.includes(":") ? splitImageName(n, false) : undefined;
}

/** A RegistryStore over an OCI image layout directory. */
export class DirStore implements RegistryStore {
  readonly readOnly = false;
  private index: ImageIndex = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] };
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {}

  /** Open (creating if needed) the layout at `dir`. Entries of index.json we did not write are kept. */
  static async open(dir: string): Promise<DirStore> {
    const s = new DirStore(dir);
    await mkdir(join(dir, "blobs"), { recursive: true });
    await mkdir(join(dir, "tcrane-registry", "uploads"), { recursive: true });
    if (!(await exists(join(dir, "oci-layout")))) {
      await atomicWrite(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    }
    try {
      const idx = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
      if (Array.isArray(idx.manifests)) s.index = idx;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      await s.saveIndex();
    }
    return s;
  }

  private repoDir(repo: string): string {
    return join(this.dir, "tcrane-registry", "repos", repo);
  }
  private blobPath(digest: string): string {
    return join(this.dir, "blobs", blobRel(digest));
  }

  private saveIndex(): Promise<void> {
    return atomicWrite(join(this.dir, "index.json"), JSON.stringify(this.index, null, 2) + "\n");
  }

  /** Run `fn` with index.json to ourselves, then save it. */
  private withIndex<T>(fn: (idx: ImageIndex) => T): Promise<T> {
    const run = this.lock.then(async () => {
      const r = fn(this.index);
      await this.saveIndex();
      return r;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  async uploadDir(): Promise<string> {
    return join(this.dir, "tcrane-registry", "uploads");
  }

  async listRepos(): Promise<string[]> {
    const root = join(this.dir, "tcrane-registry", "repos");
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let ents;
      try {
        ents = await readdir(join(root, rel), { withFileTypes: true });
      } catch {
        return;
      }
      if (ents.some((e) => e.name === "_manifests" || e.name === "_blobs")) out.push(rel);
      for (const e of ents) if (e.isDirectory() && !e.name.startsWith("_")) await walk(rel ? `${rel}/${e.name}` : e.name);
    };
    await walk("");
    for (const d of this.index.manifests) {
      const n = entryName(d);
      if (n && !out.includes(n.repo)) out.push(n.repo);
    }
    return out.sort();
  }

  private tagsOf(repo: string): Map<string, Descriptor> {
    const m = new Map<string, Descriptor>();
    for (const d of this.index.manifests) {
      const n = entryName(d);
      if (n?.repo === repo) m.set(n.tag, d);
    }
    return m;
  }

  async listTags(repo: string): Promise<string[] | undefined> {
    const tags = [...this.tagsOf(repo).keys()].sort();
    if (tags.length === 0 && !(await this.repoExists(repo))) return undefined;
    return tags;
  }

  async repoExists(repo: string): Promise<boolean> {
    const d = this.repoDir(repo);
    return (await exists(join(d, "_manifests"))) || (await exists(join(d, "_blobs"))) || this.tagsOf(repo).size > 0;
  }

  async getManifest(repo: string, ref: string): Promise<StoredManifest | undefined> {
    let digest = ref;
    let mediaType: string | undefined;
    if (!ref.includes(":")) {
      const d = this.tagsOf(repo).get(ref);
      if (!d) return undefined;
      digest = d.digest;
      mediaType = d.mediaType;
    } else {
      try {
        mediaType = (await readFile(join(this.repoDir(repo), "_manifests", blobRel(digest)), "utf8")).trim();
      } catch {
        return undefined;
      }
    }
    try {
      return { digest, mediaType, bytes: await readFile(this.blobPath(digest)) };
    } catch {
      return undefined;
    }
  }

  async hasManifest(repo: string, digest: string): Promise<boolean> {
    return exists(join(this.repoDir(repo), "_manifests", blobRel(digest)));
  }

  async putManifest(repo: string, m: StoredManifest, opts: PutManifestOptions): Promise<void> {
    const p = this.blobPath(m.digest);
    if (!(await exists(p))) await atomicWrite(p, m.bytes);
    await atomicWrite(join(this.repoDir(repo), "_manifests", blobRel(m.digest)), m.mediaType);
    if (opts.subject) {
      const { algorithm, hex } = parseDigest(m.digest);
      const marker = join(this.repoDir(repo), "_referrers", blobRel(opts.subject), `${algorithm}-${hex}`);
      await mkdir(dirname(marker), { recursive: true });
      await writeFile(marker, "");
    }
    if (opts.tag) {
      const name = `${repo}:${opts.tag}`;
      await this.withIndex((idx) => {
        idx.manifests = idx.manifests.filter((d) => {
          const n = entryName(d);
          return !(n && n.repo === repo && n.tag === opts.tag);
        });
        idx.manifests.push({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, annotations: { [IMAGE_NAME]: name, [REF_NAME]: name } });
      });
    }
  }

  async deleteManifest(repo: string, ref: string): Promise<boolean> {
    const isTag = !ref.includes(":");
    let found = false;
    if (!isTag) {
      const marker = join(this.repoDir(repo), "_manifests", blobRel(ref));
      found = await exists(marker);
      await rm(marker, { force: true });
      const { algorithm, hex } = parseDigest(ref);
      const refRoot = join(this.repoDir(repo), "_referrers");
      for (const alg of await readdir(refRoot).catch(() => [] as string[])) {
        for (const subj of await readdir(join(refRoot, alg)).catch(() => [] as string[])) {
          await rm(join(refRoot, alg, subj, `${algorithm}-${hex}`), { force: true });
        }
      }
    }
    const removed = await this.withIndex((idx) => {
      const before = idx.manifests.length;
      idx.manifests = idx.manifests.filter((d) => {
        const n = entryName(d);
        return !(n && n.repo === repo && (isTag ? n.tag === ref : d.digest === ref));
      });
      return before !== idx.manifests.length;
    });
    return found || removed;
  }

  async referrers(repo: string, subject: string): Promise<StoredManifest[]> {
    const dir = join(this.repoDir(repo), "_referrers", blobRel(subject));
    const out: StoredManifest[] = [];
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      const m = await this.getManifest(repo, f.replace("-", ":"));
      if (m) out.push(m);
    }
    return out;
  }

  async getBlob(repo: string, digest: string): Promise<BlobHandle | undefined> {
    if (!(await exists(join(this.repoDir(repo), "_blobs", blobRel(digest))))) return undefined;
    const path = this.blobPath(digest);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      return undefined;
    }
    return {
      size,
      open: async (range): Promise<Readable> => createReadStream(path, range ? { start: range.start, end: range.end } : {}),
    };
  }

  private async addMember(repo: string, digest: string): Promise<void> {
    const marker = join(this.repoDir(repo), "_blobs", blobRel(digest));
    await mkdir(dirname(marker), { recursive: true });
    await writeFile(marker, "");
  }

  async commitBlob(repo: string, digest: string, tempPath: string, _size: number): Promise<void> {
    const p = this.blobPath(digest);
    try {
      await mkdir(dirname(p), { recursive: true });
      await rename(tempPath, p);
    } catch (err) {
      await rm(tempPath, { force: true });
      throw err;
    }
    await this.addMember(repo, digest);
  }

  async mountBlob(from: string, to: string, digest: string): Promise<boolean> {
    if (!(await this.getBlob(from, digest))) return false;
    await this.addMember(to, digest);
    return true;
  }

  async deleteBlob(repo: string, digest: string): Promise<boolean> {
    const marker = join(this.repoDir(repo), "_blobs", blobRel(digest));
    if (!(await exists(marker))) return false;
    await rm(marker, { force: true });
    return true;
  }

  async close(): Promise<void> {
    await this.lock;
  }
}
