/**
 * Writing docker-archive tarballs.
 * - `tarball` (default, crane's `tarball.Write`): layers stored as pushed (no recompression) as
 *   `<hex>.tar.gz` / `.tar` by media type, config `sha256:<hex>`, manifest.json last (entries sorted
 *   by joined RepoTags; LayerSources for non-distributable layers). Blobs stream into the tar as
 *   they are pushed (writes are serialized). zstd layers (crane keeps them as `<hex>.tar.zst`) are
 *   decompressed via a temp file and stored as `<diff_id hex>.tar`: `docker load` of Docker 20.10
 *   (Debian 12's) cannot read zstd ("archive/tar: invalid tar header"), and a docker-archive is
 *   made to be loaded.
 * - `legacy` (crane `--format=legacy` / classic docker save): layers decompressed and spooled to a
 *   temp dir while pushed, then at commit written as `<v1id>/layer.tar`, `<v1id>/json`,
 *   `<v1id>/VERSION`, with `<hex>.json`, manifest.json and `repositories` (ggcr's v1 ids).
 * The archive is a temp file beside the target renamed at commit (or stdout for `-`); gzip on request.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError, toTcraneError } from "../errors.js";
import { parseDigest } from "../image/digest.js";
import { isConfig, isDistributable, isIndex, isLayer, isManifest, layerCompression } from "../image/mediatypes.js";
import type { Descriptor, HistoryEntry, ImageConfig, ImageManifest } from "../image/types.js";
import { decompressStream, makeTempDir, parseJson, readAll } from "./files.js";
import { createArchiveWriter, type ArchiveWriter } from "./tar-positional.js";
import type { DockerManifestEntry } from "./docker-archive-source.js";
import type { CallOptions, Committer, Sink, SinkTraits } from "./types.js";

/** Options of createDockerArchiveSink. */
export interface DockerArchiveSinkOptions {
  /** `tarball` (default: crane's, gzip layers as pushed, zstd ones decompressed) or `legacy` (uncompressed `<v1id>/layer.tar`). */
  format?: "tarball" | "legacy";
  /** gzip the whole archive (default none). */
  compress?: "gzip" | "none";
}

function hexOf(digest: string): string {
  return parseDigest(digest).hex;
}

/** ggcr's tarball member name of a layer: `<hex>.tar.gz` / `.tar` / `.tar.zst` by media type. */
export function layerFileName(desc: Descriptor): string {
  const c = layerCompression(desc.mediaType);
  return `${hexOf(desc.digest)}${c === "zstd" ? ".tar.zst" : c === "none" ? ".tar" : ".tar.gz"}`;
}

function smallJson(mt: string): boolean {
  return isConfig(mt) || mt.endsWith("+json") || mt.endsWith("/json");
}

/** ggcr splitTag: `repo:tag` ⇒ [repo, tag]; a trailing `:port/x` is not a tag. */
function splitTag(name: string): [string, string] {
  const i = name.lastIndexOf(":");
  if (i > 0 && !name.slice(i + 1).includes("/")) return [name.slice(0, i), name.slice(i + 1)];
  return [name, ""];
}

/** ggcr v1LayerID: sha256 of `"<layer digest hex> <parent id>"` (+ `" " + raw config` for the top layer). */
export function v1LayerId(layerDigest: string, parentId: string, rawConfig?: Buffer): string {
  let s = `${hexOf(layerDigest)} ${parentId}`;
  if (rawConfig && rawConfig.length) s = `${s} ${rawConfig.toString("utf8")}`;
  return createHash("sha256").update(s).digest("hex");
}

interface Spooled {
  path: string;
  size: number;
  /** sha256 of the decompressed bytes. */
  diffId: string;
}

/** A docker-archive being written (see the module comment). */
export class DockerArchiveSink implements Sink, Committer {
  readonly description: string;
  readonly traits: SinkTraits = { indexes: false, compressedLayers: false };
  private readonly format: "tarball" | "legacy";
  private readonly writer: ArchiveWriter;
  /** tarball form: digest ⇒ member name written. */
  private readonly written = new Map<string, string>();
  private readonly configs = new Map<string, Buffer>();
  private readonly spooled = new Map<string, Spooled>();
  private readonly manifests = new Map<string, ImageManifest>();
  private readonly tags = new Map<string, string[]>();
  private readonly inflight = new Map<string, Promise<void>>();
  private temp: Promise<{ dir: string; cleanup: () => Promise<void> }> | undefined;

  constructor(
    readonly path: string,
    opts: DockerArchiveSinkOptions = {},
  ) {
    this.description = `docker-archive:${path}`;
    this.format = opts.format ?? "tarball";
    this.writer = createArchiveWriter(path, { compress: opts.compress });
  }

