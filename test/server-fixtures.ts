/**
 * Adapter kept for test/server-dockerd.test.ts (edited on another branch): the old
 * `makeImage(sizes, arch)` / `writeLayout(dir, images, annotations)` signatures over the shared builder.
 * New tests import ./fixtures/images.ts directly.
 */
import { makeImage as build, writeLayout as write, type Image } from "./fixtures/images.js";

export { sha256 as sha } from "./fixtures/images.js";

/** A shared-builder Image with the old digest fields. */
export type FixtureImage = Image & { manifestDigest: string; configDigest: string };

/** An image of one random file per layer, `layerSizes` bytes each (gzip tar layers). */
export async function makeImage(layerSizes: number[] = [2048, 70000], arch = "amd64"): Promise<FixtureImage> {
  const img = await build({ layers: layerSizes, platform: `linux/${arch}` });
  return { ...img, manifestDigest: img.manifestDesc.digest, configDigest: img.configDesc.digest };
}

/** An OCI layout of `images`; `names[i]` are the annotations of image i in index.json. */
export async function writeLayout(dir: string, images: Image[], names: Array<Record<string, string>>): Promise<void> {
  await write(
    dir,
    images.map((node, i) => ({ node, annotations: names[i] })),
  );
}
