/**
 * Cross-image dedup for concurrent copies into one destination repository. The engine dedups blobs
 * within one copy; a mirror runs many copies at once, and images of one repository share layers (or
 * are the same image under several tags). The distribution registry does not tolerate the same blob
 * committed twice at once in one repository (its link files are rewritten in place, and a
 * concurrent manifest PUT then sees `MANIFEST_BLOB_UNKNOWN`/`DIGEST_INVALID`), so the first copy
 * that asks `exists` for a blob claims it, and the others wait for its outcome instead of
 * uploading it again.
 *
 * Across repositories of one destination registry, a blob that one copy of the run stored (or found)
 * in a repository is mounted from there into the next repository that lacks it (one request, no
 * bytes, no read of the source): mirroring 30 repositories that share a base image reads and uploads
 * the base once.
 */
import type { Readable } from "node:stream";
import type { Descriptor } from "../image/types.js";
import type { Repo } from "../registry/client.js";
import { isManifest } from "../image/mediatypes.js";
import type { RegistryTarget } from "../transports/registry.js";
import type { CallOptions, Mounter, PushOptions, ReferencePusher, Sink, SinkTraits, Source } from "../transports/types.js";

/** One blob being brought into a repository by some copy. */
interface Claim {
  owner: ClaimingSink;
  /** true once the blob is there, false when the owner gave up (waiters then try themselves). */
  done: Promise<boolean>;
  settle(ok: boolean): void;
}

/** The claims of one destination repository, shared by every copy into it during one run. */
export type RepoClaims = Map<string, Claim>;

/** Per destination registry, a repository known (this run) to hold each digest: where to mount from. */
export type Siblings = Map<string, Map<string, Repo>>;

function newClaim(owner: ClaimingSink): Claim {
  let settle!: (ok: boolean) => void;
  const done = new Promise<boolean>((r) => (settle = r));
  return { owner, done, settle };
}

/** A per-copy view of a RegistryTarget sink that claims blobs in a shared table before uploading. */
export class ClaimingSink implements Sink, Mounter, ReferencePusher {
  readonly description: string;
  readonly traits: SinkTraits;
  private readonly mine = new Set<string>();

  constructor(
    private readonly inner: RegistryTarget,
    private readonly claims: RepoClaims,
    private readonly siblings?: Siblings,
  ) {
    this.description = inner.description;
    this.traits = inner.traits;
  }

  /** Blobs: wait for another copy's claim, else claim and HEAD. Manifests go straight through. */
  async exists(desc: Descriptor, opts?: CallOptions): Promise<boolean> {
    if (isManifest(desc.mediaType)) return this.inner.exists(desc, opts);
    for (;;) {
      const c = this.claims.get(desc.digest);
      if (!c) break;
      if (c.owner === this) return false;
      if (await c.done) return true;
      // the owner failed and dropped its claim: try ourselves
    }
    this.claims.set(desc.digest, newClaim(this));
    this.mine.add(desc.digest);
    let there: boolean;
    try {
      const from = this.siblings?.get(this.inner.repo.registry)?.get(desc.digest);
      // a mount answers "already here" too, so it replaces the HEAD; refused: ask as usual
      if (from && from.repository !== this.inner.repo.repository && (await this.inner.client.mountBlob(this.inner.repo, desc.digest, from, opts).catch(() => false))) {
        this.settle(desc.digest, true);
        return true;
      }
      there = await this.inner.exists(desc, opts);
    } catch (e) {
      this.settle(desc.digest, false);
      throw e;
    }
    if (there) this.settle(desc.digest, true);
    return there;
  }

  async push(desc: Descriptor, stream: Readable, opts?: PushOptions): Promise<void> {
    try {
      await this.inner.push(desc, stream, opts);
    } catch (e) {
      this.settle(desc.digest, false);
      throw e;
    }
    this.settle(desc.digest, true);
  }

  async mount(desc: Descriptor, from: Source, opts?: CallOptions): Promise<boolean> {
    let ok: boolean;
    try {
      ok = await this.inner.mount(desc, from, opts);
    } catch (e) {
      this.settle(desc.digest, false);
      throw e;
    }
    if (ok) this.settle(desc.digest, true);
    return ok;
  }

  tag(desc: Descriptor, ref: string, opts?: CallOptions): Promise<void> {
    return this.inner.tag(desc, ref, opts);
  }

  pushReference(desc: Descriptor, bytes: Buffer, ref: string, opts?: CallOptions): Promise<void> {
    return this.inner.pushReference(desc, bytes, ref, opts);
  }

  /** Drop the claims this copy never settled (it failed or stopped before uploading them). */
  release(): void {
    for (const d of [...this.mine]) this.settle(d, false);
  }

  private settle(digest: string, ok: boolean): void {
    const c = this.claims.get(digest);
    this.mine.delete(digest);
    if (ok && this.siblings) {
      const reg = this.inner.repo.registry;
      let known = this.siblings.get(reg);
      if (!known) this.siblings.set(reg, (known = new Map()));
      if (!known.has(digest)) known.set(digest, this.inner.repo);
    }
    if (!c || c.owner !== this) return;
    if (!ok) this.claims.delete(digest);
    c.settle(ok);
  }
}
