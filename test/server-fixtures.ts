/**
 * Test fixtures for the embedded-registry tests: a real OCI image layout made by hand (random file
 * contents in gzip-compressed tar layers, a config with matching diff_ids), and a running-registry
 * helper.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

/** sha256:hex of bytes. */
export function sha(b: Buffer | string): string {
  return "sha256:" + createHash("sha256").update(b).digest("hex");
}

async function tarOf(name: string, content: Buffer): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/** One image made by the fixture. */
export interface FixtureImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layers: Array<{ digest: string; bytes: Buffer }>;
}

/** Build an image with `layerSizes` random files (one layer each), in memory. */
export async function makeImage(layerSizes: number[] = [2048, 70000], arch = "amd64"): Promise<FixtureImage> {
  const layers: Array<{ digest: string; bytes: Buffer }> = [];
  const diffIds: string[] = [];
  for (const [i, size] of layerSizes.entries()) {
    const t = await tarOf(`file-${i}.bin`, randomBytes(size));
    diffIds.push(sha(t));
    const gz = gzipSync(t);
    layers.push({ digest: sha(gz), bytes: gz });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: "linux",
      created: "2024-01-01T00:00:00Z",
      config: { Cmd: ["/file-0.bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: layerSizes.map(() => ({ created: "2024-01-01T00:00:00Z", created_by: "fixture" })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.bytes.length })),
    }),
  );
  return { manifest, manifestDigest: sha(manifest), config, configDigest: sha(config), layers };
}

/** Write images as an OCI layout at `dir`; `names[i]` becomes the ref.name annotation of image i. */
export async function writeLayout(dir: string, images: FixtureImage[], names: Array<Record<string, string>>): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const put = (d: string, b: Buffer) => writeFile(join(dir, "blobs", "sha256", d.slice(7)), b);
  const manifests = [];
  for (const [i, img] of images.entries()) {
    for (const l of img.layers) await put(l.digest, l.bytes);
    await put(img.configDigest, img.config);
    await put(img.manifestDigest, img.manifest);
    manifests.push({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: img.manifestDigest, size: img.manifest.length, annotations: names[i] });
  }
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
}
