import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync, gunzipSync } from "node:zlib";
import { TcraneError } from "../src/errors.js";
import { digestOf } from "../src/image/digest.js";
import * as mt from "../src/image/mediatypes.js";
import {
  EMPTY_DESCRIPTOR,
  children,
  parseAnyManifest,
  parseConfig,
  parseDescriptor,
  parseImageManifest,
  parseIndex,
} from "../src/image/manifest.js";
import { DEFAULT_PLATFORM, formatPlatform, parsePlatform, platformMatches, selectManifest } from "../src/image/platform.js";
import { decompressed, decompressor, gzipStream, sniff, type Compression } from "../src/image/compression.js";
import type { Descriptor, Platform } from "../src/image/types.js";

const d = (c: string) => digestOf(c);
const desc = (mediaType: string, content: string, extra: Partial<Descriptor> = {}): Descriptor => ({
  mediaType,
  digest: d(content),
  size: Buffer.byteLength(content),
  ...extra,
});

const config = desc(mt.OCI_CONFIG, "config");
const layers = [desc(mt.OCI_LAYER_GZIP, "l1"), desc(mt.OCI_LAYER_ZSTD, "l2")];
const ociManifest = {
  schemaVersion: 2,
  mediaType: mt.OCI_MANIFEST,
  config,
  layers,
  annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
  subject: desc(mt.OCI_MANIFEST, "subject"),
  artifactType: "application/vnd.example+json",
  "x-unknown": { kept: true },
};
const dockerManifest = {
  schemaVersion: 2,
  mediaType: mt.DOCKER_MANIFEST_SCHEMA2,
  config: desc(mt.DOCKER_CONFIG, "dconfig"),
  layers: [desc(mt.DOCKER_LAYER, "dl1"), desc(mt.DOCKER_FOREIGN_LAYER, "dl2", { urls: ["https://example.com/l"] })],
};
const platforms: Platform[] = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64", variant: "v8" },
  { os: "linux", architecture: "arm", variant: "v7" },
];
const ociIndex = {
  schemaVersion: 2,
  mediaType: mt.OCI_INDEX,
  manifests: platforms.map((p, i) => desc(mt.OCI_MANIFEST, `m${i}`, { platform: p })),
  annotations: { a: "b" },
};
const dockerList = { ...ociIndex, mediaType: mt.DOCKER_MANIFEST_LIST, manifests: ociIndex.manifests.map((m) => ({ ...m, mediaType: mt.DOCKER_MANIFEST_SCHEMA2 })) };
const imageConfig = {
  architecture: "amd64",
  os: "linux",
  config: { Env: ["PATH=/bin"], Cmd: ["sh"] },
  rootfs: { type: "layers", diff_ids: [d("a"), d("b")] },
  history: [{ created_by: "x" }],
  "moby.buildkit.buildinfo.v1": "keep-me",
};

const j = (v: unknown) => Buffer.from(JSON.stringify(v));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

test("parsers accept valid OCI and Docker manifests and indexes, keeping unknown fields", () => {
  const m = parseImageManifest(j(ociManifest));
  assert.equal(m.layers.length, 2);
  assert.equal(m.subject?.digest, d("subject"));
  assert.equal(m.artifactType, "application/vnd.example+json");
  assert.deepEqual((m as unknown as Record<string, unknown>)["x-unknown"], { kept: true });
  assert.equal(parseImageManifest(JSON.stringify(dockerManifest)).layers[1]!.urls![0], "https://example.com/l");
  assert.equal(parseIndex(j(ociIndex)).manifests[1]!.platform!.variant, "v8");
  assert.equal(parseIndex(j(dockerList)).manifests.length, 3);
  const withoutMediaType = clone(ociManifest) as Record<string, unknown>;
  delete withoutMediaType.mediaType;
  assert.equal(parseImageManifest(j(withoutMediaType)).config.digest, config.digest);
  const c = parseConfig(j(imageConfig));
  assert.equal(c.rootfs.diff_ids.length, 2);
  assert.equal(c["moby.buildkit.buildinfo.v1"], "keep-me");
});

