/**
 * What the web page shows, computed on the server from a UiSource: a tag's summary row (digest,
 * media type, total size, platforms, created), one manifest's full view (index platforms, layers,
 * config, history, annotations, referrers, `sha256-….sig` tags) and a layer's file list. Registry
 * content is untrusted: every field is picked with a type check, and the page renders it as text.
 * Manifests and configs fetched by digest are cached (content-addressed, so never stale).
 */
import type { Readable } from "node:stream";
import pLimit from "p-limit";
import tar from "tar-stream";
import { TcraneError } from "../errors.js";
import { decompressed } from "../image/compression.js";
import { isConfig, isImageManifest, isIndex } from "../image/mediatypes.js";
import { formatPlatform, isAttestation } from "../image/platform.js";
import type { Descriptor, Platform } from "../image/types.js";
import { redactText } from "../redact.js";
import { readAll } from "../transports/files.js";
import type { UiManifest, UiSource } from "./source.js";

/** One row of a repository's tag table. */
export interface TagSummary {
  tag: string;
  digest?: string;
  mediaType?: string;
  /** Manifest(s), configs and layers together, each blob counted once. */
  size?: number;
  /** `os/arch[/variant]` of each image (an index's children; attestation manifests left out). */
  platforms?: string[];
  /** The newest `created` of the image config(s). */
  created?: string;
  /** Why the row could not be filled in. */
  error?: string;
}

/** A descriptor as the page shows it. */
export interface UiDescriptor {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  platform?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  /** An index entry that is a buildx attestation manifest (`isAttestation`: `vnd.docker.reference.type`, or unknown/unknown). */
  attestation?: boolean;
}

/** One history step; `layer` is the digest of the layer it made, absent for an empty layer. */
export interface UiHistory {
  created?: string;
  createdBy?: string;
  author?: string;
  comment?: string;
  empty: boolean;
  layer?: string;
}

/** The parts of an image config the page shows. */
export interface UiConfig {
  created?: string;
  author?: string;
  platform?: string;
  user?: string;
  workingDir?: string;
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  exposedPorts: string[];
  volumes: string[];
  stopSignal?: string;
  labels: Record<string, string>;
  history: UiHistory[];
}

/** A referrer, with what it is. */
export interface UiReferrer extends UiDescriptor {
  kind: "signature" | "sbom" | "attestation" | "artifact";
}

/** A `sha256-<hex>[.sig|.att|.sbom]` tag that belongs to a manifest. */
export interface UiDigestTag {
  tag: string;
  kind: "signature" | "attestation" | "sbom" | "referrers";
}

/** Everything the page shows about one tag or digest. */
export interface ManifestView {
  repo: string;
  ref: string;
  digest: string;
  mediaType: string;
  size: number;
  kind: "index" | "image" | "other";
  artifactType?: string;
  annotations?: Record<string, string>;
  subject?: UiDescriptor;
  /** An index's entries. */
  manifests?: UiDescriptor[];
  /** An image manifest's config descriptor, layers, and (for image configs) the parsed config. */
  configDescriptor?: UiDescriptor;
  layers?: UiDescriptor[];
  config?: UiConfig;
  /** Total size (as in TagSummary). */
  totalSize?: number;
  referrers: UiReferrer[];
  referrersError?: string;
  digestTags: UiDigestTag[];
  /** The manifest and config JSON, pretty-printed (truncated past 256 KiB). */
  raw: string;
  rawConfig?: string;
}

/** One entry of a layer's tar. */
export interface LayerEntry {
  path: string;
  type: string;
  size: number;
  mode: number;
  linkname?: string;
}

/** A blob as the layer page shows it: the registry's size, and the manifest's descriptor when named. */
export interface LayerInfo {
  digest: string;
  /** The size the registry reports for the blob. */
  size: number;
  /** The descriptor of the layer in the manifest `ref`, if it lists it. */
  descriptor?: UiDescriptor;
}

