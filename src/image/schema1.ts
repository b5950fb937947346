/**
 * Docker schema 1 manifests (`application/vnd.docker.distribution.manifest.v1+prettyjws`, signed,
 * and `…v1+json`): their digest, their layers, and their conversion to a schema 2 image.
 *
 * - Digest (distribution's rule): a signed manifest is a libtrust "pretty JWS": the manifest JSON
 *   with a `"signatures"` array spliced in before its closing brace. Every signature's `protected`
 *   header (base64url JSON) holds `formatLength` and `formatTail`; the payload is the first
 *   `formatLength` bytes followed by `formatTail`, i.e. the manifest without its signatures. The
 *   digest covers the payload only. distribution stores the payload, re-signs it with its own key on
 *   every GET (ECDSA signatures are randomized, so the served bytes change from one GET to the next)
 *   and reports the payload's digest as `Docker-Content-Digest`. Everything tcrane reads from a
 *   schema 1 manifest is read from the payload, so bytes outside it (the signatures) cannot change
 *   what a verified digest means.
 * - Layers: `fsLayers[i].blobSum` with `history[i].v1Compatibility`, newest first; entries marked
 *   `"throwaway": true` changed no files (their blob is an empty tar). Consecutive entries with the
 *   same v1 id are one layer (containers/image's fixManifestLayers).
 * - Conversion (as skopeo does): a schema 2 config from the newest v1Compatibility (minus id, parent,
 *   parent_id, layer_id, throwaway, Size) with `rootfs.diff_ids` (the uncompressed layer digests) and
 *   `history` built from every entry; a schema 2 manifest listing the non-throwaway layers, oldest
 *   first. Both are serialized the way Go's encoding/json does (sorted top-level keys, `<>&` escaped),
 *   so the config digest (the image ID) equals skopeo's for the same image.
 */
import { TcraneError } from "../errors.js";
import { digestOf, isDigest, type DigestAlgorithm } from "./digest.js";
import {
  DOCKER_CONFIG,
  DOCKER_MANIFEST_SCHEMA1,
  DOCKER_MANIFEST_SCHEMA1_SIGNED,
  DOCKER_MANIFEST_SCHEMA2,
  isSchema1,
} from "./mediatypes.js";
import type { Descriptor } from "./types.js";

/** The media type distribution gives schema 1 layer blobs (they carry none of their own). */
export const SCHEMA1_LAYER = "application/vnd.docker.container.image.rootfs.diff+x-gtar";

/** One parsed `v1Compatibility` entry (the fields tcrane reads; the rest is kept raw). */
export interface V1Compatibility {
  id: string;
  parent?: string;
  created?: string;
  author?: string;
  comment?: string;
  throwaway?: boolean;
  container_config?: { Cmd?: string[] | null } | null;
  [other: string]: unknown;
}

/** A schema 1 manifest read from its payload. */
export interface Schema1 {
  name: string;
  tag: string;
  architecture: string;
  /** blobSums, newest first, after merging repeated v1 ids. */
  fsLayers: string[];
  /** The raw `v1Compatibility` strings, parallel to fsLayers. */
  history: string[];
  /** The parsed `v1Compatibility` entries, parallel to fsLayers. */
  v1: V1Compatibility[];
  /** The bytes the digest covers (the manifest without signatures). */
  payload: Buffer;
  /** Whether the manifest carried libtrust signatures. */
  signed: boolean;
}

/** One layer of a schema 1 image, oldest first. */
export interface Schema1Layer {
  digest: string;
  /** A `throwaway` entry: no filesystem change, left out of a schema 2 image. */
  throwaway: boolean;
  v1: V1Compatibility;
}

type Obj = Record<string, unknown>;

function malformed(reason: string, what?: string): TcraneError {
  return new TcraneError("MALFORMED", `Docker schema 1 manifest: ${reason}`, { what });
}

function parseObject(text: string, what: string | undefined, field: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw malformed(`${field}: invalid JSON: ${(e as Error).message}`, what);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw malformed(`${field}: must be a JSON object`, what);
  return v as Obj;
}

function base64url(s: unknown, field: string, what?: string): Buffer {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw malformed(`${field}: not base64url`, what);
  return Buffer.from(s, "base64url");
}

/**
 * The payload of a schema 1 manifest (libtrust's ParsePrettySignature): with `"signatures"`, the
 * first `formatLength` bytes plus `formatTail`, on which every signature must agree; without, the
 * bytes as they are. Throws MALFORMED.
 */