test("parseDescriptor: embedded data and the OCI empty descriptor", () => {
  assert.equal(digestOf(Buffer.from(EMPTY_DESCRIPTOR.data!, "base64")), EMPTY_DESCRIPTOR.digest);
  assert.equal(Buffer.from(EMPTY_DESCRIPTOR.data!, "base64").toString(), "{}");
  assert.deepEqual(parseDescriptor({ ...EMPTY_DESCRIPTOR }), { ...EMPTY_DESCRIPTOR });
  assert.equal(parseDescriptor(JSON.stringify(EMPTY_DESCRIPTOR)).size, 2);
  assert.throws(() => parseDescriptor({ ...EMPTY_DESCRIPTOR, data: "e3s=" }), /data: does not match the digest/);
  assert.throws(() => parseDescriptor({ ...EMPTY_DESCRIPTOR, data: "e30AAA==" }), /data: holds 4 bytes, size says 2/);
  assert.throws(() => parseDescriptor({ ...EMPTY_DESCRIPTOR, data: "not base64!" }), /data: must be base64/);
});

/** [what to break, the body, expected message] */
function broken(): Array<[string, unknown, RegExp, "manifest" | "index" | "config"]> {
  const idx = (f: (x: typeof ociIndex) => void) => {
    const x = clone(ociIndex);
    f(x);
    return x;
  };
  const man = (f: (x: Record<string, any>) => void) => {
    const x = clone(ociManifest) as Record<string, any>;
    f(x);
    return x;
  };
  const cfg = (f: (x: Record<string, any>) => void) => {
    const x = clone(imageConfig) as Record<string, any>;
    f(x);
    return x;
  };
  return [
    ["index digest", idx((x) => (x.manifests[2]!.digest = "sha256:nothex")), /^manifests\[2\]\.digest: invalid digest$/, "index"],
    ["index size", idx((x) => ((x.manifests[0] as any).size = -1)), /^manifests\[0\]\.size: must be a non-negative integer$/, "index"],
    ["index size type", idx((x) => ((x.manifests[0] as any).size = "12")), /^manifests\[0\]\.size: must be/, "index"],
    ["platform arch", idx((x) => delete (x.manifests[1]!.platform as any).architecture), /^manifests\[1\]\.platform\.architecture: is required$/, "index"],
    ["platform features", idx((x) => ((x.manifests[1]!.platform as any).features = [1])), /^manifests\[1\]\.platform\.features\[0\]: must be a string$/, "index"],
    ["missing manifests", idx((x) => delete (x as any).manifests), /^manifests: is required$/, "index"],
    ["manifests not array", idx((x) => ((x as any).manifests = {})), /^manifests: must be an array$/, "index"],
    ["index annotations", idx((x) => ((x as any).annotations = { a: 1 })), /^annotations\["a"\]: must be a string$/, "index"],
    ["index mediaType", idx((x) => ((x as any).mediaType = mt.OCI_MANIFEST)), /^mediaType: expected an index/, "index"],
    ["schemaVersion", idx((x) => ((x as any).schemaVersion = 3)), /^schemaVersion: must be 2$/, "index"],
    ["layer mediaType", man((x) => delete x.layers[1].mediaType), /^layers\[1\]\.mediaType: is required$/, "manifest"],
    ["layer urls", man((x) => (x.layers[0].urls = [5])), /^layers\[0\]\.urls\[0\]: must be a string$/, "manifest"],
    ["missing config", man((x) => delete x.config), /^config: is required$/, "manifest"],
    ["config digest", man((x) => (x.config.digest = `sha256:${"A".repeat(64)}`)), /^config\.digest: invalid digest$/, "manifest"],
    ["missing layers", man((x) => delete x.layers), /^layers: is required$/, "manifest"],
    ["subject", man((x) => (x.subject.digest = "nope")), /^subject\.digest: invalid digest$/, "manifest"],
    ["artifactType", man((x) => (x.artifactType = 7)), /^artifactType: must be a string$/, "manifest"],
    ["manifest mediaType", man((x) => (x.mediaType = mt.OCI_INDEX)), /^mediaType: expected an image manifest/, "manifest"],
    ["array body", [], /^must be a JSON object$/, "manifest"],
    ["config arch", cfg((x) => delete x.architecture), /^architecture: is required$/, "config"],
    ["config diff_ids", cfg((x) => (x.rootfs.diff_ids[1] = "x")), /^rootfs\.diff_ids\[1\]: invalid digest$/, "config"],
    ["config rootfs type", cfg((x) => (x.rootfs.type = "other")), /^rootfs\.type: must be "layers"$/, "config"],
    ["config rootfs", cfg((x) => delete x.rootfs), /^rootfs: is required$/, "config"],
    ["config history", cfg((x) => (x.history = [1])), /^history\[0\]: must be a JSON object$/, "config"],
  ];
}

