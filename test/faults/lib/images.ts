/**
 * Test images for the fault suite, and checks of a registry's state afterwards: an image with
 * layers of chosen sizes (random, so gzip cannot shrink them), written as an OCI layout or pushed
 * straight into a registry, and `tagState()` telling "absent" from "complete" (every blob there).
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { RegistryClient } from "../../../src/registry/client.js";
import { digestOf } from "../../../src/image/digest.js";
import type { Descriptor } from "../../../src/image/types.js";
import { tarBytes } from "../../fixtures/images.js";
import { CANARY_PASSWORD, CANARY_USER } from "./cases.js";

/** A test image: blobs by digest plus its manifest. */
export interface FaultImage {
  config: Buffer;
  configDesc: Descriptor;
  layers: { desc: Descriptor; bytes: Buffer; tar: Buffer }[];
  manifest: Buffer;
  manifestDesc: Descriptor;
  /** Every blob (config and layers) by digest. */
  blobs: Map<string, Buffer>;
}

/** Build an OCI image with gzip layers holding `sizes` random bytes each. */
export async function faultImage(sizes: number[], arch = "amd64"): Promise<FaultImage> {
  const layers: FaultImage["layers"] = [];
  for (const [i, size] of sizes.entries()) {
    const tar = await tarBytes([{ name: `data/file-${i}-${randomBytes(3).toString("hex")}.bin`, data: randomBytes(size) }]);
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ tar, bytes: gz, desc: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(gz), size: gz.length } });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: "linux",
      created: "2024-01-01T00:00:00Z",
      config: { Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => digestOf(l.tar)) },
      nonce: randomBytes(6).toString("hex"),
    }),
  );
  const configDesc: Descriptor = { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length };
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers: layers.map((l) => l.desc) }),
  );
  const manifestDesc: Descriptor = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digestOf(manifest), size: manifest.length };
  const blobs = new Map<string, Buffer>([[configDesc.digest, config], ...layers.map((l) => [l.desc.digest, l.bytes] as [string, Buffer])]);
  return { config, configDesc, layers, manifest, manifestDesc, blobs };
}

/** Write `img` as an OCI image layout at `dir` (ref.name `refName`). */
export async function writeLayout(dir: string, img: FaultImage, refName = "latest"): Promise<void> {
  const blobs = join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  for (const [d, b] of [...img.blobs, [img.manifestDesc.digest, img.manifest] as [string, Buffer]]) await writeFile(join(blobs, d.slice(7)), b);
  await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifestDesc, annotations: { "org.opencontainers.image.ref.name": refName } }] }),
  );
}

/** A library client with the canary credentials (fast backoff) for setting up and checking registries. */
export function checker(): RegistryClient {
  return new RegistryClient({ credentials: { username: CANARY_USER, password: CANARY_PASSWORD }, backoff: { baseMs: 10, maxMs: 50 }, retries: 2 });
}

/** Push `img` into `host/repo:tag` with the library (setup only). */
export async function seed(host: string, repo: string, tag: string, img: FaultImage): Promise<void> {
  const c = checker();
  try {
    const r = { registry: host, repository: repo };
    for (const [digest, bytes] of img.blobs) await c.pushBlob(r, { digest, size: bytes.length }, Readable.from([bytes]));
    await c.putManifest(r, tag, img.manifest, img.manifestDesc.mediaType);
  } finally {
    await c.close();
  }
}

/**
 * The state of `host/repo:tag`: "absent" (no manifest for the tag), or "complete:<digest>" when
 * the manifest and every blob it names are there; anything else is "incomplete: …".
 */
export async function tagState(host: string, repo: string, tag: string): Promise<string> {
  const c = checker();
  try {
    const r = { registry: host, repository: repo };
    const head = await c.headManifest(r, tag);
    if (!head) return "absent";
    const m = await c.getManifest(r, tag);
    const j = JSON.parse(m.bytes.toString()) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
    const children = [...(j.config ? [j.config] : []), ...(j.layers ?? [])];
    for (const d of children) {
      const size = await c.headBlob(r, d.digest);
      if (size !== d.size) return `incomplete: ${d.digest} ${size === undefined ? "missing" : `size ${size}`}`;
    }
    return `complete:${m.digest}`;
  } finally {
    await c.close();
  }
}