export function schema1Payload(bytes: Buffer, what?: string): { payload: Buffer; signed: boolean } {
  const o = parseObject(bytes.toString("utf8"), what, "manifest");
  if (o.signatures === undefined) return { payload: bytes, signed: false };
  if (!Array.isArray(o.signatures) || o.signatures.length === 0) throw malformed("signatures: must be a non-empty array", what);
  let length: number | undefined;
  let tail: Buffer | undefined;
  o.signatures.forEach((sig, i) => {
    const field = `signatures[${i}].protected`;
    if (!sig || typeof sig !== "object") throw malformed(`signatures[${i}]: must be an object`, what);
    const header = parseObject(base64url((sig as Obj).protected, field, what).toString("utf8"), what, field);
    const n = header.formatLength;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw malformed(`${field}: formatLength missing or not an integer`, what);
    const t = base64url(header.formatTail, `${field}.formatTail`, what);
    if (length !== undefined && (length !== n || !tail!.equals(t))) throw malformed("signatures disagree on formatLength/formatTail", what);
    length = n;
    tail = t;
  });
  if (length! > bytes.length) throw malformed(`formatLength ${length} is past the end of the manifest (${bytes.length} bytes)`, what);
  return { payload: Buffer.concat([bytes.subarray(0, length), tail!]), signed: true };
}

/** True when `bytes` parse as a JSON object with `schemaVersion: 1` (a schema 1 manifest under a generic content type). */
function looksSchema1(bytes: Uint8Array): boolean {
  // cheap test first: every schema 1 manifest names its version near the top
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString("latin1");
  if (!/"schemaVersion"\s*:\s*1\b/.test(head)) return false;
  try {
    return (JSON.parse(Buffer.from(bytes).toString("utf8")) as Obj).schemaVersion === 1;
  } catch {
    return false;
  }
}

/**
 * The digest of manifest bytes as registries name them: for a schema 1 manifest (by its media type,
 * or by `schemaVersion: 1` when the type says nothing) the digest of its payload, else of the bytes.
 */
export function manifestDigest(bytes: Buffer, mediaType?: string, algorithm: DigestAlgorithm = "sha256", what?: string): string {
  if (isSchema1(mediaType) || ((mediaType === undefined || !mediaType.startsWith("application/vnd.")) && looksSchema1(bytes))) {
    return digestOf(schema1Payload(bytes, what).payload, algorithm);
  }
  return digestOf(bytes, algorithm);
}

/** The media type of schema 1 bytes: signed (prettyjws) when they carry signatures, else v1+json. */
export function schema1MediaType(bytes: Buffer): string {
  try {
    return (JSON.parse(bytes.toString("utf8")) as Obj).signatures !== undefined ? DOCKER_MANIFEST_SCHEMA1_SIGNED : DOCKER_MANIFEST_SCHEMA1;
  } catch {
    return DOCKER_MANIFEST_SCHEMA1;
  }
}

const V1_ID = /^[a-f0-9]{64}$/;

/**
 * Parse and check a schema 1 manifest (from its payload): `fsLayers` and `history` of the same
 * non-zero length, valid blobSums, v1Compatibility objects with 64-hex ids forming one parent chain
 * (repeated consecutive ids merged, as containers/image does). Throws MALFORMED naming the field.
 */
