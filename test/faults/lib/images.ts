/**
 * The fault suite's registry set-up and checks, with the canary credentials: `seed()` pushes an
 * image built with ../../fixtures/images.ts (`makeImage({ layers: [sizes] })`: random files, so gzip
 * cannot shrink them), and `tagState()` tells "absent" from "complete" (every blob there).
 */
import { RegistryClient } from "../../../src/registry/client.js";
import type { Descriptor } from "../../../src/image/types.js";
import { pushToRegistry, type Image } from "../../fixtures/images.js";
import { CANARY_PASSWORD, CANARY_USER } from "./cases.js";

/** A library client with the canary credentials (fast backoff) for setting up and checking registries. */
export function checker(): RegistryClient {
  return new RegistryClient({ credentials: { username: CANARY_USER, password: CANARY_PASSWORD }, backoff: { baseMs: 10, maxMs: 50 }, retries: 2 });
}

/** Push `img` into `host/repo:tag` with the library (setup only). */
export async function seed(host: string, repo: string, tag: string, img: Image): Promise<void> {
  const c = checker();
  try {
    await pushToRegistry(c, { registry: host, repository: repo }, img, tag);
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
