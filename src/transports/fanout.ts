/**
 * Fan-out: one Sink over several sinks, so the one engine copies an image to N places while reading
 * the source once. Each blob the engine pushes is teed to every target that lacks it (one read, N
 * writers, backpressure from the slowest); the engine's verifying stream sits upstream of the tee,
 * so every target gets verified bytes, and each target checks the digest again as it stores them.
 * Manifests and tags go to every target that needs them.
 *
 * A target that fails (down, 403, full) is dropped from this copy with its error (see `failures`)
 * and the others go on; only when no target is left does a call fail. A target that retries an
 * upload re-opens the source for itself (the engine's `reopen`), so a fault costs one more read of
 * that blob, never a wrong or partial one.
 */
import { PassThrough, Readable } from "node:stream";
import { toTcraneError, type TcraneError } from "../errors.js";
import { isManifest } from "../image/mediatypes.js";
import type { Descriptor } from "../image/types.js";
import { isMounter, isReferencePusher, type CallOptions, type Mounter, type PushOptions, type ReferencePusher, type Sink, type SinkTraits, type Source } from "./types.js";

/**
 * Split `src` into `n` streams that each yield every byte of it. The source is paused while any
 * branch is full; a branch destroyed by its consumer is dropped (the others go on), and when every
 * branch is gone the source is destroyed. A source error destroys every branch with it.
 */
export function tee(src: Readable, n: number): PassThrough[] {
  const outs = Array.from({ length: n }, () => new PassThrough());
  const live = new Set(outs);
  const full = new Set<PassThrough>();
  const resume = () => {
    if (full.size === 0 && src.isPaused() && live.size > 0) src.resume();
  };
  for (const o of outs) {
    o.on("error", () => undefined); // each consumer sees its branch's error itself
    o.on("drain", () => {
      full.delete(o);
      resume();
    });
    o.on("close", () => {
      live.delete(o);
      full.delete(o);
      if (live.size === 0) src.destroy();
      else resume();
    });
  }
  src.on("data", (chunk: Buffer) => {
    for (const o of live) if (!o.write(chunk)) full.add(o);
    if (full.size > 0) src.pause();
  });
  src.on("end", () => {
    for (const o of live) o.end();
  });
  src.on("error", (e) => {
    for (const o of [...live]) o.destroy(e);
  });
  return outs;
}

/** A sink writing to several sinks at once; a failed target is dropped, not fatal. */
export class FanoutSink implements Sink, Mounter, ReferencePusher {
  readonly description: string;
  readonly traits: SinkTraits;
  /** Blob bytes stored in each target by this sink (by target index). */
  readonly written: number[];
  private readonly failed = new Map<number, TcraneError>();
  /** Targets known to hold a digest (they answered exists, stored it or mounted it). */
  private readonly have = new Map<string, Set<number>>();

  /** `onFailure` is told at once when a target is dropped (a mirror without --keep-going stops then). */
  constructor(
    readonly targets: Sink[],
    private readonly onFailure?: (index: number, error: TcraneError) => void,
  ) {
    if (targets.length === 0) throw new Error("FanoutSink needs at least one target");
    this.description = targets.map((t) => t.description).join(", ");
    this.written = targets.map(() => 0);
    // an index only when every target holds one; compressed layers when any target wants them;
    // Docker schema 1 as it is only when every target holds it (else the engine converts it)
    this.traits = {
      indexes: targets.every((t) => t.traits?.indexes !== false),
      compressedLayers: targets.some((t) => t.traits?.compressedLayers === true),
      schema1: targets.every((t) => t.traits?.schema1 === true),
    };
  }

  /** The targets dropped so far, with the error that dropped each. */
  failures(): ReadonlyMap<number, TcraneError> {
    return this.failed;
  }

  private live(): number[] {
    return this.targets.map((_, i) => i).filter((i) => !this.failed.has(i));
  }

  /** Live targets not known to hold `digest`. */
  private lacking(digest: string): number[] {
    const h = this.have.get(digest);
    return this.live().filter((i) => !h?.has(i));
  }

