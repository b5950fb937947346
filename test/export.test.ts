/**
 * `tcrane export`: the flattened filesystem with docker's whiteout semantics, from a real registry,
 * an OCI layout and a docker tarball on stdin; checked against umoci's unpack (an independent
 * implementation of the OCI layer rules) and guarded against decompression bombs.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, lstat, writeFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { digestOf } from "../src/image/digest.js";
import type { Descriptor } from "../src/image/types.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { MemoryStore } from "./helpers/memory.js";
import { flattenLayers } from "../src/ops/export.js";
import { TcraneError } from "../src/errors.js";
import { PassThrough } from "node:stream";

interface Member {
  name: string;
  type?: "file" | "directory" | "symlink" | "link";
  body?: string;
  linkname?: string;
}

/** A layer tar built with tar-stream. */
async function layerTar(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const m of members) {
    const type = m.type ?? (m.name.endsWith("/") ? "directory" : "file");
    const mtime = new Date(1700000000000);
    if (type === "file") pack.entry({ name: m.name, type, mode: 0o644, mtime }, m.body ?? "");
    else pack.entry({ name: m.name, type, mode: 0o755, mtime, linkname: m.linkname });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Write an OCI layout holding one image (gzip layers) tagged `tag`; returns the manifest descriptor. */
async function writeLayout(dir: string, layers: Buffer[], tag: string): Promise<Descriptor> {
  const blobs = join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    const d = digestOf(b);
    await writeFile(join(blobs, d.slice(7)), b);
    return d;
  };
  const layerDescs: Descriptor[] = [];
  for (const l of layers) {
    const gz = gzipSync(l);
    layerDescs.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: await put(gz), size: gz.length });
  }
  const cfg = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z", rootfs: { type: "layers", diff_ids: layers.map((l) => digestOf(l)) }, config: {} }),
  );
  const config = { mediaType: "application/vnd.oci.image.config.v1+json", digest: await put(cfg), size: cfg.length };
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: layerDescs }));
  const manifest: Descriptor = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: await put(m), size: m.length };
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }] }),
  );
  return manifest;
}

/** Member names and bodies of a tar (names as written). */
async function readTar(bytes: Buffer): Promise<Map<string, { type: string; body: string; linkname?: string }>> {
  const out = new Map<string, { type: string; body: string; linkname?: string }>();
  const extract = tar.extract();
  Readable.from([bytes]).pipe(extract);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry as unknown as AsyncIterable<Buffer>) parts.push(c);
    assert.ok(!out.has(entry.header.name), `duplicate member ${entry.header.name}`);
    out.set(entry.header.name, { type: entry.header.type, body: Buffer.concat(parts).toString(), linkname: entry.header.linkname || undefined });
  }
  return out;
}

/** Every path under a directory, `dir/` for directories, with file bodies (what umoci unpacked). */
async function walk(root: string, rel = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await readdir(join(root, rel))) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, p));
    if (st.isDirectory()) {
      out.set(`${p}/`, "");
      for (const [k, v] of await walk(root, p)) out.set(k, v);
    } else if (st.isSymbolicLink()) out.set(p, `-> ${await readlink(join(root, p))}`);
    else out.set(p, await readFile(join(root, p), "utf8"));
  }
  return out;
}

function asTree(m: Map<string, { type: string; body: string; linkname?: string }>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of m) out.set(k, v.type === "symlink" ? `-> ${v.linkname}` : v.body);
  return out;
}

// bottom layer, then the layer that deletes, replaces and makes a directory opaque
const BOTTOM: Member[] = [
  { name: "etc/" },
  { name: "etc/keep", body: "keep" },
  { name: "etc/gone", body: "gone" },
  { name: "opq/" },
  { name: "opq/a", body: "a" },
  { name: "opq/sub/" },
  { name: "opq/sub/b", body: "b" },
  { name: "home/" },
  { name: "home/user/" },
  { name: "home/user/f", body: "f" },
  { name: "same", body: "old" },
  { name: "link", type: "symlink", linkname: "etc/keep" },
  { name: "wasdir/" },
  { name: "wasdir/inner", body: "inner" },
];
const TOP: Member[] = [
  { name: "./etc/.wh.gone", body: "" },
  { name: "./opq/" },
  { name: "./opq/.wh..wh..opq", body: "" },
  { name: "./opq/c", body: "c" },
  { name: "./home/.wh.user", body: "" },
  { name: "./same", body: "new" },
  { name: "./newdir/" },
  { name: "./newdir/n", body: "n" },
  { name: "./wasdir", body: "now a file" },
];
const EXPECTED = ["etc/", "etc/keep", "home/", "link", "newdir/", "newdir/n", "opq/", "opq/c", "same", "wasdir"];

