/**
 * The edits crane's editing commands make to one image, as pure-ish functions over EditableImage:
 * append layers (with a history entry each), change the config (labels, env, entrypoint, …),
 * set manifest annotations, flatten every layer into one (whiteouts applied), rebase onto a new
 * base. Layers are built into the EditSource; unchanged blobs are only referenced.
 */
import { PassThrough } from "node:stream";
import { TcraneError } from "../errors.js";
import type { Descriptor, HistoryEntry, Platform } from "../image/types.js";
import { flattenLayers } from "../ops/export.js";
import type { Source } from "../transports/types.js";
import type { EditSource } from "./edit-source.js";
import { configPlatform, layerMediaType, relabel, type EditableImage } from "./image.js";
import { layerFromStream, type BuiltLayer } from "./layer.js";

/** Append built layers (bottom first) with one history entry each. */
export function appendLayers(img: EditableImage, layers: Array<BuiltLayer & { createdBy?: string; comment?: string }>): void {
  img.config.history ??= [];
  for (const l of layers) {
    img.manifest.layers.push(relabel(img, { ...l.descriptor, mediaType: layerMediaType(img) }));
    img.config.rootfs.diff_ids.push(l.diffId);
    const h: HistoryEntry = { created_by: l.createdBy ?? "tcrane append" };
    if (l.comment) h.comment = l.comment;
    img.config.history.push(h);
  }
}

/** Config changes of `mutate` (crane's flags). Absent fields are left as they are. */
export interface ConfigChanges {
  labels?: Record<string, string>;
  /** Set or override (in place, order kept) environment variables. */
  env?: Record<string, string>;
  /** New entrypoint; as docker does, it clears Cmd (unless `cmd` is given too). */
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  workdir?: string;
  /** Replace the exposed ports (`8080` means `8080/tcp`). */
  exposedPorts?: string[];
  /** New os/arch/variant/os.version. */
  platform?: Platform;
}

/** Apply config changes (crane mutate). */
export function mutateConfig(img: EditableImage, ch: ConfigChanges): void {
  const c = img.config;
  c.config ??= {};
  const rc = c.config;
  if (ch.labels && Object.keys(ch.labels).length) rc.Labels = { ...(rc.Labels ?? {}), ...ch.labels };
  if (ch.env && Object.keys(ch.env).length) {
    const left = new Map(Object.entries(ch.env));
    const windows = c.os === "windows";
    const out: string[] = [];
    for (const old of rc.Env ?? []) {
      const i = old.indexOf("=");
      if (i < 0) throw new TcraneError("MALFORMED", `invalid environment entry in the config: ${old}`, { what: img.from?.digest });
      const key = old.slice(0, i);
      const hit = [...left.keys()].find((k) => (windows ? k.toUpperCase() === key.toUpperCase() : k === key));
      if (hit !== undefined) {
        out.push(`${key}=${left.get(hit)}`);
        left.delete(hit);
      } else out.push(old);
    }
    for (const [k, v] of left) out.push(`${windows ? k.toUpperCase() : k}=${v}`);
    rc.Env = out;
  }
  if (ch.entrypoint && ch.entrypoint.length) {
    rc.Entrypoint = ch.entrypoint;
    delete rc.Cmd; // docker's behaviour
  }
  if (ch.cmd && ch.cmd.length) rc.Cmd = ch.cmd;
  if (ch.user) rc.User = ch.user;
  if (ch.workdir) rc.WorkingDir = ch.workdir;
  if (ch.exposedPorts && ch.exposedPorts.length) {
    rc.ExposedPorts = Object.fromEntries(ch.exposedPorts.map((p) => [p.includes("/") ? p : `${p}/tcp`, {}]));
  }
  if (ch.platform) {
    c.os = ch.platform.os;
    c.architecture = ch.platform.architecture;
    if (ch.platform.variant) c.variant = ch.platform.variant;
    else delete c.variant;
    if (ch.platform["os.version"]) c["os.version"] = ch.platform["os.version"];
    else delete c["os.version"];
  }
}

