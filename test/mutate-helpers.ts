/**
 * Shared fixtures of the editing end-to-end tests (mutate*.test.ts): a real distribution registry,
 * small layer tars (with whiteouts and an opaque directory), and skopeo/umoci checkers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readdir, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { tarBytes as tarOf, type Member } from "./fixtures/images.js";

/** skopeo with arguments. */
export const skopeo = (...args: string[]) => run("skopeo", args);

/** The fixture every editing test file starts. */
export interface Fixture {
  reg: Distribution;
  /** host:port of the registry */
  h: string;
  dir: string;
  /** base, base2, app (plain tars) and appgz (app gzip-compressed): paths */
  files: Record<string, string>;
  tarBytes: Record<string, Buffer>;
  /** skopeo inspect --config */
  config(ref: string): Promise<any>;
  /** skopeo inspect --raw */
  raw(ref: string): Promise<any>;
  /** tcrane that must succeed: its trimmed stdout */
  ok(args: string[]): Promise<string>;
  /** skopeo copy to an OCI layout + umoci unpack: the rootfs path */
  unpack(ref: string, ...skopeoArgs: string[]): Promise<string>;
  /** Files (not directories) under a root, sorted, relative. */
  listFiles(root: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Start the registry and write the layer tars. */
export async function startFixture(): Promise<Fixture> {
  requireBinary("skopeo");
  requireBinary("umoci");
  const reg = await startDistribution();
  const work = await tempDir("tcrane-mutate-");
  const files: Record<string, string> = {};
  const tarBytes: Record<string, Buffer> = {};
  const layers: Record<string, Member[]> = {
    base: [
      { name: "etc/", type: "directory" },
      { name: "etc/base.txt", data: "base 1\n" },
      { name: "etc/gone.txt", data: "to be deleted\n" },
      { name: "dir/", type: "directory" },
      { name: "dir/a", data: "a\n" },
      { name: "dir/b", data: "b\n" },
    ],
    base2: [
      { name: "etc/", type: "directory" },
      { name: "etc/base2.txt", data: "base 2\n" },
    ],
    app: [
      { name: "app/", type: "directory" },
      { name: "app/hello", data: "hello\n" },
      { name: "etc/.wh.gone.txt" },
      { name: "dir/", type: "directory" },
      { name: "dir/.wh..wh..opq" },
      { name: "dir/c", data: "c\n" },
      { name: "etc/base.txt", data: "base 1 changed by app\n" },
    ],
  };
  for (const [k, entries] of Object.entries(layers)) {
    tarBytes[k] = await tarOf(entries);
    files[k] = join(work.dir, `${k}.tar`);
    await writeFile(files[k]!, tarBytes[k]!);
  }
  // an already-compressed layer is kept byte for byte
  files.appgz = join(work.dir, "app.tar.gz");
  await writeFile(files.appgz, gzipSync(tarBytes.app!));
  let unpacks = 0;
  const listFiles = async (root: string, rel = ""): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) out.push(...(await listFiles(root, p)));
      else out.push(p);
    }
    return out.sort();
  };
  return {
    reg,
    h: reg.host,
    dir: work.dir,
    files,
    tarBytes,
    config: async (ref) => {
      const r = await skopeo("inspect", "--tls-verify=false", "--config", `docker://${ref}`);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    },
    raw: async (ref) => {
      const r = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref}`);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    },
    ok: async (args) => {
      const r = await tcrane(args);
      assert.equal(r.code, 0, `tcrane ${args.join(" ")}: ${r.stderr}`);
      return r.stdout.trim();
    },
    unpack: async (ref, ...skopeoArgs) => {
      const n = ++unpacks;
      const layout = join(work.dir, `oci-${n}`);
      const bundle = join(work.dir, `bundle-${n}`);
      const c = await skopeo("copy", "--src-tls-verify=false", ...skopeoArgs, `docker://${ref}`, `oci:${layout}:t`);
      assert.equal(c.code, 0, c.stderr);
      const u = await run("umoci", ["unpack", "--rootless", "--image", `${layout}:t`, bundle]);
      assert.equal(u.code, 0, u.stderr);
      return join(bundle, "rootfs");
    },
    listFiles: (root) => listFiles(root),
    close: async () => {
      await reg.stop();
      await work.cleanup();
    },
  };
}