test("every parser error is MALFORMED and names the bad field", () => {
  for (const [name, body, msg, kind] of broken()) {
    const parse = kind === "index" ? parseIndex : kind === "manifest" ? parseImageManifest : parseConfig;
    assert.throws(
      () => parse(j(body), "some/what"),
      (e: unknown) => {
        assert.ok(e instanceof TcraneError, name);
        assert.equal(e.code, "MALFORMED", name);
        assert.equal(e.what, "some/what", name);
        assert.match(e.message, msg, name);
        return true;
      },
      name,
    );
  }
  assert.throws(() => parseIndex("{not json"), (e: unknown) => e instanceof TcraneError && e.code === "MALFORMED" && /invalid JSON/.test(e.message));
});

test("parseAnyManifest: kind from body mediaType, content type, or shape", () => {
  const a = parseAnyManifest(j(ociIndex));
  assert.equal(a.kind, "index");
  assert.equal(a.mediaType, mt.OCI_INDEX);
  const b = parseAnyManifest(j(dockerManifest), `${mt.DOCKER_MANIFEST_SCHEMA2}; charset=utf-8`);
  assert.equal(b.kind, "manifest");
  assert.equal(b.mediaType, mt.DOCKER_MANIFEST_SCHEMA2);
  const noMt = clone(ociIndex) as Record<string, unknown>;
  delete noMt.mediaType;
  assert.equal(parseAnyManifest(j(noMt), mt.DOCKER_MANIFEST_LIST).mediaType, mt.DOCKER_MANIFEST_LIST);
  assert.equal(parseAnyManifest(j(noMt)).mediaType, mt.OCI_INDEX);
  assert.equal(parseAnyManifest(j(noMt), "application/json").mediaType, mt.OCI_INDEX);
  const noMtManifest = clone(ociManifest) as Record<string, unknown>;
  delete noMtManifest.mediaType;
  const c = parseAnyManifest(j(noMtManifest));
  assert.equal(c.kind, "manifest");
  if (c.kind === "manifest") assert.equal(c.value.layers.length, 2);
});

test("parseAnyManifest: mismatch, schema1, unknown types", () => {
  assert.throws(() => parseAnyManifest(j(ociIndex), mt.DOCKER_MANIFEST_LIST), { code: "MALFORMED", message: /does not match the content type/ });
  assert.throws(() => parseAnyManifest(j({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] })), { code: "UNSUPPORTED", message: /Docker schema 1/ });
  assert.throws(() => parseAnyManifest(j({ schemaVersion: 1 }), mt.DOCKER_MANIFEST_SCHEMA1_SIGNED), { code: "UNSUPPORTED" });
  assert.throws(() => parseAnyManifest(j({ ...ociIndex, mediaType: "application/vnd.example.thing" })), {
    code: "UNKNOWN_MEDIA_TYPE",
    message: /unknown manifest media type application\/vnd\.example\.thing/,
  });
  assert.throws(() => parseAnyManifest(j(imageConfig), mt.OCI_CONFIG), { code: "UNKNOWN_MEDIA_TYPE", message: /not a manifest or an index/ });
  assert.throws(() => parseAnyManifest(j({ schemaVersion: 2 })), { code: "UNKNOWN_MEDIA_TYPE" });
  assert.throws(() => parseAnyManifest(j({ schemaVersion: 2, mediaType: mt.OCI_INDEX })), { code: "MALFORMED", message: /^manifests: is required/ });
});