let reg: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let layout: string;

before(async () => {
  requireBinary("skopeo");
  requireBinary("umoci");
  reg = await startDistribution({ mode: "anonymous" });
  work = await tempDir("tcrane-export-");
  layout = join(work.dir, "layout");
  await writeLayout(layout, [await layerTar(BOTTOM), await layerTar(TOP)], "v1");
  const r = await run("skopeo", ["copy", "--preserve-digests", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${reg.host}/x/fs:v1`]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await reg?.stop();
  await work?.cleanup();
});

test("export from a registry applies whiteouts and opaque directories as docker does", async () => {
  const out = join(work.dir, "reg.tar");
  const r = await tcrane(["export", `${reg.host}/x/fs:v1`, out]);
  assert.equal(r.code, 0, r.stderr);
  const members = await readTar(await readFile(out));
  assert.deepEqual([...members.keys()].sort(), EXPECTED);
  assert.equal(members.get("same")!.body, "new");
  assert.equal(members.get("etc/keep")!.body, "keep");
  assert.equal(members.get("wasdir")!.body, "now a file");
  assert.equal(members.get("link")!.linkname, "etc/keep");
  // no temp file left beside the output
  assert.deepEqual((await readdir(work.dir)).filter((n) => n.includes("tcrane-")), []);
});

test("export agrees with umoci's unpack of the same layout (an independent whiteout implementation)", async () => {
  const rootfs = join(work.dir, "umoci-rootfs");
  const u = await run("umoci", ["raw", "unpack", "--rootless", "--image", `${layout}:v1`, rootfs]);
  assert.equal(u.code, 0, u.stderr);
  const file = join(work.dir, "layout.tar");
  const r2 = await tcrane(["export", `oci:${layout}:v1`, file]);
  assert.equal(r2.code, 0, r2.stderr);
  const ours = asTree(await readTar(await readFile(file)));
  const theirs = await walk(rootfs);
  assert.deepEqual(new Map([...ours].sort()), new Map([...theirs].sort()));
});

test("export - reads a docker tarball on stdin and - writes the tar to stdout", async () => {
  const archive = join(work.dir, "docker.tar");
  const s = await run("skopeo", ["copy", `oci:${layout}:v1`, `docker-archive:${archive}:x/fs:v1`]);
  assert.equal(s.code, 0, s.stderr);
  const input = await readFile(archive);
  const chunks: Buffer[] = [];
  const code = await new Promise<number>(async (resolve, reject) => {
    const { spawn } = await import("node:child_process");
    const { TCRANE_BIN } = await import("./harness/tools.js");
    const p = spawn(process.execPath, [TCRANE_BIN, "export", "-", "-"], { stdio: ["pipe", "pipe", "inherit"] });
    p.stdout.on("data", (d: Buffer) => chunks.push(d));
    p.on("error", reject);
    p.on("close", (c) => resolve(c ?? -1));
    p.stdin.end(input);
  });
  assert.equal(code, 0);
  const members = await readTar(Buffer.concat(chunks));
  assert.deepEqual([...members.keys()].sort(), EXPECTED);
  assert.equal(members.get("same")!.body, "new");
});

test("--max-bytes stops a decompression bomb with a clear error and leaves no file", async () => {
  const bombDir = join(work.dir, "bomb");
  // 32 MiB of zeros compresses to ~32 KiB
  const big = await layerTar([{ name: "zeros", body: "\0".repeat(32 * 1024 * 1024) }]);
  await writeLayout(bombDir, [big], "v1");
  const out = join(work.dir, "bomb.tar");
  const r = await tcrane(["export", "--max-bytes", String(4 * 1024 * 1024), `oci:${bombDir}:v1`, out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^tcrane: .*max-bytes/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  await assert.rejects(lstat(out));
  assert.deepEqual((await readdir(work.dir)).filter((n) => n.startsWith(".bomb.tar")), []);
  // the same image goes through with a large enough budget
  const ok = await tcrane(["export", "--max-bytes", String(64 * 1024 * 1024), `oci:${bombDir}:v1`, out]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await lstat(out)).size > 32 * 1024 * 1024, true);
});

test("export errors follow the contract: not found 3, bad reference 2, help has examples", async () => {
  const missing = await tcrane(["export", `${reg.host}/x/fs:nope`, join(work.dir, "none.tar")]);
  assert.equal(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, /^tcrane: /);
  const bad = await tcrane(["export", "UPPER/Case::x", join(work.dir, "none.tar")]);
  assert.equal(bad.code, 2, bad.stderr);
  const help = await tcrane(["export", "--help"]);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /max-bytes/);
});

/** Flatten gzip layers held in a MemoryStore, in-process; returns the output tar's members. */
async function flattenInMemory(layers: Member[][], opts: { corrupt?: number; maxEntries?: number } = {}) {
  const store = new MemoryStore();
  const descs: Descriptor[] = [];
  for (const l of layers) {
    const gz = gzipSync(await layerTar(l));
    descs.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: store.add(gz), size: gz.length });
  }
  if (opts.corrupt !== undefined) {
    const d = descs[opts.corrupt]!;
    const bad = Buffer.from(store.blobs.get(d.digest)!);
    bad[9] = bad[9] === 3 ? 255 : 3; // the gzip header's OS byte: same size, still inflates, another digest
    store.corrupt.set(d.digest, bad);
  }
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const stats = await flattenLayers(store, descs, out, { maxEntries: opts.maxEntries });
  out.end();
  return { members: await readTar(Buffer.concat(chunks)), stats };
}

test("flattenLayers: root opaque, aufs metadata, hard links, a file replacing a directory and back", async () => {
  const { members, stats } = await flattenInMemory([
    [{ name: "a/" }, { name: "a/x", body: "x" }, { name: "b", body: "b" }, { name: "c/" }, { name: "c/deep/" }, { name: "c/deep/f", body: "f" }],
    [{ name: "c", body: "file now" }, { name: "d/" }, { name: "d/target", body: "t" }],
    [{ name: ".wh..wh..opq" }, { name: ".wh..wh.plnk/" }, { name: ".wh..wh.plnk/1", body: "" }, { name: "d/" }, { name: "d/hard", type: "link", linkname: "./d/target" }, { name: "e", body: "e" }],
  ]);
  // the root went opaque in the top layer: nothing of the two lower layers is left
  assert.deepEqual([...members.keys()].sort(), ["d/", "d/hard", "e"]);
  assert.equal(members.get("d/hard")!.linkname, "d/target");
  assert.equal(stats.layers, 3);
  assert.equal(stats.entries, 3);

  const replaced = await flattenInMemory([
    [{ name: "c/" }, { name: "c/deep/" }, { name: "c/deep/f", body: "f" }, { name: "keep", body: "k" }],
    [{ name: "c", body: "file now" }],
    [{ name: ".wh.c" }, { name: "c/" }, { name: "c/new", body: "n" }],
  ]);
  assert.deepEqual([...replaced.members.keys()].sort(), ["c/", "c/new", "keep"]);
});

test("flattenLayers fails on a corrupt layer, a member escaping the root, and too many paths", async () => {
  await assert.rejects(
    flattenInMemory([[{ name: "a", body: "a" }], [{ name: "b", body: "b" }]], { corrupt: 0 }),
    (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH",
  );
  await assert.rejects(
    flattenInMemory([[{ name: "ok", body: "" }, { name: "../../etc/passwd", body: "x" }]]),
    (e: unknown) => e instanceof TcraneError && e.code === "CORRUPT_ARCHIVE" && /escapes the root/.test(e.message),
  );
  await assert.rejects(
    flattenInMemory([[{ name: "a", body: "" }, { name: "b", body: "" }, { name: "c", body: "" }]], { maxEntries: 2 }),
    (e: unknown) => e instanceof TcraneError && /max-entries/.test(e.message),
  );
});