/** A layer's file list. */
export interface LayerFiles {
  digest: string;
  compression: string;
  entries: LayerEntry[];
  /** True when the listing stopped at the limit. */
  truncated: boolean;
}

const RAW_LIMIT = 256 << 10;
const CONFIG_LIMIT = 8 << 20;
const CACHE_MAX = 4000;
/** Bytes of manifests and of configs kept, each. */
const CACHE_BYTES = 64 << 20;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const strs = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

function strMap(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function platformOf(v: unknown): string | undefined {
  if (!isObj(v) || typeof v.os !== "string") return undefined;
  return formatPlatform({ os: v.os, architecture: str(v.architecture) ?? "", variant: str(v.variant), "os.version": str(v["os.version"]) } as Platform);
}

function descriptorOf(v: unknown): UiDescriptor | undefined {
  if (!isObj(v) || typeof v.digest !== "string") return undefined;
  const d: UiDescriptor = { digest: v.digest, mediaType: str(v.mediaType) ?? "", size: num(v.size) };
  const at = str(v.artifactType);
  if (at) d.artifactType = at;
  const p = platformOf(v.platform);
  if (p) d.platform = p;
  const a = strMap(v.annotations);
  if (a && Object.keys(a).length) d.annotations = a;
  const u = strs(v.urls);
  if (u && u.length) d.urls = u;
  if (isAttestation({ annotations: a, platform: isObj(v.platform) ? (v.platform as unknown as Platform) : undefined })) d.attestation = true;
  return d;
}

function parseJson(bytes: Buffer): Obj | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString("utf8"));
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The manifest's kind from its media type, else its shape (OCI allows no mediaType). */
function kindOf(mediaType: string, j: Obj | undefined): ManifestView["kind"] {
  const mt = str(j?.mediaType) ?? mediaType;
  if (isIndex(mt) || (j && Array.isArray(j.manifests))) return "index";
  if (isImageManifest(mt) || (j && isObj(j.config) && Array.isArray(j.layers))) return "image";
  return "other";
}

function referrerKind(type: string): UiReferrer["kind"] {
  const t = type.toLowerCase();
  if (/sbom|spdx|cyclonedx|syft/.test(t)) return "sbom";
  if (/in-toto|intoto|attestation|provenance|vuln/.test(t)) return "attestation";
  if (/sig|notary|signature/.test(t)) return "signature";
  return "artifact";
}

/** An error as one line for the page, scrubbed by redactText as every line tcrane prints. */
export function errorLine(err: unknown): string {
  if (err instanceof TcraneError) return redactText(err.line);
  return redactText(err instanceof Error ? err.message : String(err));
}

/**
 * A cache of promised values, bounded by count and by the summed `weigh` of the values (oldest
 * dropped first). A failure is not kept.
 */
class Cache<V> {
  private readonly m = new Map<string, { p: Promise<V>; w: number }>();
  private total = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly weigh: (v: V) => number = () => 0,
  ) {}
  get(key: string, make: () => Promise<V>): Promise<V> {
    const hit = this.m.get(key);
    if (hit) return hit.p;
    const entry = { p: make(), w: 0 };
    this.m.set(key, entry);
    entry.p.then(
      (v) => {
        if (this.m.get(key) !== entry) return;
        entry.w = this.weigh(v);
        this.total += entry.w;
        this.trim();
      },
      () => {
        if (this.m.get(key) === entry) this.m.delete(key);
      },
    );
    this.trim();
    return entry.p;
  }
  private trim(): void {
    while (this.m.size > CACHE_MAX || (this.total > this.maxBytes && this.m.size > 1)) {
      const [k, e] = this.m.entries().next().value!;
      this.m.delete(k);
      this.total -= e.w;
    }
  }
}

/** Parsed image facts needed for summaries (from a manifest and its config). */
interface ImageFacts {
  blobs: Map<string, number>;
  platform?: string;
  created?: string;
}