test("children(): the one graph derivation", () => {
  assert.deepEqual(children(mt.OCI_INDEX, j(ociIndex)), ociIndex.manifests);
  assert.deepEqual(children(mt.DOCKER_MANIFEST_LIST, j(dockerList)).map((x) => x.digest), ociIndex.manifests.map((x) => x.digest));
  assert.deepEqual(children(mt.OCI_MANIFEST, j(ociManifest)), [config, ...layers]);
  const dk = children(mt.DOCKER_MANIFEST_SCHEMA2, JSON.stringify(dockerManifest));
  assert.deepEqual(dk.map((x) => x.mediaType), [mt.DOCKER_CONFIG, mt.DOCKER_LAYER, mt.DOCKER_FOREIGN_LAYER]);
  assert.deepEqual(children(mt.OCI_LAYER_GZIP, Buffer.from("not json at all")), []);
  assert.deepEqual(children(mt.OCI_CONFIG, j(imageConfig)), []);
  assert.throws(() => children(mt.OCI_MANIFEST, j({ schemaVersion: 2, layers: [] })), /config: is required/);
});

test("media type predicates, compression and Docker/OCI equivalents", () => {
  const rows: Array<[string, { index?: boolean; image?: boolean; schema1?: boolean; layer?: boolean; config?: boolean; dist?: boolean; comp?: Compression }]> = [
    [mt.OCI_INDEX, { index: true }],
    [mt.DOCKER_MANIFEST_LIST, { index: true }],
    [mt.OCI_MANIFEST, { image: true }],
    [mt.DOCKER_MANIFEST_SCHEMA2, { image: true }],
    [mt.OCI_CONFIG, { config: true }],
    [mt.DOCKER_CONFIG, { config: true }],
    [mt.OCI_LAYER, { layer: true, comp: "none" }],
    [mt.OCI_LAYER_GZIP, { layer: true, comp: "gzip" }],
    [mt.OCI_LAYER_ZSTD, { layer: true, comp: "zstd" }],
    [mt.DOCKER_LAYER, { layer: true, comp: "gzip" }],
    [mt.DOCKER_UNCOMPRESSED_LAYER, { layer: true, comp: "none" }],
    [mt.DOCKER_FOREIGN_LAYER, { layer: true, comp: "gzip", dist: false }],
    [mt.OCI_RESTRICTED_LAYER, { layer: true, comp: "none", dist: false }],
    [mt.OCI_RESTRICTED_LAYER_GZIP, { layer: true, comp: "gzip", dist: false }],
    [mt.OCI_RESTRICTED_LAYER_ZSTD, { layer: true, comp: "zstd", dist: true }],
    [mt.OCI_EMPTY, {}],
    [mt.DOCKER_MANIFEST_SCHEMA1, { schema1: true }],
    [mt.DOCKER_MANIFEST_SCHEMA1_SIGNED, { schema1: true }],
  ];
  for (const [t, w] of rows) {
    assert.equal(mt.isIndex(t), !!w.index, t);
    assert.equal(mt.isImageManifest(t), !!w.image, t);
    assert.equal(mt.isManifest(t), !!(w.index || w.image || w.schema1), t);
    assert.equal(mt.isSchema1(t), !!w.schema1, t);
    assert.equal(mt.isLayer(t), !!w.layer, t);
    assert.equal(mt.isConfig(t), !!w.config, t);
    assert.equal(mt.isDistributable(t), w.dist ?? true, t);
    assert.equal(mt.layerCompression(t), w.comp, t);
    assert.equal(mt.isKnown(t), true, t);
  }
  assert.equal(mt.isKnown("application/vnd.example"), false);
  assert.equal(mt.layerCompression("application/vnd.example"), undefined);
  for (const [docker, oci] of [
    [mt.DOCKER_MANIFEST_SCHEMA2, mt.OCI_MANIFEST],
    [mt.DOCKER_MANIFEST_LIST, mt.OCI_INDEX],
    [mt.DOCKER_CONFIG, mt.OCI_CONFIG],
    [mt.DOCKER_LAYER, mt.OCI_LAYER_GZIP],
    [mt.DOCKER_UNCOMPRESSED_LAYER, mt.OCI_LAYER],
  ] as const) {
    assert.equal(mt.toOci(docker), oci);
    assert.equal(mt.toDocker(oci), docker);
  }
  assert.equal(mt.toDocker(mt.OCI_LAYER_ZSTD), mt.OCI_LAYER_ZSTD);
  assert.equal(mt.toOci(mt.OCI_EMPTY), mt.OCI_EMPTY);
});