  private mark(digest: string, i: number): void {
    let h = this.have.get(digest);
    if (!h) this.have.set(digest, (h = new Set()));
    h.add(i);
  }

  private drop(i: number, e: unknown): void {
    if (this.failed.has(i)) return;
    const err = toTcraneError(e);
    this.failed.set(i, err);
    this.onFailure?.(i, err);
  }

  /**
   * Run `fn` on each of the targets `which`, at once; a target that throws is dropped. Throws the
   * first error when no target is left alive.
   */
  private async each<T>(which: number[], fn: (sink: Sink, i: number, k: number) => Promise<T>): Promise<Array<T | undefined>> {
    const out = await Promise.all(
      which.map(async (i, k) => {
        try {
          return await fn(this.targets[i]!, i, k);
        } catch (e) {
          this.drop(i, e);
          return undefined;
        }
      }),
    );
    if (this.live().length === 0) {
      // every target is gone: fail with the error of one of these (else the first one dropped)
      const i = which.find((x) => this.failed.has(x));
      throw this.failed.get(i ?? [...this.failed.keys()][0]!)!;
    }
    return out;
  }

  /** True when every live target holds it (asked of the ones not known to). */
  async exists(desc: Descriptor, opts?: CallOptions): Promise<boolean> {
    const ask = this.lacking(desc.digest);
    const there = await this.each(ask, (s) => s.exists(desc, opts));
    ask.forEach((i, k) => there[k] === true && this.mark(desc.digest, i));
    return this.lacking(desc.digest).length === 0;
  }

  /** Store in every live target that lacks it: one read of `stream`, teed. */
  async push(desc: Descriptor, stream: Readable, opts?: PushOptions): Promise<void> {
    const to = this.lacking(desc.digest);
    if (to.length === 0) {
      stream.destroy();
      return;
    }
    const branches = to.length === 1 ? [stream] : tee(stream, to.length);
    await this.each(to, async (s, i, k) => {
      const branch = branches[k]!;
      // A target that restarts its upload reads the source again for itself: it will never read
      // its branch again, so the branch is dropped (or the others would wait for it forever).
      const reopen = opts?.reopen
        ? () => {
            if (branch !== stream) branch.destroy();
            return opts.reopen!();
          }
        : undefined;
      try {
        await s.push(desc, branch, { ...opts, reopen });
      } catch (e) {
        branch.destroy(); // the others go on without this branch
        throw e;
      }
      this.mark(desc.digest, i);
      if (!isManifest(desc.mediaType)) this.written[i]! += desc.size;
    });
  }

  /** Mountable when a live target lacking it can mount it from `from`. */
  mountable(desc: Descriptor, from: Source): boolean {
    return this.lacking(desc.digest).some((i) => {
      const t = this.targets[i]!;
      return isMounter(t) && t.mountable?.(desc, from) === true;
    });
  }

  /** Mount where a target can; true when every live target then holds it. */
  async mount(desc: Descriptor, from: Source, opts?: CallOptions): Promise<boolean> {
    const to = this.lacking(desc.digest).filter((i) => isMounter(this.targets[i]));
    const ok = await this.each(to, (s) => (s as Sink & Mounter).mount(desc, from, opts));
    to.forEach((i, k) => ok[k] === true && this.mark(desc.digest, i));
    return this.lacking(desc.digest).length === 0;
  }

  /** The root and its tag, in every live target (each was out of date, or it would not be here). */
  async pushReference(desc: Descriptor, bytes: Buffer, ref: string, opts?: CallOptions): Promise<void> {
    await this.each(this.live(), async (s) => {
      if (isReferencePusher(s)) await s.pushReference(desc, bytes, ref, opts);
      else {
        await s.push(desc, Readable.from([bytes]), opts);
        await s.tag(desc, ref, opts);
      }
    });
  }

  async tag(desc: Descriptor, ref: string, opts?: CallOptions): Promise<void> {
    await this.each(this.live(), (s) => s.tag(desc, ref, opts));
  }
}
