/**
 * The transport registry: skopeo-style `transport:ref` names parsed in one place, and one explicit
 * map from transport name to its source and sink factories (no import-side-effect registration).
 * The file transports are imported only when used: a registry-to-registry copy never evaluates
 * their tar, gzip and stream modules (a shorter CLI start).
 */
import { TcraneError } from "../errors.js";
import { parseReference, type Reference } from "../reference/index.js";
import type { RegistryClient } from "../registry/client.js";
import { pushScopes } from "../registry/blob.js";
import { RegistryTarget } from "./registry.js";
import { isCloser, isCommitter, type Lister, type Sink, type Source } from "./types.js";

export * from "./types.js";
export { RegistryTarget } from "./registry.js";

/** The places an image can live. */
export type TransportName = "registry" | "docker-archive" | "oci" | "oci-archive";

/** A parsed image location (`docker://REF`, `docker-archive:PATH[:REF]`, `oci:DIR[:NAME]`, `oci-archive:PATH[:NAME]`, or a bare REF). */
export interface Place {
  transport: TransportName;
  /** The string as given. */
  raw: string;
  /** registry: the parsed reference. */
  reference?: Reference;
  /** file transports: the path (`-` = stdin/stdout). */
  path?: string;
  /** file transports: the REF/NAME after the path, if any. */
  name?: string;
}

const FILE_PREFIXES: Array<[string, TransportName]> = [
  ["docker-archive:", "docker-archive"],
  ["oci-archive:", "oci-archive"],
  ["oci:", "oci"],
];

/** Parse an image location. `PATH` ends at the first `:` after the prefix. */
export function parsePlace(raw: string): Place {
  if (raw.startsWith("docker://")) {
    return { transport: "registry", raw, reference: parseReference(raw.slice("docker://".length)) };
  }
  for (const [prefix, transport] of FILE_PREFIXES) {
    if (raw.startsWith(prefix)) {
      const rest = raw.slice(prefix.length);
      if (!rest) throw new TcraneError("USAGE", `${prefix} needs a path`, { what: raw });
      const i = rest.indexOf(":");
      const path = i < 0 ? rest : rest.slice(0, i);
      const name = i < 0 ? undefined : rest.slice(i + 1) || undefined;
      if (!path) throw new TcraneError("USAGE", `${prefix} needs a path`, { what: raw });
      return { transport, raw, path, name };
    }
  }
  return { transport: "registry", raw, reference: parseReference(raw) };
}

/** Is this place a file transport? */
export function isFilePlace(p: Place): boolean {
  return p.transport !== "registry";
}

/** What every open needs. */
export interface TransportContext {
  client: RegistryClient;
}

/** An opened source and the reference to resolve in it. */
export interface OpenedSource {
  source: Source;
  /** What to pass to source.resolve(). */
  ref: string | undefined;
  place: Place;
  /** Archives and layouts: every image they hold. */
  lister?: Lister;
  close(): Promise<void>;
}

/** Open a place for reading. */
export async function openSource(place: Place, ctx: TransportContext): Promise<OpenedSource> {
  switch (place.transport) {
    case "registry": {
      const r = place.reference!;
      return { source: new RegistryTarget(ctx.client, r), ref: r.digest ?? r.tag, place, close: async () => {} };
    }
    case "docker-archive": {
      const { openDockerArchiveSource } = await import("./docker-archive-source.js");
      const s = await openDockerArchiveSource(place.path!);
      return { source: s, lister: s, ref: place.name, place, close: () => s.close() };
    }
    case "oci": {
      const { openOciLayoutSource } = await import("./oci-layout.js");
      const s = await openOciLayoutSource(place.path!);
      return { source: s, lister: s, ref: place.name, place, close: () => s.close() };
    }
    case "oci-archive": {
      const { openOciArchiveSource } = await import("./oci-archive.js");
      const s = await openOciArchiveSource(place.path!);
      return { source: s, lister: s, ref: place.name, place, close: () => s.close() };
    }
  }
}

/** Options for opening a sink. */
export interface SinkOptions {
  /** docker-archive form (default tarball, crane's). */
  format?: "tarball" | "legacy";
  /** Compress a written archive (default: gzip when the path ends in .gz or .tgz). */
  compress?: "gzip" | "none";
  /** oci-archive: also write Docker's manifest.json (bundles `docker load` can read). */
  dockerManifest?: boolean;
}

/** An opened sink with the tags to point at the root and its commit/abort. */
export interface OpenedSink {
  sink: Sink;
  place: Place;
  /** The tag/name in the destination, if the place names one. */
  tag: string | undefined;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

function compressionFor(path: string, opts: SinkOptions): "gzip" | "none" {
  if (opts.compress) return opts.compress;
  return /\.(t?gz)$/i.test(path) || path.endsWith(".tar.gz") ? "gzip" : "none";
}

/** Open a place for writing. Files are written under a temp name and renamed by commit(). */
export async function openSink(place: Place, ctx: TransportContext, opts: SinkOptions = {}): Promise<OpenedSink> {
  let sink: Sink;
  let tag: string | undefined;
  switch (place.transport) {
    case "registry": {
      const r = place.reference!;
      // One token for push+pull up front: later HEADs reuse it instead of asking for a pull token first.
      await ctx.client.token(r.registry, pushScopes(r));
      sink = new RegistryTarget(ctx.client, r);
      tag = r.digest ? undefined : r.tag;
      break;
    }
    case "docker-archive": {
      const { createDockerArchiveSink } = await import("./docker-archive-sink.js");
      sink = await createDockerArchiveSink(place.path!, { format: opts.format, compress: compressionFor(place.path!, opts) });
      tag = place.name;
      break;
    }
    case "oci": {
      const { createOciLayoutSink } = await import("./oci-layout.js");
      sink = await createOciLayoutSink(place.path!);
      tag = place.name;
      break;
    }
    case "oci-archive": {
      const { createOciArchiveSink } = await import("./oci-archive.js");
      sink = await createOciArchiveSink(place.path!, { compress: compressionFor(place.path!, opts), dockerManifest: opts.dockerManifest });
      tag = place.name;
      break;
    }
  }
  return {
    sink,
    place,
    tag,
    commit: async () => {
      if (isCommitter(sink)) await sink.commit();
      if (isCloser(sink)) await sink.close();
    },
    abort: async () => {
      if (isCommitter(sink)) await sink.abort();
      if (isCloser(sink)) await sink.close().catch(() => {});
    },
  };
}
