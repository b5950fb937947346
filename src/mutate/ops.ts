/**
 * crane's editing commands as library functions: append, mutate, flatten, rebase, index
 * list/filter/append. Each builds the new blobs in an EditSource and hands the new root to the one
 * engine (copyDescriptor) with the destination sink from openSink: no write loop of its own.
 * Destinations follow crane: `-t` names the new tag; without it the input tag is overwritten (an
 * input given by digest ⇒ the result is pushed by digest to its repository); `-o PATH` writes a
 * docker tarball instead of pushing.
 */
import { TcraneError } from "../errors.js";
import type { Descriptor, Platform } from "../image/types.js";
import { OCI_LAYER_GZIP, isIndex } from "../image/mediatypes.js";
import { selectManifest } from "../image/platform.js";
import { openSink, openSource, parsePlace, type OpenedSource, type Place, type TransportContext } from "../transports/index.js";
import { copyDescriptor, type CopyResult } from "../transfer/engine.js";
import type { OpOptions } from "../transfer/ops.js";
import { repoTagFor } from "../transfer/ops.js";
import { EditSource, mountingSink } from "./edit-source.js";
import { editRoot, emptyImage, emptyIndex, readImage, readIndex, writeImage, type EditableImage } from "./image.js";
import { annotate, appendLayers, flattenImage, mutateConfig, rebaseImage, type BaseImage, type ConfigChanges } from "./image-edit.js";
import { descriptorsToAppend, filterIndex, listIndex, type IndexEntry, type PlatformPattern } from "./index-edit.js";
import { layerFromFile, type BuiltLayer } from "./layer.js";

/** Options every editing operation takes (engine options of src/transfer/ops.ts). */
export type EditOptions = OpOptions;

/** Where an edit goes: `tag` (any place; a registry tag or digest reference) or `output` (a docker tarball). */
export interface Destination {
  /** New tag/reference (default: the input, as crane). */
  tag?: string;
  /** Push by digest to this repository instead. */
  repo?: string;
  /** Write a docker tarball to this path instead of pushing. */
  output?: string;
}

/** What an edit produced. */
export interface EditResult {
  /** `registry/repo@digest` for a registry, else the place written. */
  destination: string;
  digest: string;
  mediaType: string;
  /** Images edited (several for an index). */
  images: number;
  copy: CopyResult;
}

interface Target {
  place: Place;
  tags: string[];
}

/** Resolve crane's destination rules to a place and tags. `input` is the edited image as given. */
function targetFor(input: string | undefined, d: Destination): Target {
  if (d.output) {
    const place: Place = { transport: "docker-archive", raw: `docker-archive:${d.output}`, path: d.output };
    const name = d.tag ?? input;
    const ref = name ? parsePlace(name).reference : undefined;
    return { place, tags: ref ? [repoTagFor(ref)] : [] };
  }
  if (d.repo) {
    if (d.tag) throw new TcraneError("USAGE", "--repo cannot be combined with a tag");
    const place = parsePlace(d.repo);
    if (!place.reference) throw new TcraneError("USAGE", "--repo names a registry repository", { what: d.repo });
    return { place, tags: [] };
  }
  const to = d.tag ?? input;
  if (!to) throw new TcraneError("USAGE", "a tag (-t) or an output file (-o) is required");
  const place = parsePlace(to);
  if (place.reference) return { place, tags: place.reference.digest ? [] : [place.reference.tag!] };
  return { place, tags: place.name ? [place.name] : [] };
}

/** Open the sink of a target, copy the edited root into it through the engine, commit. */
async function publish(ctx: TransportContext, edit: EditSource, root: Descriptor, images: number, t: Target, o: EditOptions): Promise<EditResult> {
  const opened = await openSink(t.place, ctx, { format: "tarball" });
  let ok = false;
  try {
    const r = await copyDescriptor(edit, root, mountingSink(opened.sink), {
      jobs: o.jobs,
      signal: o.signal,
      onEvent: o.onEvent,
      allowNondistributable: o.allowNondistributable,
      limit: o.limit,
      tags: t.tags,
    });
    await opened.commit();
    ok = true;
    const digest = r.descriptor.digest;
    const destination = t.place.reference ? `${t.place.reference.context}@${digest}` : t.place.raw;
    return { destination, digest, mediaType: r.descriptor.mediaType, images, copy: r };
  } finally {
    if (!ok) await opened.abort().catch(() => {});
  }
}

