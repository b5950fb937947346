/**
 * Builds small OCI image layouts from directories (tests, demo, bench): each directory becomes one
 * gzip layer (a deterministic tar: sorted entries, fixed mtime, uid/gid 0), one image per platform,
 * and an index when several platforms are asked for.
 */
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { digestOf } from "../src/image/digest.js";
import type { Descriptor, Platform } from "../src/image/types.js";

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

/** A deterministic uncompressed tar of a directory's contents (paths relative to it). */
export async function tarDirectory(dir: string, extra: Record<string, string> = {}): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => pack.on("end", () => r()));
  const mtime = new Date(0);
  for (const p of await walk(dir)) {
    const st = await stat(p);
    const name = relative(dir, p);
    if (st.isDirectory()) pack.entry({ name: name + "/", type: "directory", mode: 0o755, mtime, uid: 0, gid: 0 });
    else pack.entry({ name, mode: st.mode & 0o777, mtime, uid: 0, gid: 0 }, await readFile(p));
  }
  for (const [name, content] of Object.entries(extra)) pack.entry({ name, mode: 0o644, mtime, uid: 0, gid: 0 }, content);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Write content-addressed blobs into an OCI layout; returns the descriptor. */
async function putBlob(layout: string, mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
  const digest = digestOf(bytes);
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "blobs", "sha256", digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length, ...extra };
}

/** Options of buildLayout. */
export interface BuildLayoutOptions {
  /** Directories, one layer each, bottom first. */
  layers: string[];
  platforms: Platform[];
  /** ref.name in index.json. */
  refName: string;
  /** Extra file per platform so platforms differ (e.g. /etc/arch). */
  perPlatformFile?: (p: Platform) => Record<string, string>;
  cmd?: string[];
}

/** Build an OCI layout at `layout`; returns the root descriptor (an index for several platforms). */
export async function buildLayout(layout: string, o: BuildLayoutOptions): Promise<Descriptor> {
  await mkdir(layout, { recursive: true });
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const manifests: Descriptor[] = [];
  for (const p of o.platforms) {
    const layers: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const [i, dir] of o.layers.entries()) {
      const raw = await tarDirectory(dir, i === o.layers.length - 1 ? (o.perPlatformFile?.(p) ?? {}) : {});
      diffIds.push(digestOf(raw));
      layers.push(await putBlob(layout, "application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(raw, { level: 6 })));
    }
    const config = Buffer.from(
      JSON.stringify({
        created: "2026-01-01T00:00:00Z",
        architecture: p.architecture,
        os: p.os,
        ...(p.variant ? { variant: p.variant } : {}),
        config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: o.cmd ?? ["/app/hello.sh"], Labels: { "org.opencontainers.image.title": o.refName } },
        rootfs: { type: "layers", diff_ids: diffIds },
        history: o.layers.map((d) => ({ created: "2026-01-01T00:00:00Z", created_by: `tcrane demo: add ${d}` })),
      }),
    );
    const cfg = await putBlob(layout, "application/vnd.oci.image.config.v1+json", config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: cfg, layers }));
    manifests.push(await putBlob(layout, "application/vnd.oci.image.manifest.v1+json", manifest, { platform: p }));
  }
  let root: Descriptor;
  if (manifests.length === 1) {
    const { platform: _p, ...m } = manifests[0]!;
    root = m;
  } else {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
    root = await putBlob(layout, "application/vnd.oci.image.index.v1+json", index);
  }
  const entry = { ...root, annotations: { "org.opencontainers.image.ref.name": o.refName } };
  await writeFile(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [entry] }));
  return root;
}