  /** True when this run already stored the content. */
  async exists(desc: Descriptor, _opts?: CallOptions): Promise<boolean> {
    return this.has(desc.digest);
  }

  private has(d: string): boolean {
    return this.written.has(d) || this.configs.has(d) || this.spooled.has(d) || this.manifests.has(d);
  }

  /** Store a blob (config in memory + tar; layer streamed or spooled) or remember a manifest. */
  async push(desc: Descriptor, stream: Readable, opts?: CallOptions): Promise<void> {
    const running = this.inflight.get(desc.digest);
    if (running || this.has(desc.digest)) {
      stream.resume();
      await running;
      return;
    }
    const p = this.store(desc, stream, opts);
    this.inflight.set(desc.digest, p);
    try {
      await p;
    } finally {
      this.inflight.delete(desc.digest);
    }
  }

  private async store(desc: Descriptor, stream: Readable, opts?: CallOptions): Promise<void> {
    if (isManifest(desc.mediaType)) {
      const bytes = await readAll(stream, 32 << 20, desc.digest);
      if (isIndex(desc.mediaType)) return; // an index cannot be stored; tag() refuses it
      this.manifests.set(desc.digest, parseJson<ImageManifest>(bytes, desc.digest));
      return;
    }
    if (smallJson(desc.mediaType) && !isLayer(desc.mediaType)) {
      const bytes = await readAll(stream, 64 << 20, desc.digest);
      this.configs.set(desc.digest, bytes);
      if (this.format === "tarball") {
        await this.addEntry(desc.digest, `sha256:${hexOf(desc.digest)}`, bytes.length, bytes);
      }
      return;
    }
    if (this.format === "tarball" && layerCompression(desc.mediaType) === "zstd") {
      const sp = await this.spool(desc, stream, opts?.signal);
      await this.addEntry(desc.digest, `${hexOf(sp.diffId)}.tar`, sp.size, createReadStream(sp.path));
      return;
    }
    if (this.format === "tarball") {
      await this.addEntry(desc.digest, layerFileName(desc), desc.size, stream);
      return;
    }
    await this.spool(desc, stream, opts?.signal);
  }

  /** Write the tar entry `name` for blob `digest`, recorded as written unless the write fails. */
  private async addEntry(digest: string, name: string, size: number, body: Buffer | Readable): Promise<void> {
    this.written.set(digest, name);
    await this.writer.add(name, size, body).catch((err) => {
      this.written.delete(digest);
      throw err;
    });
  }