/** The page's data, computed from a source. One per server; safe to share between requests. */
export class UiViews {
  private readonly manifests = new Cache<UiManifest>(CACHE_BYTES, (m) => m.bytes.length);
  private readonly configs = new Cache<Buffer>(CACHE_BYTES, (b) => b.length);
  private readonly facts = new Cache<ImageFacts>(CACHE_BYTES, (f) => 64 * f.blobs.size);
  private readonly limit = pLimit(8);

  constructor(readonly source: UiSource) {}

  /**
   * A manifest by digest, cached; by tag, always asked (and then cached under its digest, so the
   * summary and children that follow by digest do not GET it again).
   */
  async manifest(repo: string, ref: string, signal?: AbortSignal): Promise<UiManifest> {
    if (ref.includes(":")) return this.manifests.get(`${repo}@${ref}`, () => this.source.manifest(repo, ref));
    const m = await this.source.manifest(repo, ref, signal);
    return this.manifests.get(`${repo}@${m.digest}`, async () => m);
  }

  /** An image config blob (≤ 8 MiB), cached. */
  config(repo: string, desc: { digest: string; size: number }): Promise<Buffer> {
    return this.configs.get(`${repo}@${desc.digest}`, async () => readAll(await this.source.blob(repo, desc), CONFIG_LIMIT, desc.digest));
  }

  private async parsedConfig(repo: string, desc: UiDescriptor | undefined): Promise<Obj | undefined> {
    if (!desc || !isConfig(desc.mediaType) || desc.size > CONFIG_LIMIT) return undefined;
    return parseJson(await this.config(repo, desc));
  }

  /** Blobs (with sizes), platform and created date of an image manifest. */
  private imageFacts(repo: string, m: UiManifest, j: Obj): Promise<ImageFacts> {
    return this.facts.get(`${repo}@${m.digest}`, async () => {
      const blobs = new Map<string, number>([[m.digest, m.bytes.length]]);
      const cfgDesc = descriptorOf(j.config);
      if (cfgDesc) blobs.set(cfgDesc.digest, cfgDesc.size);
      for (const l of Array.isArray(j.layers) ? j.layers : []) {
        const d = descriptorOf(l);
        if (d) blobs.set(d.digest, d.size);
      }
      const cfg = await this.parsedConfig(repo, cfgDesc).catch(() => undefined);
      const facts: ImageFacts = { blobs };
      if (cfg) {
        facts.platform = platformOf(cfg);
        facts.created = str(cfg.created);
      }
      return facts;
    });
  }

  /** The summary row of one tag. Failures are reported in the row, never thrown. */
  async summary(repo: string, tag: string, signal?: AbortSignal): Promise<TagSummary> {
    const row: TagSummary = { tag };
    try {
      const m = await this.manifest(repo, tag, signal);
      row.digest = m.digest;
      row.mediaType = m.mediaType;
      const j = parseJson(m.bytes);
      const kind = kindOf(m.mediaType, j);
      if (!j || kind === "other") {
        row.size = m.bytes.length;
        return row;
      }
      if (kind === "image") {
        const f = await this.imageFacts(repo, m, j);
        row.size = [...f.blobs.values()].reduce((a, b) => a + b, 0);
        row.platforms = f.platform ? [f.platform] : [];
        if (f.created) row.created = f.created;
        return row;
      }
      const blobs = new Map<string, number>([[m.digest, m.bytes.length]]);
      const platforms: string[] = [];
      let created: string | undefined;
      const entries = (Array.isArray(j.manifests) ? j.manifests : []).map(descriptorOf).filter((d): d is UiDescriptor => d !== undefined);
      const childFacts = await Promise.all(
        entries.map(async (d) => {
          if (!isImageManifest(d.mediaType)) return undefined;
          const cm = await this.manifest(repo, d.digest, signal);
          const cj = parseJson(cm.bytes);
          return cj ? this.imageFacts(repo, cm, cj) : undefined;
        }),
      );
      entries.forEach((d, i) => {
        const f = childFacts[i];
        if (f) for (const [k, v] of f.blobs) blobs.set(k, v);
        else blobs.set(d.digest, d.size);
        if (d.attestation) return;
        const p = d.platform ?? f?.platform;
        if (p && !platforms.includes(p)) platforms.push(p);
        if (f?.created && (!created || f.created > created)) created = f.created;
      });
      row.size = [...blobs.values()].reduce((a, b) => a + b, 0);
      row.platforms = platforms;
      if (created) row.created = created;
    } catch (err) {
      row.error = errorLine(err);
    }
    return row;
  }

