/**
 * The registry transport: a Source and Sink over the registry client for one repository.
 * Optional powers: Mounter (cross-repo mount on the same registry), ReferencePusher (the root
 * manifest PUT by tag in one request), Lister-free.
 */
import { Readable } from "node:stream";
import { TcraneError, isNotFound } from "../errors.js";
import type { Descriptor } from "../image/types.js";
import { isManifest } from "../image/mediatypes.js";
import { isDigest } from "../image/digest.js";
import type { RegistryClient, Repo } from "../registry/client.js";
import type { CallOptions, FetchOptions, Mounter, PushOptions, ReferencePusher, Sink, SinkTraits, Source, StreamPusher } from "./types.js";

/** Source and sink for one registry repository. */
export class RegistryTarget implements Source, Sink, Mounter, ReferencePusher, StreamPusher {
  readonly description: string;
  readonly traits: SinkTraits = { indexes: true, compressedLayers: true, schema1: true };
  /** Manifest bytes this sink pushed or read, by digest (small; used to PUT tags). */
  private readonly manifests = new Map<string, Buffer>();

  constructor(
    readonly client: RegistryClient,
    readonly repo: Repo,
  ) {
    this.description = `${repo.registry}/${repo.repository}`;
  }

  /** Resolve a tag or digest (default `latest`) to the root descriptor, by HEAD when possible. */
  async resolve(ref?: string, opts?: CallOptions): Promise<Descriptor> {
    const reference = ref ?? "latest";
    let headFailed = false;
    const head = await this.client.headManifest(this.repo, reference, opts).catch((e: unknown) => {
      if (e instanceof TcraneError && (e.code === "UNAUTHORIZED" || e.code === "DENIED")) throw e;
      headFailed = true; // HEAD unsupported or odd: fall back to GET
      return undefined;
    });
    if (head && head.mediaType && head.digest) return { mediaType: head.mediaType, digest: head.digest, size: head.size };
    if (!head && !headFailed) {
      throw new TcraneError("NOT_FOUND", "manifest unknown", { what: `${this.description}${isDigest(reference) ? "@" : ":"}${reference}` });
    }
    const got = await this.client.getManifest(this.repo, reference, opts);
    this.manifests.set(got.digest, got.bytes);
    return { mediaType: got.mediaType, digest: got.digest, size: got.size };
  }

  async fetch(desc: Descriptor, opts?: FetchOptions): Promise<Readable> {
    if (isManifest(desc.mediaType)) {
      const cached = this.manifests.get(desc.digest);
      if (cached) return Readable.from([cached]);
      const got = await this.client.getManifest(this.repo, desc.digest, opts);
      return Readable.from([got.bytes]);
    }
    return this.client.fetchBlob(this.repo, desc, { signal: opts?.signal, verify: opts?.verify });
  }

  async exists(desc: Descriptor, opts?: CallOptions): Promise<boolean> {
    try {
      if (isManifest(desc.mediaType)) return (await this.client.headManifest(this.repo, desc.digest, opts)) !== undefined;
      return (await this.client.headBlob(this.repo, desc.digest, opts)) !== undefined;
    } catch (e) {
      // "exists" is an optimisation: a HEAD that is refused means "unknown, copy it".
      if (e instanceof TcraneError && (e.code === "DENIED" || isNotFound(e))) return false;
      throw e;
    }
  }

  async push(desc: Descriptor, stream: Readable, opts?: PushOptions): Promise<void> {
    if (isManifest(desc.mediaType)) {
      const bytes = await collect(stream);
      this.manifests.set(desc.digest, bytes);
      await this.client.putManifest(this.repo, desc.digest, bytes, desc.mediaType, { signal: opts?.signal, skipExisting: false });
      return;
    }
    let first: Readable | undefined = stream;
    const body = opts?.reopen
      ? async () => {
          if (first) {
            const s = first;
            first = undefined;
            return s;
          }
          return opts.reopen!();
        }
      : stream;
    await this.client.pushBlob(this.repo, desc, body, { signal: opts?.signal });
  }

  pushStream(_mediaType: string, open: () => Promise<Readable>, opts?: CallOptions): Promise<{ digest: string; size: number }> {
    return this.client.pushBlobStream(this.repo, open, { signal: opts?.signal });
  }

  async pushReference(desc: Descriptor, bytes: Buffer, ref: string, opts?: CallOptions): Promise<void> {
    this.manifests.set(desc.digest, bytes);
    await this.client.putManifest(this.repo, ref, bytes, desc.mediaType, { signal: opts?.signal, skipExisting: false });
  }

  async tag(desc: Descriptor, ref: string, opts?: CallOptions): Promise<void> {
    let bytes = this.manifests.get(desc.digest);
    if (!bytes) bytes = (await this.client.getManifest(this.repo, desc.digest, opts)).bytes;
    await this.client.putManifest(this.repo, ref, bytes, desc.mediaType, { signal: opts?.signal, skipExisting: false });
  }

  /** A blob's size by digest (HEAD), undefined when absent: what a schema 1 image's layers need. */
  blobSize(digest: string, opts?: CallOptions): Promise<number | undefined> {
    return this.client.headBlob(this.repo, digest, opts);
  }

  mountable(_desc: Descriptor, from: Source): boolean {
    return from instanceof RegistryTarget && from.repo.registry === this.repo.registry && from.repo.repository !== this.repo.repository;
  }

  async mount(desc: Descriptor, from: Source, opts?: CallOptions): Promise<boolean> {
    if (!this.mountable(desc, from)) return false;
    return this.client.mountBlob(this.repo, desc.digest, (from as RegistryTarget).repo, opts);
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