export function parseSchema1(bytes: Buffer, what?: string): Schema1 {
  const { payload, signed } = schema1Payload(bytes, what);
  const o = parseObject(payload.toString("utf8"), what, "payload");
  if (o.schemaVersion !== 1) throw malformed("schemaVersion: must be 1", what);
  for (const f of ["name", "tag", "architecture"]) {
    if (o[f] !== undefined && typeof o[f] !== "string") throw malformed(`${f}: must be a string`, what);
  }
  if (!Array.isArray(o.fsLayers)) throw malformed("fsLayers: must be an array", what);
  if (!Array.isArray(o.history)) throw malformed("history: must be an array", what);
  if (o.fsLayers.length !== o.history.length) throw malformed(`${o.history.length} history entries for ${o.fsLayers.length} fsLayers`, what);
  if (o.fsLayers.length === 0) throw malformed("fsLayers: no layers", what);
  const fsLayers = o.fsLayers.map((l, i) => {
    const d = (l as Obj | null)?.blobSum;
    if (typeof d !== "string" || !isDigest(d)) throw malformed(`fsLayers[${i}].blobSum: invalid digest`, what);
    return d;
  });
  const history = o.history.map((h, i) => {
    const s = (h as Obj | null)?.v1Compatibility;
    if (typeof s !== "string") throw malformed(`history[${i}].v1Compatibility: must be a string`, what);
    return s;
  });
  const v1 = history.map((s, i) => {
    const c = parseObject(s, what, `history[${i}].v1Compatibility`) as V1Compatibility;
    if (typeof c.id !== "string" || !V1_ID.test(c.id)) throw malformed(`history[${i}].v1Compatibility.id: must be 64 hex digits`, what);
    for (const f of ["parent", "created", "author", "comment"]) {
      if (c[f] !== undefined && typeof c[f] !== "string") throw malformed(`history[${i}].v1Compatibility.${f}: must be a string`, what);
    }
    const cmd = c.container_config?.Cmd;
    if (cmd !== undefined && cmd !== null && (!Array.isArray(cmd) || cmd.some((x) => typeof x !== "string"))) {
      throw malformed(`history[${i}].v1Compatibility.container_config.Cmd: must be an array of strings`, what);
    }
    return c;
  });
  // containers/image's fixManifestLayers: the base has no parent, ids are unique except for
  // consecutive repeats (merged, keeping the newest), and each entry's parent is the next one's id
  if (v1[v1.length - 1]!.parent) throw malformed("the base layer has a parent id", what);
  const seen = new Set<string>();
  v1.forEach((c, i) => {
    if (seen.has(c.id) && v1[i - 1]!.id !== c.id) throw malformed(`v1 id ${c.id} appears more than once`, what);
    seen.add(c.id);
  });
  for (let i = v1.length - 2; i >= 0; i--) {
    if (v1[i]!.id === v1[i + 1]!.id) {
      fsLayers.splice(i, 1);
      history.splice(i, 1);
      v1.splice(i, 1);
    } else if ((v1[i]!.parent ?? "") !== v1[i + 1]!.id) {
      throw malformed(`history[${i}]: parent id ${v1[i]!.parent ?? "(none)"} is not the next entry's id ${v1[i + 1]!.id}`, what);
    }
  }
  return {
    name: (o.name as string | undefined) ?? "",
    tag: (o.tag as string | undefined) ?? "",
    architecture: (o.architecture as string | undefined) ?? "",
    fsLayers,
    history,
    v1,
    payload,
    signed,
  };
}

/** The layers of a schema 1 image, oldest first (throwaway entries included and marked). */
export function schema1Layers(m: Schema1): Schema1Layer[] {
  const out: Schema1Layer[] = [];
  for (let i = m.fsLayers.length - 1; i >= 0; i--) out.push({ digest: m.fsLayers[i]!, throwaway: m.v1[i]!.throwaway === true, v1: m.v1[i]! });
  return out;
}

// ---- Go encoding/json, as far as the conversion needs it ----

/** A string as Go's encoding/json writes it: `<`, `>`, `&`, U+2028/9 and control characters as \u escapes. */
export function goString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd"; // a lone surrogate: Go writes U+FFFD
    else out += ch;
  }
  return out + '"';
}

/** Raw JSON text compacted as Go's json.Marshal writes a json.RawMessage (whitespace out, `<>&` escaped in strings). */
export function goCompact(raw: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (inString) {
      if (ch === "\\") {
        out += ch + raw[i + 1]!;
        i++;
      } else if (ch === '"') {
        inString = false;
        out += ch;
      } else if (ch === "<" || ch === ">" || ch === "&" || ch === "\u2028" || ch === "\u2029") {
        out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
      } else out += ch;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (ch !== " " && ch !== "\t" && ch !== "\n" && ch !== "\r") out += ch;
  }
  return out;
}

/** The top-level members of a JSON object's text, each value as its raw text (later duplicates win, as in Go). */
export function rawMembers(text: string, what?: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw malformed(`v1Compatibility: malformed JSON at offset ${i}`, what);
  };
  const skipString = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail();
    i++;
  };
  const skipValue = () => {
    ws();
    if (text[i] === '"') return skipString();
    if (text[i] === "{" || text[i] === "[") {
      let depth = 0;
      while (i < text.length) {
        const ch = text[i]!;
        if (ch === '"') {
          skipString();
          continue;
        }
        if (ch === "{" || ch === "[") depth++;
        else if (ch === "}" || ch === "]") {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      fail();
    }
    const start = i;
    while (i < text.length && !",}] \t\n\r".includes(text[i]!)) i++;
    if (i === start) fail();
  };
  ws();
  if (text[i] !== "{") fail();
  i++;
  ws();
  if (text[i] === "}") return out;
  for (;;) {
    ws();
    const ks = i;
    skipString();
    const key = JSON.parse(text.slice(ks, i)) as string;
    ws();
    if (text[i] !== ":") fail();
    i++;
    ws();
    const vs = i;
    skipValue();
    out.set(key, text.slice(vs, i));
    ws();
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text[i] === "}") return out;
    fail();
  }
}

