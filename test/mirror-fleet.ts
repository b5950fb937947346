/**
 * Shared by the sharding, fan-out and examples tests: a "fleet" of source repositories whose tags
 * share a 2-layer base plus one own layer each, seeded into a real registry through the engine, and
 * the registry's access log read back as (method, path) pairs.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Distribution } from "./harness/distribution.js";
import { MemoryStore } from "./helpers/memory.js";
import { randomImage } from "./fixtures/images.js";
import { RegistryClient } from "../src/registry/client.js";
import { RegistryTarget } from "../src/transports/registry.js";
import { copyDescriptor } from "../src/transfer/engine.js";
import { parseRepository } from "../src/reference/index.js";
import type { Credential } from "../src/auth/types.js";

/** What was seeded: digest by `repo:tag`, and every distinct blob digest (configs and layers). */
export interface Fleet {
  repos: string[];
  tags: string[];
  digests: Map<string, string>;
  blobs: Set<string>;
  baseLayers: string[];
}

/** Seed `repos` × `tags` into `reg`: all images share a 2-layer base; each has one own layer. */
export async function seedFleet(reg: Distribution, repos: string[], tags: string[], layerSize = 8 * 1024): Promise<Fleet> {
  const mem = new MemoryStore();
  const base = [randomBytes(layerSize), randomBytes(layerSize)];
  const client = new RegistryClient();
  const fleet: Fleet = { repos, tags, digests: new Map(), blobs: new Set(), baseLayers: [] };
  try {
    // repositories at once, the tags of one in turn (the registry races on one blob committed
    // twice at once into one repository)
    await Promise.all(
      repos.map(async (repo) => {
        for (const tag of tags) {
          const img = mem.put(randomImage([layerSize], { shared: base, created: null, nonce: false }));
          fleet.baseLayers = img.layers.slice(0, 2).map((l) => l.desc.digest);
          for (const d of [img.configDesc, ...img.layers.map((l) => l.desc)]) fleet.blobs.add(d.digest);
          fleet.digests.set(`${repo}:${tag}`, img.manifestDesc.digest);
          await copyDescriptor(mem, img.manifestDesc, new RegistryTarget(client, parseRepository(`${reg.host}/${repo}`)), { tags: [tag] });
        }
      }),
    );
  } finally {
    await client.close();
  }
  return fleet;
}

/** One access-log request: method and path (with query). */
export interface LoggedRequest {
  method: string;
  path: string;
}

/** The requests a registry logged, from byte offset `since` of its log. */
export function requests(reg: Distribution, since = 0): LoggedRequest[] {
  return [...reg.logs().slice(since).matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\/v2\/[^ "]*) HTTP/g)].map((m) => ({ method: m[1]!, path: m[2]! }));
}

/** Manifest PUTs by `repo:reference`, counted. */
export function manifestPuts(reqs: LoggedRequest[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of reqs) {
    const m = r.method === "PUT" ? /^\/v2\/(.+)\/manifests\/([^?]+)$/.exec(r.path) : null;
    if (m) out.set(`${m[1]}:${m[2]}`, (out.get(`${m[1]}:${m[2]}`) ?? 0) + 1);
  }
  return out;
}

/** Blob GETs by digest, counted. */
export function blobGets(reqs: LoggedRequest[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of reqs) {
    const m = r.method === "GET" ? /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path) : null;
    if (m) out.set(m[1]!, (out.get(m[1]!) ?? 0) + 1);
  }
  return out;
}

/** Every `repo:tag` of `digests` is at `host/prefix/repo:tag` with its digest. */
export async function assertMirrored(digests: Map<string, string>, host: string, prefix: string, credentials?: Credential): Promise<void> {
  const client = new RegistryClient({ credentials });
  try {
    for (const [ref, digest] of digests) {
      const [repo, tag] = ref.split(":");
      assert.equal((await client.headManifest(parseRepository(`${host}/${prefix}/${repo}`), tag!))?.digest, digest, `${host}/${prefix}/${ref}`);
    }
  } finally {
    await client.close();
  }
}
