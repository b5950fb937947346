/**
 * Reading docker-archive tarballs of every form: crane `tarball` (compressed `<hex>.tar.gz`, config
 * `sha256:<hex>`), crane `legacy` and classic `docker save` (`<id>/layer.tar`), Docker 25+ (OCI
 * layout + manifest.json, uncompressed `blobs/sha256/<diffid>`), containerd-store `docker save`
 * (compressed blobs) and skopeo's (symlinked layers). Only manifest.json is used (as `docker load`).
 *
 * Each image gets a SYNTHESIZED Docker schema2 manifest (as ggcr `tarball.Image`): compressed layers
 * (sniffed) keep their blob digest (from the file name when it encodes one, else hashed once);
 * uncompressed layers get digest = the config's diff_id at that position, checked while streaming.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError, VerificationError } from "../errors.js";
import { VerifyingStream, digestOf, isDigest } from "../image/digest.js";
import {
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_MANIFEST_SCHEMA2,
  DOCKER_UNCOMPRESSED_LAYER,
  OCI_LAYER_ZSTD,
  OCI_MANIFEST,
  toOci,
  isDistributable,
} from "../image/mediatypes.js";
import type { Descriptor, ImageManifest } from "../image/types.js";
import { parseReference } from "../reference/index.js";
import { parseJson, plainArchive, sniffBytes, type PlainFile } from "./files.js";
import { TarIndex, type TarEntry } from "./tar-index.js";
import type { CallOptions, Closer, Lister, Source } from "./types.js";

/** One entry of a docker-save manifest.json. */
export interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
  Parent?: string;
  LayerSources?: Record<string, Descriptor>;
}

/** Where a blob's bytes come from. */
type BlobSource = { bytes: Buffer } | { entry: TarEntry; verify?: boolean; desc: Descriptor };

interface Built {
  manifest: Descriptor;
  config: Descriptor;
}

/** Validate manifest.json (MALFORMED naming the archive). */
export function parseDockerManifest(bytes: Buffer, what: string): DockerManifestEntry[] {
  const m = parseJson<unknown>(bytes, what);
  if (!Array.isArray(m)) throw new TcraneError("MALFORMED", "manifest.json must be a JSON array", { what });
  for (const e of m as DockerManifestEntry[]) {
    if (!e || typeof e.Config !== "string" || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === "string")) {
      throw new TcraneError("MALFORMED", "manifest.json entry needs Config (string) and Layers (array of strings)", { what });
    }
    if (e.RepoTags != null && (!Array.isArray(e.RepoTags) || !e.RepoTags.every((t) => typeof t === "string"))) {
      throw new TcraneError("MALFORMED", "manifest.json RepoTags must be an array of strings", { what });
    }
  }
  return m as DockerManifestEntry[];
}

/** The registry digest a compressed layer's member name encodes (`<hex>.tar.gz`, `blobs/sha256/<hex>`). */
function digestFromName(name: string): string | undefined {
  const base = name.split("/").pop() ?? "";
  const m = /^(?:sha256:)?([a-f0-9]{64})(?:\.tar\.gz|\.tgz|\.tar\.zst|\.tar|\.gz)?$/.exec(base);
  return m ? `sha256:${m[1]}` : undefined;
}

/** Normalized image name of a string, or undefined when it is not a reference. */
function nameOf(s: string): string | undefined {
  try {
    const r = parseReference(s);
    return r.digest ? `${r.context}:i-was-a-digest` : r.name;
  } catch {
    return undefined;
  }
}

/** A docker-archive opened for reading. */
export class DockerArchiveSource implements Source, Lister, Closer {
  readonly description: string;
  private readonly blobs = new Map<string, BlobSource>();
  private readonly built = new Map<number, Promise<Built>>();

  constructor(
    private readonly tar: TarIndex,
    private readonly plain: PlainFile,
    private readonly images: DockerManifestEntry[],
    path: string,
  ) {
    this.description = `docker-archive:${path}`;
  }

  private corrupt(msg: string, cause?: unknown): TcraneError {
    return new TcraneError("CORRUPT_ARCHIVE", msg, { what: this.tar.what, cause });
  }

  /** Member `name`, or CORRUPT_ARCHIVE/MALFORMED naming it when manifest.json points at nothing usable. */
  private member(name: string): TarEntry {
    try {
      return this.tar.resolve(name);
    } catch (err) {
      if (err instanceof TcraneError && err.code === "NOT_FOUND") {
        throw this.corrupt(`manifest.json names "${name}", which is missing from the archive`, err);
      }
      throw err;
    }
  }

