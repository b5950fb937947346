/**
 * Where the web page's data comes from: the small read-only view of a registry the UI needs. Two
 * implementations: over the embedded registry's store (`registry serve`) and over tcrane's registry
 * client (`tcrane browse`, which brings the user's keychain). Everything above this (summaries, the
 * JSON API, the page) is written once against this interface.
 */
import type { Readable } from "node:stream";
import { TcraneError } from "../errors.js";
import type { Descriptor } from "../image/types.js";
import type { RegistryClient } from "../registry/client.js";
import { referrerDescriptor } from "../server/manifest-check.js";
import type { RegistryStore } from "../server/storage.js";

/** A manifest as a registry answered it. */
export interface UiManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** The registry operations the UI uses; all read-only. Absent things throw NOT_FOUND. */
export interface UiSource {
  /** Every repository (every catalog page). */
  catalog(signal?: AbortSignal): Promise<string[]>;
  /** Every tag of a repository (every page). */
  tags(repo: string, signal?: AbortSignal): Promise<string[]>;
  /** A manifest by tag or digest. */
  manifest(repo: string, ref: string, signal?: AbortSignal): Promise<UiManifest>;
  /** A blob's size as the registry reports it. */
  blobSize(repo: string, digest: string, signal?: AbortSignal): Promise<number>;
  /** Stream a blob (verified against its digest where the source is remote). */
  blob(repo: string, desc: { digest: string; size?: number }, signal?: AbortSignal): Promise<Readable>;
  /** Manifests whose subject is `digest` (OCI referrers). */
  referrers(repo: string, digest: string, signal?: AbortSignal): Promise<Descriptor[]>;
}

function notFound(what: string): TcraneError {
  return new TcraneError("NOT_FOUND", "not found", { what });
}

/** The UI's view of an embedded registry's store (no HTTP: the store is asked directly). */
export function storeSource(store: RegistryStore): UiSource {
  return {
    catalog: () => store.listRepos(),
    tags: async (repo) => {
      const t = await store.listTags(repo);
      if (!t) throw notFound(repo);
      return t;
    },
    manifest: async (repo, ref) => {
      const m = await store.getManifest(repo, ref);
      if (!m) throw notFound(`${repo}:${ref}`);
      return m;
    },
    blobSize: async (repo, digest) => {
      const b = await store.getBlob(repo, digest);
      if (!b) throw notFound(`${repo}@${digest}`);
      return b.size;
    },
    blob: async (repo, desc) => {
      const b = await store.getBlob(repo, desc.digest);
      if (!b) throw notFound(`${repo}@${desc.digest}`);
      return b.open();
    },
    referrers: async (repo, digest) => (await store.referrers(repo, digest)).map((m) => referrerDescriptor(m.digest, m.mediaType, m.bytes)),
  };
}

/** The UI's view of a remote registry through tcrane's client (its keychain, TLS and retries). */
export function clientSource(client: RegistryClient, registry: string, opts: { pageSize?: number } = {}): UiSource {
  const repo = (repository: string) => ({ registry, repository });
  return {
    catalog: (signal) => client.catalog(registry, { signal, pageSize: opts.pageSize }),
    tags: (r, signal) => client.listTags(repo(r), { signal, pageSize: opts.pageSize }),
    manifest: async (r, ref, signal) => {
      const m = await client.getManifest(repo(r), ref, { signal });
      return { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes };
    },
    blobSize: async (r, digest, signal) => {
      const n = await client.headBlob(repo(r), digest, { signal });
      if (n === undefined) throw notFound(`${registry}/${r}@${digest}`);
      return n;
    },
    blob: (r, desc, signal) => client.fetchBlob(repo(r), desc, { signal }),
    referrers: async (r, digest, signal) => (await client.referrers(repo(r), digest, { signal })).manifests,
  };
}