/** Does the destination hold indexes? (docker tarballs do not: one platform is edited.) */
function holdsIndexes(t: Target): boolean {
  return t.place.transport !== "docker-archive";
}

/** Open a place, resolve its root, run `fn`, always close. */
async function withInput<T>(ctx: TransportContext, image: string, o: EditOptions, fn: (os: OpenedSource, root: Descriptor) => Promise<T>): Promise<T> {
  const os = await openSource(parsePlace(image), ctx);
  try {
    const root = await os.source.resolve(os.ref, { signal: o.signal });
    return await fn(os, root);
  } finally {
    await os.close().catch(() => {});
  }
}

/** Build the layer files once (gzip), in the edit's temp dir. */
async function buildLayers(edit: EditSource, paths: string[], o: EditOptions): Promise<BuiltLayer[]> {
  const out: BuiltLayer[] = [];
  for (const p of paths) out.push(await layerFromFile(edit, p, { mediaType: OCI_LAYER_GZIP, signal: o.signal }));
  return out;
}

/** crane rewrites layers for Windows bases (Files/ prefix, Hives/, security descriptors): not done here, so refused. */
function refuseWindows(img: EditableImage, what: string): void {
  if (img.config.os === "windows") {
    throw new TcraneError("UNSUPPORTED", "appending layers to a Windows image is not supported (its layers need the Files/ and Hives/ layout)", { what });
  }
}

/** Options of append. */
export interface AppendOptions extends EditOptions, Destination {
  /** Base image (any place); absent: an empty image. */
  base?: string;
  /** Tar files (`-` = stdin), bottom first. */
  layers: string[];
  /** Empty base with OCI media types (default Docker, as crane). */
  ociEmptyBase?: boolean;
  /** Annotate the result with the base image's name and digest. */
  setBaseImageAnnotations?: boolean;
}

/** `append`: new layers on top of a base image (each platform of an index base). */
export async function append(ctx: TransportContext, o: AppendOptions): Promise<EditResult> {
  if (o.base && o.ociEmptyBase) throw new TcraneError("USAGE", "--oci-empty-base and --base are mutually exclusive");
  if (!o.layers.length) throw new TcraneError("USAGE", "at least one layer (-f) is required");
  if (!o.tag && !o.output) throw new TcraneError("USAGE", "a new tag (-t) or an output file (-o) is required");
  const target = targetFor(undefined, o);
  if (!o.base) {
    const edit = new EditSource();
    try {
      const img = emptyImage(o.ociEmptyBase === true, o.platform && o.platform !== "all" ? o.platform : undefined);
      refuseWindows(img, "--platform");
      appendLayers(img, await buildLayers(edit, o.layers, o));
      return await publish(ctx, edit, writeImage(edit, img), 1, target, o);
    } finally {
      await edit.close();
    }
  }
  const baseRef = parsePlace(o.base).reference;
  return withInput(ctx, o.base, o, async (os, root) => {
    const edit = new EditSource(os.source);
    try {
      const layers = await buildLayers(edit, o.layers, o);
      const r = await editRoot(
        edit,
        os.source,
        root,
        (img) => {
          refuseWindows(img, o.base!);
          appendLayers(img, layers);
          if (o.setBaseImageAnnotations) {
            const ann: Record<string, string> = { "org.opencontainers.image.base.digest": img.from!.digest };
            if (baseRef && !baseRef.digest) ann["org.opencontainers.image.base.name"] = baseRef.name;
            annotate(img, ann);
          }
        },
        { platform: o.platform, indexes: holdsIndexes(target), signal: o.signal },
      );
      return await publish(ctx, edit, r.descriptor, r.images, target, o);
    } finally {
      await edit.close();
    }
  });
}

/** Options of mutate. */
export interface MutateOptions extends EditOptions, Destination {
  changes?: ConfigChanges;
  /** Manifest annotations (on an index: on the index and on each edited image). */
  annotations?: Record<string, string>;
  /** Tar files to append (`--append`). */
  append?: string[];
}

