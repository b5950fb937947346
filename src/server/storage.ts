/**
 * The storage interface behind the embedded registry. Three implementations: memory (default),
 * an OCI image layout directory (`--dir`), and a read-only bundle (`--from`). Handlers validate
 * names, digests and manifests before calling a store, so stores trust their arguments.
 */
import type { Readable } from "node:stream";

/** A manifest as stored: its exact bytes, digest and media type. */
export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** A blob a repository holds. */
export interface BlobHandle {
  size: number;
  /** Stream the blob, or the inclusive byte range `[start, end]` of it. */
  open(range?: { start: number; end: number }): Promise<Readable>;
}

/** Options of a manifest write. */
export interface PutManifestOptions {
  /** Also point this tag at the manifest. */
  tag?: string;
  /** The manifest's subject digest, for the referrers API. */
  subject?: string;
}

/** A registry's storage. Every method is scoped to one repository except `listRepos`. */
export interface RegistryStore {
  /** True when writes must be refused (405 UNSUPPORTED). */
  readonly readOnly: boolean;
  /** Directory for in-progress uploads (on the blob store's filesystem so commit is a rename). */
  uploadDir(): Promise<string>;
  /** Every repository holding something, sorted. */
  listRepos(): Promise<string[]>;
  /** The tags of a repository, sorted; undefined when the repository is unknown. */
  listTags(repo: string): Promise<string[] | undefined>;
  /** True when the repository holds anything. */
  repoExists(repo: string): Promise<boolean>;
  /** A manifest by tag or digest, undefined when absent. */
  getManifest(repo: string, ref: string): Promise<StoredManifest | undefined>;
  /** True when the repository holds the manifest with this digest. */
  hasManifest(repo: string, digest: string): Promise<boolean>;
  /** Store a manifest (already checked) and optionally tag it. */
  putManifest(repo: string, m: StoredManifest, opts: PutManifestOptions): Promise<void>;
  /** Delete a manifest by digest (with its tags) or a tag alone; false when absent. */
  deleteManifest(repo: string, ref: string): Promise<boolean>;
  /** Manifests of the repository whose subject is `subject`. */
  referrers(repo: string, subject: string): Promise<StoredManifest[]>;
  /** A blob of the repository, undefined when the repository does not hold it. */
  getBlob(repo: string, digest: string): Promise<BlobHandle | undefined>;
  /** Take the verified upload at `tempPath` (it is moved or removed) as blob `digest` of `repo`. */
  commitBlob(repo: string, digest: string, tempPath: string, size: number): Promise<void>;
  /** Make `digest` held by `from` also held by `to`; false when `from` does not hold it. */
  mountBlob(from: string, to: string, digest: string): Promise<boolean>;
  /** Remove the blob from the repository; false when absent. */
  deleteBlob(repo: string, digest: string): Promise<boolean>;
  /** Release resources (temp directories, file handles). */
  close(): Promise<void>;
}
