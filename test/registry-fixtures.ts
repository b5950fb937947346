/**
 * Shared fixtures of the registry-client tests: random images (config + layers, manifest JSON
 * written by hand), push/pull helpers, stream collection.
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import { digestOf } from "../src/image/digest.js";
import type { RegistryClient, Repo } from "../src/registry/index.js";

/** A blob held in memory. */
export interface Blob {
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
}

/** An image made by `makeImage`. */
export interface TestImage {
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
}

/** A blob of random bytes. */
export function blob(bytes: Buffer, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"): Blob {
  return { bytes, digest: digestOf(bytes), size: bytes.length, mediaType };
}

/** An OCI image: a config and `layerSizes.length` layers (gzip of that many random bytes). */
export function makeImage(layerSizes: number[]): TestImage {
  const layers = layerSizes.map((n) => blob(gzipSync(randomBytes(n), { level: 1 })));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
        config: {},
        created: "2026-01-01T00:00:00Z",
        comment: randomBytes(8).toString("hex"),
      }),
    ),
    "application/vnd.oci.image.config.v1+json",
  );
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  return { config, layers, manifest, manifestDigest: digestOf(manifest), mediaType };
}

/** Collect a stream into one Buffer. */
export async function collect(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Push an image ggcr-style: blobs (HEAD first), then the manifest under `tag`. */
export async function pushImage(client: RegistryClient, repo: Repo, tag: string, img: TestImage): Promise<string> {
  await Promise.all(
    [...img.layers, img.config].map(async (b) => {
      if ((await client.headBlob(repo, b.digest)) === b.size) return;
      await client.pushBlob(repo, b, async () => Readable.from([b.bytes]));
    }),
  );
  return client.putManifest(repo, tag, img.manifest, img.mediaType);
}

/** Pull an image: manifest by tag, then every blob, verified; returns the blobs' bytes by digest. */
export async function pullImage(client: RegistryClient, repo: Repo, tag: string): Promise<Map<string, Buffer>> {
  const m = await client.getManifest(repo, tag);
  const j = JSON.parse(m.bytes.toString("utf8")) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
  const out = new Map<string, Buffer>();
  await Promise.all(
    [j.config, ...j.layers].map(async (d) => {
      out.set(d.digest, await collect(await client.fetchBlob(repo, d)));
    }),
  );
  out.set(m.digest, m.bytes);
  return out;
}
