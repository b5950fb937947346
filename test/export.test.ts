/**
 * `tcrane export`: the flattened filesystem with docker's whiteout semantics, from a real registry,
 * an OCI layout and a docker tarball on stdin; checked against umoci's unpack (an independent
 * implementation of the OCI layer rules) and guarded against decompression bombs.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import * as tar from "tar-stream";
import type { Descriptor } from "../src/image/types.js";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { MemoryStore } from "./helpers/memory.js";
import { imageOf, layerOf, tarBytes, writeLayout, type Member } from "./fixtures/images.js";
import { flattenLayers } from "../src/ops/export.js";
import { TcraneError } from "../src/errors.js";
import { PassThrough } from "node:stream";

/** Write an OCI layout holding one image (gzip layers over these tars) tagged `tag`; returns the manifest descriptor. */
async function layoutOf(dir: string, layers: Buffer[], tag: string): Promise<Descriptor> {
  const img = imageOf(
    layers.map((l) => layerOf(l)),
    { config: {}, history: false },
  );
  await writeLayout(dir, [{ node: img, ref: tag }]);
  return img.manifestDesc;
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
  { name: "etc/keep", data: "keep" },
  { name: "etc/gone", data: "gone" },
  { name: "opq/" },
  { name: "opq/a", data: "a" },
  { name: "opq/sub/" },
  { name: "opq/sub/b", data: "b" },
  { name: "home/" },
  { name: "home/user/" },
  { name: "home/user/f", data: "f" },
  { name: "same", data: "old" },
  { name: "link", type: "symlink", linkname: "etc/keep" },
  { name: "wasdir/" },
  { name: "wasdir/inner", data: "inner" },
];
const TOP: Member[] = [
  { name: "./etc/.wh.gone", data: "" },
  { name: "./opq/" },
  { name: "./opq/.wh..wh..opq", data: "" },
  { name: "./opq/c", data: "c" },
  { name: "./home/.wh.user", data: "" },
  { name: "./same", data: "new" },
  { name: "./newdir/" },
  { name: "./newdir/n", data: "n" },
  { name: "./wasdir", data: "now a file" },
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
  await layoutOf(layout, [await tarBytes(BOTTOM), await tarBytes(TOP)], "v1");
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
  const big = await tarBytes([{ name: "zeros", data: "\0".repeat(32 * 1024 * 1024) }]);
  await layoutOf(bombDir, [big], "v1");
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
  for (const members of layers) {
    const l = layerOf(await tarBytes(members));
    store.add(l.blob);
    descs.push(l.desc);
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
    [{ name: "a/" }, { name: "a/x", data: "x" }, { name: "b", data: "b" }, { name: "c/" }, { name: "c/deep/" }, { name: "c/deep/f", data: "f" }],
    [{ name: "c", data: "file now" }, { name: "d/" }, { name: "d/target", data: "t" }],
    [{ name: ".wh..wh..opq" }, { name: ".wh..wh.plnk/" }, { name: ".wh..wh.plnk/1", data: "" }, { name: "d/" }, { name: "d/hard", type: "link", linkname: "./d/target" }, { name: "e", data: "e" }],
  ]);
  // the root went opaque in the top layer: nothing of the two lower layers is left
  assert.deepEqual([...members.keys()].sort(), ["d/", "d/hard", "e"]);
  assert.equal(members.get("d/hard")!.linkname, "d/target");
  assert.equal(stats.layers, 3);
  assert.equal(stats.entries, 3);

  const replaced = await flattenInMemory([
    [{ name: "c/" }, { name: "c/deep/" }, { name: "c/deep/f", data: "f" }, { name: "keep", data: "k" }],
    [{ name: "c", data: "file now" }],
    [{ name: ".wh.c" }, { name: "c/" }, { name: "c/new", data: "n" }],
  ]);
  assert.deepEqual([...replaced.members.keys()].sort(), ["c/", "c/new", "keep"]);
});

test("flattenLayers fails on a corrupt layer, a member escaping the root, and too many paths", async () => {
  await assert.rejects(
    flattenInMemory([[{ name: "a", data: "a" }], [{ name: "b", data: "b" }]], { corrupt: 0 }),
    (e: unknown) => e instanceof TcraneError && e.code === "DIGEST_MISMATCH",
  );
  await assert.rejects(
    flattenInMemory([[{ name: "ok", data: "" }, { name: "../../etc/passwd", data: "x" }]]),
    (e: unknown) => e instanceof TcraneError && e.code === "CORRUPT_ARCHIVE" && /escapes the root/.test(e.message),
  );
  await assert.rejects(
    flattenInMemory([[{ name: "a", data: "" }, { name: "b", data: "" }, { name: "c", data: "" }]], { maxEntries: 2 }),
    (e: unknown) => e instanceof TcraneError && /max-entries/.test(e.message),
  );
});
