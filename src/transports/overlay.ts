/**
 * A Source that serves a few new blobs (edited manifests, configs, synthesized indexes) on top of
 * another Source, so that anything built from an existing image goes through the one engine and
 * unchanged blobs are read (or mounted, or skipped) from where they are.
 */
import { Readable } from "node:stream";
import { digestOf } from "../image/digest.js";
import type { Descriptor } from "../image/types.js";
import type { CallOptions, Source } from "./types.js";

/** New content over a base source. */
export class OverlaySource implements Source {
  readonly description: string;
  private readonly extra = new Map<string, Buffer>();

  constructor(readonly base: Source) {
    this.description = base.description;
  }

  /** Add bytes; returns their descriptor. */
  add(bytes: Buffer, mediaType: string, fields: Partial<Descriptor> = {}): Descriptor {
    const digest = digestOf(bytes);
    this.extra.set(digest, bytes);
    return { mediaType, digest, size: bytes.length, ...fields };
  }

  /** Add a JSON document (compact serialization). */
  addJson(value: unknown, mediaType: string, fields: Partial<Descriptor> = {}): Descriptor {
    return this.add(Buffer.from(JSON.stringify(value)), mediaType, fields);
  }

  resolve(ref?: string, opts?: CallOptions): Promise<Descriptor> {
    return this.base.resolve(ref, opts);
  }

  async fetch(desc: Descriptor, opts?: CallOptions): Promise<Readable> {
    const b = this.extra.get(desc.digest);
    return b ? Readable.from([b]) : this.base.fetch(desc, opts);
  }

  async exists(desc: Descriptor, opts?: CallOptions): Promise<boolean> {
    return this.extra.has(desc.digest) || this.base.exists(desc, opts);
  }
}