/** `mutate`: change the config (labels, env, entrypoint, cmd, user, workdir, ports, platform), annotations, append layers. */
export async function mutate(ctx: TransportContext, image: string, o: MutateOptions): Promise<EditResult> {
  const target = targetFor(image, o);
  return withInput(ctx, image, o, async (os, root) => {
    const wholeIndex = isIndex(root.mediaType) && (o.platform === undefined || o.platform === "all") && holdsIndexes(target);
    if (wholeIndex && o.changes?.platform) {
      throw new TcraneError("USAGE", "--set-platform on an index would give every platform the same one: pick one with --platform", { what: image });
    }
    const edit = new EditSource(os.source);
    try {
      const layers = await buildLayers(edit, o.append ?? [], o);
      const r = await editRoot(
        edit,
        os.source,
        root,
        (img) => {
          if (layers.length) {
            refuseWindows(img, image);
            appendLayers(img, layers);
          }
          mutateConfig(img, o.changes ?? {});
          annotate(img, o.annotations);
        },
        { platform: o.platform, indexes: holdsIndexes(target), indexAnnotations: o.annotations, signal: o.signal },
      );
      return await publish(ctx, edit, r.descriptor, r.images, target, o);
    } finally {
      await edit.close();
    }
  });
}

/** `flatten`: every image's layers squashed into one (whiteouts applied). */
export async function flatten(ctx: TransportContext, image: string, o: EditOptions & Destination): Promise<EditResult> {
  const target = targetFor(image, o);
  return withInput(ctx, image, o, async (os, root) => {
    const edit = new EditSource(os.source);
    try {
      const r = await editRoot(edit, os.source, root, (img) => flattenImage(edit, os.source, img, { signal: o.signal }), {
        platform: o.platform,
        indexes: holdsIndexes(target),
        signal: o.signal,
      });
      return await publish(ctx, edit, r.descriptor, r.images, target, o);
    } finally {
      await edit.close();
    }
  });
}

/** Options of rebase. */
export interface RebaseOptions extends EditOptions, Destination {
  /** The base the image was built on (default: from its `org.opencontainers.image.base.*` annotations). */
  oldBase?: string;
  /** The base to put under it instead (default: the `org.opencontainers.image.base.name` annotation). */
  newBase?: string;
}

/** `rebase`: replace the old base's layers at the bottom of an image by the new base's (per platform for an index). */
export async function rebase(ctx: TransportContext, image: string, o: RebaseOptions): Promise<EditResult> {
  const target = targetFor(image, o);
  const opened = new Map<string, Promise<{ os: OpenedSource; root: Descriptor }>>();
  const open = (name: string) => {
    let p = opened.get(name);
    if (!p) {
      p = (async () => {
        const os = await openSource(parsePlace(name), ctx);
        return { os, root: await os.source.resolve(os.ref, { signal: o.signal }) };
      })();
      p.catch(() => {});
      opened.set(name, p);
    }
    return p;
  };
  const baseFor = async (name: string, platform: Platform): Promise<BaseImage> => {
    const { os, root } = await open(name);
    let desc = root;
    if (isIndex(root.mediaType)) {
      const want: Platform = { os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) };
      desc = selectManifest(await readIndex(os.source, root, o.signal), want, name);
    }
    const ref = parsePlace(name).reference;
    return { image: await readImage(os.source, desc, o.signal), source: os.source, digest: desc.digest, name: ref?.name };
  };
  try {
    return await withInput(ctx, image, o, async (os, root) => {
      const edit = new EditSource(os.source);
      try {
        const r = await editRoot(
          edit,
          os.source,
          root,
          async (img: EditableImage, platform: Platform) => {
            const ann = img.manifest.annotations ?? {};
            const newName = o.newBase ?? ann["org.opencontainers.image.base.name"];
            if (!newName) throw new TcraneError("USAGE", "--new_base is required (the image has no org.opencontainers.image.base.name annotation)", { what: image });
            let oldName = o.oldBase;
            if (!oldName && ann["org.opencontainers.image.base.digest"]) {
              const nr = parsePlace(newName).reference;
              if (nr) oldName = `${nr.context}@${ann["org.opencontainers.image.base.digest"]}`;
            }
            if (!oldName) throw new TcraneError("USAGE", "--old_base is required (the image has no org.opencontainers.image.base.digest annotation)", { what: image });
            const [oldBase, newBase] = await Promise.all([baseFor(oldName, platform), baseFor(newName, platform)]);
            rebaseImage(edit, img, oldBase, newBase, image);
          },
          { platform: o.platform, indexes: holdsIndexes(target), signal: o.signal },
        );
        return await publish(ctx, edit, r.descriptor, r.images, target, o);
      } finally {
        await edit.close();
      }
    });
  } finally {
    for (const p of opened.values()) await p.then((x) => x.os.close(), () => {}).catch(() => {});
  }
}

