/**
 * Docker schema 1 images made at test time, as docker ≤ 1.9 pushed them: gzip layers listed in
 * `fsLayers` newest first, one `history[].v1Compatibility` per entry (the newest holding the whole
 * v1 image config), `throwaway` entries for steps without a filesystem change, and a libtrust
 * "pretty" JWS signature: ECDSA P-256 with the public key as `jwk` in the header and
 * `protected` = {formatLength, formatTail, time} (node:crypto, no libtrust).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { gzipSync } from "node:zlib";
import { digestOf } from "../src/image/digest.js";
import { tarBytes } from "./fixtures/archives.js";

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * libtrust's key ID: SHA-256 of the key's DER (PKIX) form truncated to 240 bits, base32, in groups
 * of 4 (`ABCD:EFGH:…`). libtrust once hashed "EC"+curve+X+Y instead; distribution 2.8 checks the DER form.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const sum = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest().subarray(0, 30);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const byte of sum) bits += byte.toString(2).padStart(8, "0");
  let s = "";
  for (let i = 0; i + 5 <= bits.length; i += 5) s += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return s.match(/.{1,4}/g)!.join(":");
}

/** One signature of a libtrust pretty JWS over `payload` (the manifest without signatures). */
export function signPayload(payload: Buffer, key: { privateKey: KeyObject; publicKey: KeyObject }, time = new Date()): Record<string, unknown> {
  // formatLength ends before the whitespace and `}` that close the payload; formatTail is the rest
  let close = payload.length - 1;
  while (/\s/.test(String.fromCharCode(payload[close]!))) close--;
  let last = close - 1;
  while (/\s/.test(String.fromCharCode(payload[last]!))) last--;
  const formatLength = last + 1;
  const formatTail = payload.subarray(formatLength);
  // Go marshals the protected map with sorted keys
  const protectedHeader = b64url(JSON.stringify({ formatLength, formatTail: b64url(formatTail), time: time.toISOString().replace(/\.\d+Z$/, "Z") }));
  const signature = sign("sha256", Buffer.from(`${protectedHeader}.${b64url(payload)}`), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  const jwk = key.publicKey.export({ format: "jwk" }) as { x: string; y: string };
  return {
    header: { jwk: { crv: "P-256", kid: libtrustKeyId(key.publicKey), kty: "EC", x: jwk.x, y: jwk.y }, alg: "ES256" },
    signature: b64url(signature),
    protected: protectedHeader,
  };
}

/** libtrust's PrettySignature: the payload up to formatLength, the signatures under `"signatures"`, then `}`. */
export function prettySign(payload: Buffer, signatures: Record<string, unknown>[]): Buffer {
  const formatLength = JSON.parse(Buffer.from(signatures[0]!.protected as string, "base64url").toString()).formatLength as number;
  const indent = "   ";
  const sigs = JSON.stringify(signatures, null, indent).replace(/\n/g, `\n${indent}`);
  return Buffer.concat([payload.subarray(0, formatLength), Buffer.from(`,\n${indent}"signatures": ${sigs}\n}`)]);
}

/** A new ECDSA P-256 signing key. */
export function newSigningKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

/** A schema 1 image: its blobs, payload (unsigned manifest), signed manifest and what tests compare against. */
export interface Schema1Image {
  /** gzip layer blobs by digest (each once, though fsLayers may repeat one). */
  blobs: Map<string, Buffer>;
  /** The manifest without signatures (3-space indent, as docker wrote it): what the digest covers. */
  payload: Buffer;
  /** `payload` signed: the bytes pushed as `…manifest.v1+prettyjws`. */
  signed: Buffer;
  /** sha256 of `payload`: the digest distribution reports. */
  digest: string;
  /** Non-throwaway layers, oldest first: gzip digest and diff ID (uncompressed digest). */
  layers: Array<{ digest: string; diffId: string; size: number }>;
  /** v1 ids, newest first (as in history). */
  ids: string[];
}

/**
 * Build a schema 1 image: `steps` oldest first; a step with `files` adds a layer, one without is a
 * `throwaway` entry (an ENV or CMD) whose blobSum is the shared empty gzip tar, as docker wrote it.
 */
export async function makeSchema1Image(opts: {
  name: string;
  tag: string;
  steps?: Array<{ cmd: string; files?: Record<string, string> }>;
  key?: { privateKey: KeyObject; publicKey: KeyObject };
  time?: Date;
}): Promise<Schema1Image> {
  const steps = opts.steps ?? [
    { cmd: "/bin/sh -c #(nop) ADD file:base in /", files: { "etc/os-release": "NAME=schema1-test\n", "bin/hello": "#!/bin/sh\necho hello\n" } },
    { cmd: '/bin/sh -c #(nop) ENV GREETING=hi & <bye>' },
    { cmd: "/bin/sh -c echo app > /app.txt", files: { "app.txt": `app ${randomBytes(4).toString("hex")}\n` } },
    { cmd: '/bin/sh -c #(nop) CMD ["/bin/hello"]' },
  ];
  const empty = gzipSync(await tarBytes([]));
  const blobs = new Map<string, Buffer>();
  const entries: Array<{ blobSum: string; v1: Record<string, unknown> }> = [];
  const layers: Schema1Image["layers"] = [];
  let parent: string | undefined;
  const ids: string[] = [];
  for (const [i, step] of steps.entries()) {
    const id = randomBytes(32).toString("hex");
    let blob = empty;
    if (step.files) {
      const tar = await tarBytes(Object.entries(step.files).map(([name, data]) => ({ name, data })));
      blob = gzipSync(tar);
      layers.push({ digest: digestOf(blob), diffId: digestOf(tar), size: blob.length });
    }
    blobs.set(digestOf(blob), blob);
    const created = new Date(Date.UTC(2016, 0, 2, 3, 4, 5 + i, 0)).toISOString().replace(".000Z", `.${String(123456789 + i).padStart(9, "0")}Z`);
    const v1: Record<string, unknown> = { id, ...(parent ? { parent } : {}), created, container_config: { Cmd: step.cmd.split(" ").slice(0, 2).concat(step.cmd.split(" ").slice(2).join(" ")) } };
    if (!step.files) v1.throwaway = true;
    entries.push({ blobSum: digestOf(blob), v1 });
    ids.unshift(id);
    parent = id;
  }
  // the newest entry carries the whole v1 image config
  const top = entries[entries.length - 1]!.v1;
  Object.assign(top, {
    architecture: "amd64",
    os: "linux",
    docker_version: "1.9.1",
    author: "schema1 test <test@example.com>",
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"], Cmd: ["/bin/hello"], Labels: { "org.example.schema": "1" } },
    Size: 0,
  });
  entries.reverse();
  const manifest = {
    schemaVersion: 1,
    name: opts.name,
    tag: opts.tag,
    architecture: "amd64",
    fsLayers: entries.map((e) => ({ blobSum: e.blobSum })),
    history: entries.map((e) => ({ v1Compatibility: JSON.stringify(e.v1) })),
  };
  const payload = Buffer.from(JSON.stringify(manifest, null, 3));
  const key = opts.key ?? newSigningKey();
  const signed = prettySign(payload, [signPayload(payload, key, opts.time)]);
  return { blobs, payload, signed, digest: digestOf(payload), layers, ids };
}