test("parsePlatform / formatPlatform", () => {
  assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64", variant: "v8" });
  assert.deepEqual(parsePlatform("windows/amd64:10.0.17763.4010"), { os: "windows", architecture: "amd64", "os.version": "10.0.17763.4010" });
  for (const s of ["linux/amd64", "linux/arm/v7", "windows/amd64:10.0.1"]) assert.equal(formatPlatform(parsePlatform(s)), s);
  for (const s of ["linux", "", "linux/", "/amd64", "linux/arm/v7/x", "a/b:c:d", "linux/am d64", "all"]) {
    assert.throws(() => parsePlatform(s), (e: unknown) => e instanceof TcraneError && e.code === "INVALID_PLATFORM" && e.what === s, s);
  }
  assert.equal(formatPlatform(DEFAULT_PLATFORM), "linux/amd64");
});

test("platformMatches: ggcr rules (table)", () => {
  const P = (s: string, extra: Partial<Platform> = {}): Platform => ({ ...parsePlatform(s), ...extra });
  const rows: Array<[Platform, Platform | undefined, boolean]> = [
    [P("linux/amd64"), P("linux/amd64"), true],
    [P("linux/amd64"), P("linux/arm64"), false],
    [P("linux/amd64"), P("windows/amd64"), false],
    [P("linux/amd64"), undefined, true], // a missing platform is linux/amd64
    [P("linux/arm64"), undefined, false],
    [P("linux/amd64"), P("linux/amd64/v2"), true], // variant ignored when not wanted
    [P("linux/amd64/v2"), P("linux/amd64"), false],
    [P("linux/amd64/v3"), P("linux/amd64/v2"), false],
    [P("linux/arm/v7"), P("linux/arm/v7"), true],
    [P("linux/arm/v7"), P("linux/arm/v6"), false],
    [P("linux/arm/v7"), P("linux/arm"), false],
    [P("linux/arm"), P("linux/arm/v6"), true],
    [P("linux/arm64"), P("linux/arm64/v8"), true],
    [P("linux/arm64/v8"), P("linux/arm64/v8"), true],
    [P("linux/arm64/v8"), P("linux/arm64"), true], // arm64 without variant is v8
    [P("linux/arm64/v9"), P("linux/arm64"), false],
    [P("linux/arm64/v8"), P("linux/arm64/v9"), false],
    [P("windows/amd64:10.0.1"), P("windows/amd64:10.0.1"), true],
    [P("windows/amd64:10.0.1"), P("windows/amd64:10.0.2"), false],
    [P("windows/amd64:10.0.1"), P("windows/amd64"), false],
    [P("windows/amd64"), P("windows/amd64:10.0.2"), true], // os.version ignored when not wanted
    [P("linux/amd64", { features: ["sse4"] }), P("linux/amd64", { features: ["sse4", "avx"] }), true],
    [P("linux/amd64", { features: ["avx512"] }), P("linux/amd64", { features: ["sse4"] }), false],
    [P("windows/amd64", { "os.features": ["win32k"] }), P("windows/amd64", { "os.features": ["win32k"] }), true],
    [P("windows/amd64", { "os.features": ["win32k"] }), P("windows/amd64"), false],
    [P("linux/amd64"), P("linux/amd64", { features: ["x"] }), true],
    [P("unknown/unknown"), P("linux/amd64"), false],
  ];
  for (const [want, have, match] of rows) {
    assert.equal(platformMatches(want, have), match, `${formatPlatform(want)} vs ${have ? JSON.stringify(have) : "none"}`);
  }
});