  /** legacy (and zstd layers of the tarball form): decompress a layer into the temp dir. */
  private async spool(desc: Descriptor, stream: Readable, signal?: AbortSignal): Promise<Spooled> {
    this.temp ??= makeTempDir("tcrane-legacy-");
    const { dir } = await this.temp;
    const path = join(dir, hexOf(desc.digest));
    let size = 0;
    const hash = createHash("sha256");
    const count = new Transform({
      transform(chunk: Buffer, _e, cb) {
        size += chunk.length;
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const c = isLayer(desc.mediaType) ? (layerCompression(desc.mediaType) ?? "none") : "none";
    try {
      await pipeline(stream, decompressStream(c), count, createWriteStream(path), { signal });
    } catch (err) {
      throw toTcraneError(err);
    }
    const sp = { path, size, diffId: `sha256:${hash.digest("hex")}` };
    this.spooled.set(desc.digest, sp);
    return sp;
  }

  /** Add `ref` (used as given: ggcr-style strings) to the RepoTags of the image `desc`. */
  async tag(desc: Descriptor, ref: string, _opts?: CallOptions): Promise<void> {
    if (isIndex(desc.mediaType)) {
      throw new TcraneError("UNSUPPORTED", "a docker-archive cannot hold an image index (multi-platform image): pick one platform", {
        what: this.description,
      });
    }
    if (!this.manifests.has(desc.digest)) {
      throw new TcraneError("FAILED", `tag of ${desc.digest} before its manifest was pushed`, { what: this.description });
    }
    const list = this.tags.get(desc.digest) ?? [];
    if (ref && !list.includes(ref)) list.push(ref);
    this.tags.set(desc.digest, list);
  }

  private repoTags(digest: string): string[] | null {
    const t = this.tags.get(digest);
    return t && t.length ? [...t].sort() : null;
  }

  private configOf(m: ImageManifest): { raw: Buffer; cfg: ImageConfig } {
    const raw = this.configs.get(m.config.digest);
    if (!raw) throw new TcraneError("FAILED", `config ${m.config.digest} was not pushed`, { what: this.description });
    return { raw, cfg: parseJson<ImageConfig>(raw, m.config.digest) };
  }

  private layerSources(m: ImageManifest): Record<string, Descriptor> | undefined {
    const out: Record<string, Descriptor> = {};
    m.layers.forEach((l, i) => {
      if (isDistributable(l.mediaType)) return;
      const diffId = this.configOf(m).cfg.rootfs?.diff_ids?.[i];
      if (diffId) out[diffId] = l;
    });
    return Object.keys(out).length ? out : undefined;
  }

  /** Write manifest.json (and the legacy members), finish the tar and rename it into place. */
  async commit(_opts?: CallOptions): Promise<void> {
    try {
      if (this.format === "legacy") await this.writeLegacy();
      else {
        const entries: DockerManifestEntry[] = [...this.manifests].map(([digest, m]) => {
          const e: DockerManifestEntry = {
            Config: this.written.get(m.config.digest) ?? `sha256:${hexOf(m.config.digest)}`,
            RepoTags: this.repoTags(digest),
            Layers: m.layers.map((l) => this.written.get(l.digest) ?? layerFileName(l)),
          };
          const ls = this.layerSources(m);
          if (ls) e.LayerSources = ls;
          return e;
        });
        entries.sort((a, b) => (a.RepoTags ?? []).join(",").localeCompare((b.RepoTags ?? []).join(",")));
        const mb = Buffer.from(JSON.stringify(entries));
        await this.writer.add("manifest.json", mb.length, mb);
      }
      await this.writer.commit();
    } catch (err) {
      await this.abort();
      throw err;
    } finally {
      await this.cleanupTemp();
    }
  }

  private async writeLegacy(): Promise<void> {
    const images = [...this.manifests].sort(([, a], [, b]) => (hexOf(a.config.digest) < hexOf(b.config.digest) ? -1 : 1));
    const manifest: DockerManifestEntry[] = [];
    const repos: Record<string, Record<string, string>> = {};
    const seen = new Set<string>();
    const json = (v: unknown) => Buffer.from(JSON.stringify(v));
    for (const [digest, m] of images) {
      const { raw, cfg } = this.configOf(m);
      const cfgName = `${hexOf(m.config.digest)}.json`;
      if (!seen.has(cfgName)) await this.writer.add(cfgName, raw.length, raw);
      seen.add(cfgName);
      const history: HistoryEntry[] = (cfg.history ?? []).filter((h) => !h.empty_layer);
      const layerFiles: string[] = [];
      let parent = "";
      for (let i = 0; i < m.layers.length; i++) {
        const l = m.layers[i]!;
        const top = i === m.layers.length - 1;
        const h = history[i] ?? {};
        const id = v1LayerId(l.digest, parent, top ? raw : undefined);
        layerFiles.push(`${id}/layer.tar`);
        if (!seen.has(id)) {
          seen.add(id);
          const sp = this.spooled.get(l.digest);
          if (!sp) throw new TcraneError("FAILED", `layer ${l.digest} was not pushed`, { what: this.description });
          await this.writer.add(`${id}/layer.tar`, sp.size, createReadStream(sp.path));
          const lj: Record<string, unknown> = {
            ...(h.created ? { created: h.created } : {}),
            ...(h.author ? { author: h.author } : {}),
            container_config: { Cmd: [h.created_by ?? ""] },
            id,
            ...(parent ? { parent } : {}),
            ...(h.comment ? { comment: h.comment } : {}),
          };
          if (top) Object.assign(lj, { architecture: cfg.architecture, os: cfg.os, config: cfg.config ?? {}, created: cfg.created });
          const jb = json(lj);
          await this.writer.add(`${id}/json`, jb.length, jb);
          await this.writer.add(`${id}/VERSION`, 3, Buffer.from("1.0"));
        }
        parent = id;
      }
      const tags = this.repoTags(digest);
      const entry: DockerManifestEntry = { Config: cfgName, RepoTags: tags, Layers: layerFiles };
      const ls = this.layerSources(m);
      if (ls) entry.LayerSources = ls;
      manifest.push(entry);
      for (const t of tags ?? []) {
        const [base, tag] = splitTag(t);
        (repos[base] ??= {})[tag] = parent;
      }
    }
    const mb = json(manifest);
    await this.writer.add("manifest.json", mb.length, mb);
    const rb = json(repos);
    await this.writer.add("repositories", rb.length, rb);
  }

  private async cleanupTemp(): Promise<void> {
    const t = this.temp;
    this.temp = undefined;
    if (t) await (await t).cleanup();
  }

  /** Remove the partial archive and spooled layers; a previous file at the target stays untouched. */
  async abort(): Promise<void> {
    await this.writer.abort();
    await this.cleanupTemp();
  }
}

/** Create a docker-archive sink writing `path` (`-` = stdout). */
export async function createDockerArchiveSink(path: string, opts: DockerArchiveSinkOptions = {}): Promise<DockerArchiveSink> {
  return new DockerArchiveSink(path, opts);
}