  /** Summary rows of several tags (8 manifests in flight per server). */
  summaries(repo: string, tags: string[], signal?: AbortSignal): Promise<TagSummary[]> {
    return Promise.all(tags.map((t) => this.limit(() => this.summary(repo, t, signal))));
  }

  /** The full view of one tag or digest. */
  async view(repo: string, ref: string, signal?: AbortSignal): Promise<ManifestView> {
    const m = await this.manifest(repo, ref, signal);
    const j = parseJson(m.bytes);
    const kind = kindOf(m.mediaType, j);
    const view: ManifestView = {
      repo,
      ref,
      digest: m.digest,
      mediaType: str(j?.mediaType) ?? m.mediaType,
      size: m.bytes.length,
      kind,
      referrers: [],
      digestTags: [],
      raw: pretty(m.bytes),
    };
    const at = str(j?.artifactType);
    if (at) view.artifactType = at;
    const ann = strMap(j?.annotations);
    if (ann && Object.keys(ann).length) view.annotations = ann;
    const subject = descriptorOf(j?.subject);
    if (subject) view.subject = subject;
    if (j && kind === "index") {
      view.manifests = (Array.isArray(j.manifests) ? j.manifests : []).map(descriptorOf).filter((d): d is UiDescriptor => d !== undefined);
    } else if (j && kind === "image") {
      view.configDescriptor = descriptorOf(j.config);
      view.layers = (Array.isArray(j.layers) ? j.layers : []).map(descriptorOf).filter((d): d is UiDescriptor => d !== undefined);
      if (view.configDescriptor && isConfig(view.configDescriptor.mediaType) && view.configDescriptor.size <= CONFIG_LIMIT) {
        const bytes = await this.config(repo, view.configDescriptor);
        view.rawConfig = pretty(bytes);
        const cfg = parseJson(bytes);
        if (cfg) view.config = configView(cfg, view.layers);
      }
    }
    const [summary, refs, tags] = await Promise.all([
      kind === "other" ? undefined : this.summary(repo, m.digest, signal),
      this.source.referrers(repo, m.digest, signal).then(
        (r) => r,
        (err: unknown) => {
          view.referrersError = errorLine(err);
          return [] as Descriptor[];
        },
      ),
      this.source.tags(repo, signal).catch(() => [] as string[]),
    ]);
    if (summary?.size !== undefined) view.totalSize = summary.size;
    view.referrers = refs
      .map(descriptorOf)
      .filter((d): d is UiDescriptor => d !== undefined)
      .map((d) => ({ ...d, kind: referrerKind(d.artifactType ?? d.mediaType) }));
    const prefix = `${m.digest.replace(":", "-")}`;
    for (const t of tags) {
      if (t === prefix) view.digestTags.push({ tag: t, kind: "referrers" });
      else if (t === `${prefix}.sig`) view.digestTags.push({ tag: t, kind: "signature" });
      else if (t === `${prefix}.att`) view.digestTags.push({ tag: t, kind: "attestation" });
      else if (t === `${prefix}.sbom`) view.digestTags.push({ tag: t, kind: "sbom" });
    }
    return view;
  }

