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
import { RegistryError } from "../errors.js";
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

/**
 * Per destination registry, where each blob is (a repository known this run to hold it: mount from
 * there) and which copy is bringing it in now (the others wait, then mount). Shared by a whole run.
 */
export class RegistryBlobs {
  private readonly known = new Map<string, Map<string, Repo>>();
  private readonly pending = new Map<string, Map<string, { owner: ClaimingSink; repo: Repo; claim: Claim }>>();

  /** A repository of `registry` known to hold `digest`. */
  where(registry: string, digest: string): Repo | undefined {
    return this.known.get(registry)?.get(digest);
  }

  record(repo: Repo, digest: string): void {
    let m = this.known.get(repo.registry);
    if (!m) this.known.set(repo.registry, (m = new Map()));
    if (!m.has(digest)) m.set(digest, repo);
  }

  /** The copy bringing `digest` into some repository of `registry` now, if any. */
  inFlight(registry: string, digest: string): { owner: ClaimingSink; repo: Repo; claim: Claim } | undefined {
    return this.pending.get(registry)?.get(digest);
  }

  begin(owner: ClaimingSink, repo: Repo, digest: string): void {
    let m = this.pending.get(repo.registry);
    if (!m) this.pending.set(repo.registry, (m = new Map()));
    m.set(digest, { owner, repo, claim: newClaim(owner) });
  }

  /** The owner's outcome: waiters mount from its repository (ok) or try themselves. */
  end(owner: ClaimingSink, repo: Repo, digest: string, ok: boolean): void {
    const p = this.pending.get(repo.registry)?.get(digest);
    if (ok) this.record(repo, digest);
    if (!p || p.owner !== owner) return;
    this.pending.get(repo.registry)!.delete(digest);
    p.claim.settle(ok);
  }
}

/**
 * Delays before retrying a manifest PUT that the registry refused because a blob it had confirmed is
 * "unknown": another process (a shard split by tag) committing the same blob into the same repository
 * at that moment rewrites its link file, and distribution answers MANIFEST_BLOB_UNKNOWN until it is
 * done. Within one process claims prevent this; across processes, waiting it out does.
 */
const BLOB_RACE_DELAYS_MS = [300, 1000, 3000];

function isBlobRace(e: unknown): boolean {
  return e instanceof RegistryError && e.errors.some((x) => x.code === "MANIFEST_BLOB_UNKNOWN" || x.code === "BLOB_UNKNOWN");
}

/** `put`, retried after BLOB_RACE_DELAYS_MS while the registry reports the blob race. */
async function settled(put: () => Promise<void>, opts?: CallOptions): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await put();
    } catch (e) {
      if (i >= BLOB_RACE_DELAYS_MS.length || !isBlobRace(e) || opts?.signal?.aborted) throw e;
      await new Promise((r) => setTimeout(r, BLOB_RACE_DELAYS_MS[i]));
    }
  }
}

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
    private readonly blobs?: RegistryBlobs,
    /** The copy this sink belongs to: sinks of one copy (fan-out targets) never wait for each other. */
    readonly group?: object,
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
      const repo = this.inner.repo;
      // Another copy is bringing it into another repository of this registry: wait, then mount.
      // (Not for a sink of the same copy: it waits for this exists() to finish, so it stores it too.)
      const other = (p: { owner: ClaimingSink } | undefined) => p && p.owner !== this && (this.group === undefined || p.owner.group !== this.group);
      for (let p = this.blobs?.inFlight(repo.registry, desc.digest); other(p); p = this.blobs?.inFlight(repo.registry, desc.digest)) {
        await p!.claim.done;
      }
      const from = this.blobs?.where(repo.registry, desc.digest);
      // a mount answers "already here" too, so it replaces the HEAD; refused: ask as usual
      if (from && from.repository !== repo.repository && (await this.inner.client.mountBlob(repo, desc.digest, from, opts).catch(() => false))) {
        this.settle(desc.digest, true);
        return true;
      }
      this.blobs?.begin(this, repo, desc.digest);
      there = await this.inner.exists(desc, opts);
    } catch (e) {
      this.settle(desc.digest, false);
      throw e;
    }
    if (there) this.settle(desc.digest, true);
    return there;
  }

  async push(desc: Descriptor, stream: Readable, opts?: PushOptions): Promise<void> {
    if (isManifest(desc.mediaType) && opts?.reopen) {
      let first: Readable | undefined = stream;
      const reopen = opts.reopen;
      return settled(async () => {
        const s = first ?? (await reopen());
        first = undefined;
        await this.inner.push(desc, s, opts);
      }, opts);
    }
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
    return settled(() => this.inner.tag(desc, ref, opts), opts);
  }

  pushReference(desc: Descriptor, bytes: Buffer, ref: string, opts?: CallOptions): Promise<void> {
    return settled(() => this.inner.pushReference(desc, bytes, ref, opts), opts);
  }

  /** Drop the claims this copy never settled (it failed or stopped before uploading them). */
  release(): void {
    for (const d of [...this.mine]) this.settle(d, false);
  }

  private settle(digest: string, ok: boolean): void {
    const c = this.claims.get(digest);
    this.mine.delete(digest);
    this.blobs?.end(this, this.inner.repo, digest, ok);
    if (!c || c.owner !== this) return;
    if (!ok) this.claims.delete(digest);
    c.settle(ok);
  }
}