  /** Synthesize (once) the manifest of image `i` and register its blobs. */
  private build(i: number): Promise<Built> {
    let p = this.built.get(i);
    if (!p) {
      p = this.doBuild(i);
      this.built.set(i, p);
      p.catch(() => this.built.delete(i));
    }
    return p;
  }

  private async doBuild(i: number): Promise<Built> {
    const img = this.images[i]!;
    const cfgEntry = this.member(img.Config);
    const cfgBytes = await this.tar.readFile(cfgEntry.name);
    const cfg = parseJson<{ rootfs?: { diff_ids?: unknown } }>(cfgBytes, `${this.tar.what}: ${img.Config}`);
    const diffIds = cfg?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === "string" && isDigest(d))) {
      throw new TcraneError("MALFORMED", `config "${img.Config}" has no valid rootfs.diff_ids`, { what: this.tar.what });
    }
    if (diffIds.length !== img.Layers.length) {
      throw this.corrupt(`manifest.json lists ${img.Layers.length} layers but config "${img.Config}" has ${diffIds.length} diff_ids`);
    }
    const config: Descriptor = { mediaType: DOCKER_CONFIG, size: cfgBytes.length, digest: digestOf(cfgBytes) };
    // A config named by its digest (`sha256:<hex>`, `<hex>.json`, `blobs/sha256/<hex>`) must hash to it.
    const named = /(?:^|\/|sha256:)([a-f0-9]{64})(?:\.json)?$/.exec(img.Config);
    if (named && `sha256:${named[1]}` !== config.digest) {
      throw new VerificationError("DIGEST_MISMATCH", `${this.tar.what}: ${img.Config}`, `sha256:${named[1]}`, config.digest);
    }
    this.blobs.set(config.digest, { bytes: cfgBytes });
    const layers: Descriptor[] = [];
    for (let j = 0; j < img.Layers.length; j++) {
      const diffId = diffIds[j] as string;
      const foreign = img.LayerSources?.[diffId];
      if (foreign && typeof foreign.digest === "string" && !isDistributable(foreign.mediaType)) {
        layers.push(foreign);
        const e = this.tar.has(img.Layers[j]!) ? this.tar.resolve(img.Layers[j]!) : undefined;
        if (e) this.blobs.set(foreign.digest, { entry: e, verify: true, desc: foreign });
        continue;
      }
      const e = this.member(img.Layers[j]!);
      const comp = sniffBytes(await this.tar.head(e, 4));
      let desc: Descriptor;
      if (comp === "none") {
        desc = { mediaType: DOCKER_UNCOMPRESSED_LAYER, size: e.size, digest: diffId };
        this.blobs.set(desc.digest, { entry: e, verify: true, desc });
      } else {
        // A name encoding the diff_id (uncompressed digest) says nothing about the compressed bytes.
        const named = digestFromName(e.name);
        const digest = named && named !== diffId ? named : await this.hashMember(e);
        desc = { mediaType: comp === "gzip" ? DOCKER_LAYER : OCI_LAYER_ZSTD, size: e.size, digest };
        this.blobs.set(desc.digest, { entry: e, desc });
      }
      layers.push(desc);
    }
    // Docker schema 2 has no zstd layer type: a zstd layer makes the whole manifest OCI (as podman
    // pushes it), or registries and skopeo refuse it ("unsupported docker v2s2 media type").
    const oci = layers.some((l) => l.mediaType === OCI_LAYER_ZSTD);
    if (oci) for (const d of [config, ...layers]) d.mediaType = toOci(d.mediaType);
    const mediaType = oci ? OCI_MANIFEST : DOCKER_MANIFEST_SCHEMA2;
    const manifest: ImageManifest = { schemaVersion: 2, mediaType, config, layers };
    const mBytes = Buffer.from(JSON.stringify(manifest));
    const mDesc: Descriptor = { mediaType, size: mBytes.length, digest: digestOf(mBytes) };
    this.blobs.set(mDesc.digest, { bytes: mBytes });
    return { manifest: mDesc, config };
  }

  private async hashMember(e: TarEntry): Promise<string> {
    const h = createHash("sha256");
    for await (const c of this.tar.open(e)) h.update(c as Buffer);
    return `sha256:${h.digest("hex")}`;
  }

  /** The RepoTags of image `i`. */
  private names(i: number): string[] {
    return this.images[i]!.RepoTags ?? [];
  }

  /**
   * Pick an image: undefined ⇒ the only one (several ⇒ USAGE listing them); `@N` ⇒ by position; a
   * digest ⇒ by synthesized manifest digest or image ID (config digest); else by normalized name
   * against RepoTags (`x@sha256:…` matches crane's `x:i-was-a-digest`). NOT_FOUND when absent.
   */
  async resolve(ref?: string, _opts?: CallOptions): Promise<Descriptor> {
    const n = this.images.length;
    const what = ref ? `${this.description}:${ref}` : this.description;
    if (ref === undefined || ref === "") {
      if (n === 1) return (await this.build(0)).manifest;
      if (n === 0) throw new TcraneError("NOT_FOUND", "the archive holds no image", { what });
      const all = this.images.map((img, i) => (img.RepoTags?.length ? img.RepoTags.join(", ") : `@${i} (untagged)`));
      throw new TcraneError("USAGE", `the archive holds ${n} images, name one of: ${all.join("; ")}`, { what });
    }
    const pos = /^@(\d+)$/.exec(ref);
    if (pos) {
      const i = Number(pos[1]);
      if (i >= n) throw new TcraneError("NOT_FOUND", `no image at position ${i} (${n} images)`, { what });
      return (await this.build(i)).manifest;
    }
    if (isDigest(ref)) {
      for (let i = 0; i < n; i++) {
        const b = await this.build(i);
        if (b.manifest.digest === ref || b.config.digest === ref) return b.manifest;
      }
      throw new TcraneError("NOT_FOUND", "no image with this digest in the archive", { what });
    }
    const want = nameOf(ref);
    for (let i = n - 1; i >= 0; i--) {
      if (this.names(i).some((t) => t === ref || (want !== undefined && nameOf(t) === want))) return (await this.build(i)).manifest;
    }
    const have = this.images.flatMap((img) => img.RepoTags ?? []);
    throw new TcraneError("NOT_FOUND", `no image named "${ref}" in the archive${have.length ? ` (it has: ${have.join(", ")})` : ""}`, {
      what: this.description,
    });
  }

  /** Stream the synthesized manifest, the config or a layer (uncompressed layers are verified). */
  async fetch(desc: Descriptor, _opts?: CallOptions): Promise<Readable> {
    let b = this.blobs.get(desc.digest);
    if (!b) {
      for (let i = 0; i < this.images.length; i++) await this.build(i);
      b = this.blobs.get(desc.digest);
    }
    if (!b) throw new TcraneError("NOT_FOUND", `blob ${desc.digest} is not in the archive`, { what: this.description });
    if ("bytes" in b) {
      return Readable.from([b.bytes]);
    }
    const raw = this.tar.open(b.entry);
    if (!b.verify) return raw;
    const v = new VerifyingStream({ digest: b.desc.digest, size: b.desc.size, what: `${this.tar.what}: ${b.entry.name}` });
    pipeline(raw, v).catch(() => undefined);
    return v;
  }

  /** True when the digest is one of this archive's blobs (after synthesis). */
  async exists(desc: Descriptor, _opts?: CallOptions): Promise<boolean> {
    if (!this.blobs.has(desc.digest)) {
      for (let i = 0; i < this.images.length; i++) await this.build(i).catch(() => undefined);
    }
    return this.blobs.has(desc.digest);
  }

  /** Every image (synthesized manifest descriptor) with its RepoTags. */
  async list(_opts?: CallOptions): Promise<Array<{ descriptor: Descriptor; names: string[] }>> {
    const out: Array<{ descriptor: Descriptor; names: string[] }> = [];
    for (let i = 0; i < this.images.length; i++) out.push({ descriptor: (await this.build(i)).manifest, names: this.names(i) });
    return out;
  }

  /** Remove any temp copy (stdin / decompressed input). */
  async close(): Promise<void> {
    await this.plain.cleanup();
  }
}

/**
 * Open a docker-archive (plain, gzip or zstd; `-` = stdin, spooled to a temp file), index it once
 * and read manifest.json. Errors name the path: CORRUPT_ARCHIVE (not a tar, truncated, no
 * manifest.json), MALFORMED (bad manifest.json), NOT_FOUND (no such file).
 */
export async function openDockerArchiveSource(path: string, opts: { signal?: AbortSignal } = {}): Promise<DockerArchiveSource> {
  const plain = await plainArchive(path, opts.signal);
  const what = path === "-" ? "stdin" : path;
  try {
    const tar = await TarIndex.build(plain.path, what);
    if (!tar.get("manifest.json")) {
      const hint = tar.get("index.json") ? " (an OCI archive? use oci-archive:)" : "";
      throw new TcraneError("CORRUPT_ARCHIVE", `invalid archive: does not contain a manifest.json${hint}`, { what });
    }
    const images = parseDockerManifest(await tar.readFile("manifest.json"), `${what}: manifest.json`);
    return new DockerArchiveSource(tar, plain, images, path);
  } catch (err) {
    await plain.cleanup();
    throw err;
  }
}
