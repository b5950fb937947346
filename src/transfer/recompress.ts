/**
 * Compression changes made by the engine: an uncompressed layer going to a sink that wants compressed
 * layers is gzip-compressed (level 1, like ggcr) to a temp file while its diff_id is checked, and the
 * manifests above it are rewritten with the new descriptors.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline as streamPipeline, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ParallelGzip } from "../image/parallel-gzip.js";
import { TcraneError } from "../errors.js";
import { VerifyingStream, digestOf, verifier } from "../image/digest.js";
import type { Descriptor } from "../image/types.js";
import type { Source } from "../transports/types.js";

/** A gzip-compressed copy of a layer in a temp file, served as a tiny Source. */
export interface CompressedLayer {
  descriptor: Descriptor;
  source: Source;
  cleanup(): Promise<void>;
}

/**
 * gzip an uncompressed layer on the fly: the source bytes are checked against the layer's digest
 * (its diff_id) as they go in; a mismatch fails the returned stream before it ends. The output is
 * deterministic (same bytes on every call), so an upload can restart by calling this again.
 */
export async function gzipLayerStream(
  source: Source,
  desc: Descriptor,
  opts: { signal?: AbortSignal; onBytes?: (total: number) => void } = {},
): Promise<Readable> {
  const input = await source.fetch(desc, { signal: opts.signal, verify: false });
  const gz = new ParallelGzip();
  const v = verifier(desc, `${source.description}@${desc.digest}`, opts.onBytes);
  // pipeline destroys every stage with the first error, so the consumer of `gz` sees it.
  streamPipeline(input, v, gz, () => undefined);
  return gz;
}

/** gzip an uncompressed layer (verified against its digest = diff_id) into a temp file. */
export async function compressLayer(source: Source, desc: Descriptor, opts: { signal?: AbortSignal; tmpDir?: string } = {}): Promise<CompressedLayer> {
  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), "tcrane-gz-"));
  const file = join(dir, "layer.tar.gz");
  try {
    const out = new VerifyingStream({ what: `${desc.digest} (compressed)` });
    await pipeline(await gzipLayerStream(source, desc, { signal: opts.signal }), out, createWriteStream(file), { signal: opts.signal });
    const size = (await stat(file)).size;
    const descriptor: Descriptor = { ...desc, mediaType: toCompressed(desc.mediaType), digest: out.digest!, size };
    delete descriptor.data;
    const fileSource: Source = {
      description: `${source.description} (gzip of ${desc.digest})`,
      resolve: async () => descriptor,
      exists: async (d) => d.digest === descriptor.digest,
      fetch: async (d) => {
        if (d.digest !== descriptor.digest) throw new TcraneError("NOT_FOUND", "not in the compressed layer", { what: d.digest });
        return createReadStream(file, { highWaterMark: 1 << 20 });
      },
    };
    return { descriptor, source: fileSource, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Rewrite a manifest or index whose children changed (`kids[i]` became `done[i]`): descriptors are
 * replaced by digest, keeping their annotations, platform and urls.
 */
export function rewriteManifest(desc: Descriptor, bytes: Buffer, kids: Descriptor[], done: Descriptor[]): { descriptor: Descriptor; bytes: Buffer } {
  const byDigest = new Map<string, Descriptor>();
  kids.forEach((k, i) => byDigest.set(k.digest, done[i]!));
  const json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  const swap = (d: Descriptor): Descriptor => {
    const n = byDigest.get(d.digest);
    return n ? { ...d, mediaType: n.mediaType, digest: n.digest, size: n.size } : d;
  };
  for (const key of ["config", "subject"]) {
    if (json[key]) json[key] = swap(json[key] as Descriptor);
  }
  for (const key of ["layers", "manifests", "blobs"]) {
    if (Array.isArray(json[key])) json[key] = (json[key] as Descriptor[]).map(swap);
  }
  const out = Buffer.from(JSON.stringify(json));
  const descriptor: Descriptor = { ...desc, size: out.length, digest: digestOf(out) };
  delete descriptor.data;
  return { descriptor, bytes: out };
}

/** The gzip media type for an uncompressed layer media type (Docker and OCI). */
export function toCompressed(mediaType: string): string {
  if (mediaType === "application/vnd.docker.image.rootfs.diff.tar") return "application/vnd.docker.image.rootfs.diff.tar.gzip";
  if (mediaType.endsWith(".tar")) return `${mediaType}+gzip`;
  return mediaType;
}