/** `index list`: the children of an index. */
export async function indexList(ctx: TransportContext, image: string, o: EditOptions = {}): Promise<{ digest: string; mediaType: string; manifests: IndexEntry[] }> {
  return withInput(ctx, image, o, async (os, root) => {
    if (!isIndex(root.mediaType)) throw new TcraneError("USAGE", `expected an index, found ${root.mediaType}`, { what: image });
    return { digest: root.digest, mediaType: root.mediaType, manifests: listIndex(await readIndex(os.source, root, o.signal)) };
  });
}

/** `index filter`: keep only the children of the given platforms. */
export async function indexFilter(ctx: TransportContext, image: string, o: EditOptions & Destination & { platforms: PlatformPattern[] }): Promise<EditResult> {
  if (!o.platforms.length) throw new TcraneError("USAGE", "at least one --platform is required");
  const target = targetFor(image, o);
  return withInput(ctx, image, o, async (os, root) => {
    if (!isIndex(root.mediaType)) throw new TcraneError("USAGE", `expected an index, found ${root.mediaType}`, { what: image });
    const idx = await readIndex(os.source, root, o.signal);
    const kept = filterIndex(idx, o.platforms);
    if (kept.manifests.length === 0) throw new TcraneError("NOT_FOUND", "no manifest of the index matches the platforms given", { what: image });
    const edit = new EditSource(os.source);
    try {
      return await publish(ctx, edit, edit.addJson(kept, root.mediaType), kept.manifests.length, target, o);
    } finally {
      await edit.close();
    }
  });
}

/** Options of index append. */
export interface IndexAppendOptions extends EditOptions, Destination {
  /** References (any place) of manifests or indexes to append. */
  manifests: string[];
  /** Empty base index as a Docker manifest list (default OCI). */
  dockerEmptyBase?: boolean;
  /** An appended index adds its children (default true, as crane). */
  flatten?: boolean;
}

/** `index append [BASE]`: an index (BASE's, or an empty one) with more manifests. */
export async function indexAppend(ctx: TransportContext, base: string | undefined, o: IndexAppendOptions): Promise<EditResult> {
  if (!base && !o.tag) throw new TcraneError("USAGE", "at least one of a base index or a tag (-t) is required");
  if (!o.manifests.length) throw new TcraneError("USAGE", "at least one manifest (-m) is required");
  const target = targetFor(base, o);
  const run = async (origin: OpenedSource | undefined, root: Descriptor | undefined) => {
    const edit = new EditSource(origin?.source);
    const sources: OpenedSource[] = [];
    try {
      let mediaType: string;
      let index;
      if (origin && root) {
        if (!isIndex(root.mediaType)) throw new TcraneError("USAGE", `expected an index, found ${root.mediaType}`, { what: base });
        mediaType = root.mediaType;
        index = await readIndex(origin.source, root, o.signal);
      } else ({ mediaType, index } = emptyIndex(o.dockerEmptyBase === true));
      for (const m of o.manifests) {
        const ms = await openSource(parsePlace(m), ctx);
        sources.push(ms);
        const desc = await ms.source.resolve(ms.ref, { signal: o.signal });
        index.manifests.push(...(await descriptorsToAppend(edit, ms.source, desc, { flatten: o.flatten, signal: o.signal })));
      }
      return await publish(ctx, edit, edit.addJson(index, mediaType), index.manifests.length, target, o);
    } finally {
      await edit.close();
      for (const s of sources) await s.close().catch(() => {});
    }
  };
  if (!base) return run(undefined, undefined);
  return withInput(ctx, base, o, (os, root) => run(os, root));
}