/** Merge annotations into the image manifest. */
export function annotate(img: EditableImage, annotations: Record<string, string> | undefined): void {
  if (!annotations || Object.keys(annotations).length === 0) return;
  img.manifest.annotations = { ...(img.manifest.annotations ?? {}), ...annotations };
}

/**
 * crane flatten: every layer squashed into one (whiteouts applied, as `export` does), history
 * replaced by one entry whose comment keeps the old history, manifest annotations kept.
 */
export async function flattenImage(edit: EditSource, source: Source, img: EditableImage, opts: { signal?: AbortSignal; use?: string } = {}): Promise<void> {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const writing = flattenLayers(source, img.manifest.layers, out, { signal: opts.signal }).then(
    () => out.end(),
    (e: unknown) => out.destroy(e as Error),
  );
  const layer = await layerFromStream(edit, out, { mediaType: layerMediaType(img), signal: opts.signal, plain: true }, img.from?.digest ?? "flatten");
  await writing;
  const oldHistory = JSON.stringify(img.config.history ?? []);
  img.manifest.layers = [];
  img.config.rootfs.diff_ids = [];
  img.config.history = [];
  appendLayers(img, [{ ...layer, createdBy: `${opts.use ?? "tcrane"} flatten ${img.from?.digest ?? ""}`.trim(), comment: oldHistory }]);
}

/** One side of a rebase: an image and the source its blobs come from. */
export interface BaseImage {
  image: EditableImage;
  source: Source;
  /** Its manifest digest and name, for the base-image annotations. */
  digest: string;
  name?: string;
}

/**
 * crane rebase (ggcr mutate.Rebase): the bottom layers of `img` must be `oldBase`'s layers; they are
 * replaced by `newBase`'s. The config keeps img's runtime config and takes os/arch from the new base;
 * diff_ids and history are new base's followed by img's above the old base. The new base's layers
 * are routed to its source (mounted, never downloaded, when it is a registry).
 */
export function rebaseImage(edit: EditSource, img: EditableImage, oldBase: BaseImage, newBase: BaseImage, what = "image"): void {
  const oldLayers = oldBase.image.manifest.layers;
  const layers = img.manifest.layers;
  if (oldLayers.length > layers.length) {
    throw new TcraneError("USAGE", `is not based on ${oldBase.name ?? oldBase.digest} (too few layers)`, { what });
  }
  oldLayers.forEach((l, i) => {
    if (l.digest !== layers[i]!.digest) throw new TcraneError("USAGE", `is not based on ${oldBase.name ?? oldBase.digest} (layer ${i} differs)`, { what });
  });
  const n = oldLayers.length;
  const nb = newBase.image;
  for (const l of nb.manifest.layers) edit.route(l.digest, newBase.source);
  const oldHistLen = (oldBase.image.config.history ?? []).length;
  const c = img.config;
  const p = configPlatform(nb.config);
  c.architecture = p.architecture;
  c.os = p.os;
  if (nb.config["os.version"]) c["os.version"] = nb.config["os.version"];
  else delete c["os.version"];
  if (nb.config.variant) c.variant = nb.config.variant;
  c.rootfs = { type: "layers", diff_ids: [...nb.config.rootfs.diff_ids, ...c.rootfs.diff_ids.slice(n)] };
  c.history = [...(nb.config.history ?? []), ...(c.history ?? []).slice(oldHistLen)];
  const newLayers: Descriptor[] = [...nb.manifest.layers.map((l) => relabel(img, l)), ...layers.slice(n)];
  img.manifest.layers = newLayers;
  const ann: Record<string, string> = { "org.opencontainers.image.base.digest": newBase.digest };
  if (newBase.name) ann["org.opencontainers.image.base.name"] = newBase.name;
  annotate(img, ann);
}