test("selectManifest picks the first match or names the platform and the available ones", () => {
  const idx = parseIndex(j(ociIndex));
  idx.manifests.push(desc(mt.OCI_MANIFEST, "att", { platform: { os: "unknown", architecture: "unknown" } }));
  assert.equal(selectManifest(idx, parsePlatform("linux/arm64")).digest, d("m1"));
  assert.equal(selectManifest(idx, parsePlatform("linux/arm/v7")).digest, d("m2"));
  assert.equal(selectManifest(idx, DEFAULT_PLATFORM).digest, d("m0"));
  const noPlatform = { manifests: [desc(mt.OCI_MANIFEST, "x")] };
  assert.equal(selectManifest(noPlatform, DEFAULT_PLATFORM).digest, d("x"));
  assert.throws(
    () => selectManifest(idx, parsePlatform("linux/s390x"), "docker://x"),
    (e: unknown) =>
      e instanceof TcraneError &&
      e.code === "NOT_FOUND" &&
      e.what === "docker://x" &&
      e.message.includes("linux/s390x") &&
      e.message.endsWith("available: linux/amd64, linux/arm64/v8, linux/arm/v7"),
  );
});

/** Collect a stream into a Buffer. */
async function collect(s: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** A readable yielding `data` in chunks of `size` bytes. */
const chunked = (data: Buffer, size: number) => {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
};

const ZSTD_HELLO = Buffer.from("28b52ffd045891000068656c6c6f20746372616e65207a7374640a9a227ceb", "hex");

/** zstd-compress with the CLI (installed in CI). */
function zstdCli(data: Buffer): Buffer {
  const r = spawnSync("zstd", ["-q", "-c", "-3"], { input: data, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `zstd CLI failed or missing: ${r.error?.message ?? r.stderr?.toString()}`);
  return r.stdout;
}

test("sniff: gzip, zstd and none, without losing a byte", async () => {
  const plain = randomBytes(20_000);
  const gz = gzipSync(plain);
  for (const [data, want] of [
    [gz, "gzip"],
    [ZSTD_HELLO, "zstd"],
    [plain, "none"],
    [Buffer.from("ab"), "none"],
    [Buffer.from([0x1f, 0x8b]), "gzip"],
    [Buffer.alloc(0), "none"],
  ] as Array<[Buffer, Compression]>) {
    for (const size of [1, 3, 65536]) {
      const s = await sniff(chunked(data, size));
      assert.equal(s.compression, want, `${want} chunk ${size}`);
      assert.ok((await collect(s.stream)).equals(data), `${want} chunk ${size}: bytes preserved`);
    }
  }
});

test("sniff: an error of the input reaches the returned stream", async () => {
  const src = new Readable({ read() {} });
  src.push(Buffer.from([0x1f, 0x8b, 8, 0]));
  const s = await sniff(src);
  assert.equal(s.compression, "gzip");
  setImmediate(() => src.destroy(new Error("boom")));
  await assert.rejects(collect(s.stream), /boom/);
});

test("decompressors: gzip, zstd (fixed frame and CLI, two frames), none", async () => {
  const plain = randomBytes(150_000);
  const big = Buffer.concat([plain, Buffer.alloc(300_000, 7)]);
  assert.ok((await collect(chunked(gzipSync(big), 5000).pipe(decompressor("gzip")))).equals(big));
  assert.equal((await collect(chunked(ZSTD_HELLO, 4).pipe(decompressor("zstd")))).toString(), "hello tcrane zstd\n");
  const z = zstdCli(big);
  assert.ok((await collect(chunked(z, 7000).pipe(decompressor("zstd")))).equals(big));
  const two = Buffer.concat([zstdCli(Buffer.from("one ")), zstdCli(Buffer.from("two"))]);
  assert.equal((await collect(chunked(two, 5).pipe(decompressor("zstd")))).toString(), "one two");
  assert.ok((await collect(chunked(plain, 999).pipe(decompressor("none")))).equals(plain));
  const auto = await decompressed(chunked(z, 1000));
  assert.equal(auto.compression, "zstd");
  assert.ok((await collect(auto.stream)).equals(big));
});

test("gzipStream compresses at level 1 and round-trips", async () => {
  const data = Buffer.concat([randomBytes(10_000), Buffer.alloc(200_000, 1)]);
  const gz = await collect(chunked(data, 4096).pipe(gzipStream()));
  assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b]);
  assert.equal(gz[8], 4, "XFL=4: fastest compression");
  assert.ok(gunzipSync(gz).equals(data));
  assert.ok(gz.length < data.length / 2);
});