/**
 * A time as Go's time.Time writes it (RFC 3339 with nanoseconds, trailing zeros dropped, `Z` for a
 * zero offset); the zero time when absent, as Go leaves an unset field.
 */
export function goTime(s: string | undefined, what?: string): string {
  if (s === undefined) return "0001-01-01T00:00:00Z";
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(s);
  if (!m) throw malformed(`created: ${JSON.stringify(s)} is not an RFC 3339 time`, what);
  const frac = (m[2] ?? "").slice(0, 9).replace(/0+$/, "");
  const zone = m[3]!.toUpperCase() === "Z" || /^[+-]00:00$/.test(m[3]!) ? "Z" : m[3]!;
  return `${m[1]}${frac ? `.${frac}` : ""}${zone}`;
}

/**
 * The schema 2 config of a schema 1 image, byte for byte as containers/image builds it
 * (Schema1.ToSchema2Config): the newest v1Compatibility's members, sorted, without id, parent,
 * parent_id, layer_id, throwaway and Size, plus `rootfs` with `diffIds` (one per non-throwaway layer,
 * oldest first) and `history` (every entry, oldest first).
 */
export function schema1ToSchema2Config(m: Schema1, diffIds: string[], what?: string): Buffer {
  const members = rawMembers(m.history[0]!, what);
  for (const k of ["id", "parent", "parent_id", "layer_id", "throwaway", "Size"]) members.delete(k);
  const history = schema1Layers(m).map((l) => {
    let h = `{"created":${goString(goTime(l.v1.created, what))}`;
    if (l.v1.author) h += `,"author":${goString(l.v1.author)}`;
    const by = (l.v1.container_config?.Cmd ?? []).join(" ");
    if (by) h += `,"created_by":${goString(by)}`;
    if (l.v1.comment) h += `,"comment":${goString(l.v1.comment)}`;
    if (l.throwaway) h += `,"empty_layer":true`;
    return h + "}";
  });
  const out = new Map<string, string>();
  for (const [k, v] of members) out.set(k, goCompact(v));
  out.set("rootfs", `{"type":"layers"${diffIds.length ? `,"diff_ids":[${diffIds.map(goString).join(",")}]` : ""}}`);
  out.set("history", `[${history.join(",")}]`);
  const keys = [...out.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))); // Go sorts map keys by bytes
  return Buffer.from(`{${keys.map((k) => `${goString(k)}:${out.get(k)}`).join(",")}}`);
}

/** A schema 2 manifest over a config and layers, serialized as containers/image does (compact, mediaType, size, digest). */
export function schema2Manifest(config: Descriptor, layers: Descriptor[]): { bytes: Buffer; descriptor: Descriptor } {
  const d = (x: Descriptor) => `{"mediaType":${goString(x.mediaType)},"size":${x.size},"digest":${goString(x.digest)}}`;
  const bytes = Buffer.from(`{"schemaVersion":2,"mediaType":${goString(DOCKER_MANIFEST_SCHEMA2)},"config":${d(config)},"layers":[${layers.map(d).join(",")}]}`);
  return { bytes, descriptor: { mediaType: DOCKER_MANIFEST_SCHEMA2, digest: digestOf(bytes), size: bytes.length } };
}

/** The config descriptor of converted config bytes. */
export function schema2ConfigDescriptor(config: Buffer): Descriptor {
  return { mediaType: DOCKER_CONFIG, digest: digestOf(config), size: config.length };
}

/** What skopeo's inspect shows of a schema 1 image (containers/image Schema1.Inspect). */
export interface Schema1Inspect {
  Created?: string;
  DockerVersion?: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  /** Every fsLayer, oldest first, throwaway ones included (sizes unknown: -1). */
  Layers: string[];
  Env: string[] | null;
}

/** The inspect fields of a schema 1 image, from its newest v1Compatibility. */
export function schema1Inspect(m: Schema1, what?: string): Schema1Inspect {
  const top = m.v1[0]!;
  const config = (top.config && typeof top.config === "object" ? top.config : undefined) as { Labels?: Record<string, string> | null; Env?: string[] | null } | undefined;
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    Created: goTime(top.created, what),
    DockerVersion: str(top.docker_version),
    Labels: config?.Labels ?? null,
    Architecture: str(top.architecture),
    Variant: str(top.variant),
    Os: str(top.os),
    Layers: schema1Layers(m).map((l) => l.digest),
    Env: config?.Env ?? null,
  };
}
