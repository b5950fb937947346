/**
 * The bad-archive generator: good docker-archive and OCI-archive bytes for a test image, their
 * member map, and the ways archives made elsewhere go wrong — truncation at chosen points, a
 * flipped bit inside one member, a broken gzip trailer, escaping paths (`../x`, `/abs`, symlinks
 * out of the archive), duplicate entries, missing layers, oversized manifests, decompression bombs.
 */
import { createHash } from "node:crypto";
import { createGzip, gzipSync } from "node:zlib";
import { Readable } from "node:stream";
import { craneMembers } from "../../fixtures/archives.js";
import { MT, REF_NAME, nodeBlobs, sha256, tarBytes, type Image, type Layer, type Member } from "../../fixtures/images.js";

const hex = (d: string) => d.slice("sha256:".length);

/** crane `tarball` members of `img` tagged `tag` (manifest.json last). */
export function dockerMembers(img: Image, tag: string): Member[] {
  return craneMembers([{ img, tags: [tag] }]);
}

/** OCI image layout members of `img` (ref.name `name`), as an oci-archive holds them. */
export function ociMembers(img: Image, name: string): Member[] {
  return [
    { name: "oci-layout", data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: "index.json", data: JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifestDesc, annotations: { [REF_NAME]: name } }] }) },
    { name: "blobs/sha256/", type: "directory" },
    ...nodeBlobs(img).map(([d, b]) => ({ name: `blobs/sha256/${hex(d.digest)}`, data: b })),
  ];
}

/** Where a member sits in a plain tar. */
export interface MemberPos {
  name: string;
  header: number;
  data: number;
  size: number;
}

/** The members of a plain ustar archive (as tar-stream writes short names), by position. */
export function memberMap(tar: Buffer): MemberPos[] {
  const out: MemberPos[] = [];
  for (let pos = 0; pos + 512 <= tar.length; ) {
    const h = tar.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    const nul = h.indexOf(0);
    const name = h.toString("utf8", 0, nul < 0 || nul > 100 ? 100 : nul);
    const size = parseInt(h.toString("latin1", 124, 136).replace(/\0.*$/, "").trim() || "0", 8);
    out.push({ name, header: pos, data: pos + 512, size });
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The member named `name` (throws when absent). */
export function member(map: MemberPos[], name: string): MemberPos {
  const m = map.find((x) => x.name === name);
  if (!m) throw new Error(`no member ${name}`);
  return m;
}

/** A copy of `b` cut to `n` bytes. */
export function truncated(b: Buffer, n: number): Buffer {
  return Buffer.from(b.subarray(0, n));
}

/** A copy of `b` with one bit flipped at `offset`. */
export function flipped(b: Buffer, offset: number, bit = 0): Buffer {
  const c = Buffer.from(b);
  c[offset] = c[offset]! ^ (1 << bit);
  return c;
}

/**
 * Ten truncation points of a docker-archive, each with a label: inside the first header, at a
 * header boundary, inside the config, inside each layer, just before and inside manifest.json.
 */
export function truncationPoints(tar: Buffer): Array<{ label: string; at: number }> {
  const map = memberMap(tar);
  const cfg = map[0]!;
  const layer0 = map[1]!;
  const layer1 = map[2]!;
  const man = member(map, "manifest.json");
  return [
    { label: "1 byte", at: 1 },
    { label: "inside the first header (300 B)", at: 300 },
    { label: "after the first header", at: cfg.data },
    { label: "inside the config", at: cfg.data + Math.floor(cfg.size / 2) },
    { label: "at the second header", at: layer0.header },
    { label: "10% into layer 1", at: layer0.data + Math.floor(layer0.size / 10) },
    { label: "last byte of layer 1 missing", at: layer0.data + layer0.size - 1 },
    { label: "inside layer 2", at: layer1.data + Math.floor(layer1.size / 2) },
    { label: "before manifest.json", at: man.header },
    { label: "inside manifest.json", at: man.data + Math.floor(man.size / 2) },
  ];
}

/** A gzip stream whose CRC32 trailer is wrong (the deflate data is intact). */
export function badGzipTrailer(plain: Buffer): Buffer {
  const gz = gzipSync(plain);
  const c = Buffer.from(gz);
  c[c.length - 8] = c[c.length - 8]! ^ 0xff;
  return c;
}

/** A gzip "bomb": `bytes` of zeros compressed (about 1000:1). */
export async function gzipZeros(bytes: number): Promise<Buffer> {
  const chunk = Buffer.alloc(1 << 20);
  const gz = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on("data", (c: Buffer) => parts.push(c));
  const done = new Promise<void>((r) => gz.on("end", () => r()));
  async function* gen() {
    for (let left = bytes; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
  }
  Readable.from(gen()).pipe(gz);
  await done;
  return Buffer.concat(parts);
}

/** A layer tar whose single file is `size` zeros, gzip-compressed: a decompression bomb (its `tar` is not kept: empty). */
export async function bombLayer(size: number): Promise<Layer> {
  // a tar header for one big file, the zeros, and the end blocks; diffID computed over the same stream
  const header = (await tarBytes([{ name: "zeros.bin", data: Buffer.alloc(0) }])).subarray(0, 512);
  const h = Buffer.from(header);
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, 12, "latin1");
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  const pad = (512 - (size % 512)) % 512;
  const total = 512 + size + pad + 1024;
  const hash = createHash("sha256");
  const gz = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on("data", (c: Buffer) => parts.push(c));
  const done = new Promise<void>((r) => gz.on("end", () => r()));
  const zeros = Buffer.alloc(1 << 20);
  async function* gen() {
    hash.update(h);
    yield h;
    for (let left = total - 512; left > 0; left -= zeros.length) {
      const c = left >= zeros.length ? zeros : zeros.subarray(0, left);
      hash.update(c);
      yield c;
    }
  }
  Readable.from(gen()).pipe(gz);
  await done;
  const gzBytes = Buffer.concat(parts);
  return { tar: Buffer.alloc(0), blob: gzBytes, diffId: `sha256:${hash.digest("hex")}`, desc: { mediaType: MT.OCI_LAYER_GZIP, digest: sha256(gzBytes), size: gzBytes.length } };
}

export { tarBytes };