test("corrupt or truncated gzip/zstd ⇒ CORRUPT_ARCHIVE", async () => {
  const gz = gzipSync(randomBytes(50_000));
  const flipped = Buffer.from(gz);
  flipped[flipped.length - 6] ^= 0xff; // CRC
  const isCorrupt = (kind: string) => (e: unknown) =>
    e instanceof TcraneError && e.code === "CORRUPT_ARCHIVE" && e.exitCode === 2 && e.message.startsWith(`corrupt ${kind} data`);
  await assert.rejects(collect(chunked(flipped, 4096).pipe(decompressor("gzip"))), isCorrupt("gzip"));
  await assert.rejects(collect(chunked(gz.subarray(0, gz.length - 100), 4096).pipe(decompressor("gzip"))), isCorrupt("gzip"));
  await assert.rejects(collect(chunked(Buffer.from([0x1f, 0x8b, 0xff, 0xff, 1, 2, 3]), 4096).pipe(decompressor("gzip"))), isCorrupt("gzip"));
  await assert.rejects(collect(chunked(ZSTD_HELLO.subarray(0, 20), 7).pipe(decompressor("zstd"))), isCorrupt("zstd"));
  const badZstd = Buffer.concat([ZSTD_HELLO.subarray(0, 4), Buffer.alloc(40, 0xff)]);
  await assert.rejects(collect(chunked(badZstd, 7).pipe(decompressor("zstd"))), isCorrupt("zstd"));
});

test("sniff: destroying the returned stream early releases the input", async () => {
  const src = chunked(randomBytes(1 << 20), 1024);
  const s = await sniff(src);
  for await (const _ of s.stream) break; // stop after the first chunk
  await new Promise((r) => setImmediate(r));
  assert.equal(src.destroyed, true);
});

test("decompressed(): corrupt data is reported as CORRUPT_ARCHIVE to the reader", async () => {
  const gz = gzipSync(randomBytes(30_000));
  const bad = Buffer.concat([gz.subarray(0, 100), Buffer.alloc(200, 0xff)]);
  const r = await decompressed(chunked(bad, 64));
  assert.equal(r.compression, "gzip");
  await assert.rejects(collect(r.stream), { code: "CORRUPT_ARCHIVE" });
});