  /** A blob's size from the registry, and its descriptor in manifest `ref` (when given and listed there). */
  async layerInfo(repo: string, digest: string, ref: string | undefined, signal?: AbortSignal): Promise<LayerInfo> {
    const [size, listed] = await Promise.all([
      this.source.blobSize(repo, digest, signal),
      ref
        ? this.manifest(repo, ref, signal).then((m) => {
            const j = parseJson(m.bytes);
            const all = j && Array.isArray(j.layers) ? j.layers : [];
            return all.map(descriptorOf).find((d) => d?.digest === digest);
          })
        : undefined,
    ]);
    const info: LayerInfo = { digest, size };
    if (listed) info.descriptor = listed;
    return info;
  }

  /** The first `max` entries of a layer's tar (gzip, zstd or plain, sniffed). */
  async layerFiles(repo: string, desc: { digest: string; size?: number }, max: number, signal?: AbortSignal): Promise<LayerFiles> {
    const blob = await this.source.blob(repo, desc, signal);
    const { compression, stream } = await decompressed(blob);
    const entries: LayerEntry[] = [];
    const extract = tar.extract();
    let truncated = false;
    try {
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          truncated = true;
          resolve();
        };
        extract.on("entry", (h, body, next) => {
          if (entries.length >= max) return stop();
          const e: LayerEntry = { path: h.name, type: h.type ?? "file", size: h.size ?? 0, mode: h.mode ?? 0 };
          if (h.linkname) e.linkname = h.linkname;
          entries.push(e);
          body.on("end", next);
          body.resume();
        });
        extract.on("finish", resolve);
        extract.on("error", (err) => reject(new TcraneError("CORRUPT_ARCHIVE", `not a tar layer: ${err.message}`, { what: desc.digest })));
        stream.on("error", (err) => reject(err));
        stream.pipe(extract);
      });
    } finally {
      // stopped early, failed, or done: release the blob (a registry connection, a file)
      stream.unpipe(extract);
      extract.destroy();
      stream.destroy();
      blob.destroy();
    }
    return { digest: desc.digest, compression, entries, truncated };
  }
}

function pretty(bytes: Buffer): string {
  let text = bytes.toString("utf8");
  try {
    text = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    /* shown as served */
  }
  return text.length > RAW_LIMIT ? `${text.slice(0, RAW_LIMIT)}\n… (truncated)` : text;
}

/** Pick the config fields the page shows; history steps are matched to layers in order. */
function configView(cfg: Obj, layers: UiDescriptor[]): UiConfig {
  const c = isObj(cfg.config) ? cfg.config : {};
  const out: UiConfig = {
    env: strs(c.Env) ?? [],
    exposedPorts: isObj(c.ExposedPorts) ? Object.keys(c.ExposedPorts) : [],
    volumes: isObj(c.Volumes) ? Object.keys(c.Volumes) : [],
    labels: strMap(c.Labels) ?? {},
    history: [],
  };
  const set = <K extends keyof UiConfig>(k: K, v: UiConfig[K] | undefined) => {
    if (v !== undefined && v !== "") out[k] = v;
  };
  set("created", str(cfg.created));
  set("author", str(cfg.author));
  set("platform", platformOf(cfg));
  set("user", str(c.User));
  set("workingDir", str(c.WorkingDir));
  set("entrypoint", strs(c.Entrypoint));
  set("cmd", strs(c.Cmd));
  set("stopSignal", str(c.StopSignal));
  let li = 0;
  for (const h of Array.isArray(cfg.history) ? cfg.history : []) {
    if (!isObj(h)) continue;
    const empty = h.empty_layer === true;
    const e: UiHistory = { empty };
    if (str(h.created)) e.created = str(h.created);
    if (str(h.created_by)) e.createdBy = str(h.created_by);
    if (str(h.author)) e.author = str(h.author);
    if (str(h.comment)) e.comment = str(h.comment);
    if (!empty && li < layers.length) e.layer = layers[li++]!.digest;
    out.history.push(e);
  }
  return out;
}
