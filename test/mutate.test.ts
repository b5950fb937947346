/**
 * End-to-end: crane's editing commands (append, mutate, flatten, rebase) through the built CLI
 * against the real distribution registry; every result checked independently with skopeo (config,
 * manifest) and umoci (the unpacked filesystem).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFile, readdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tcrane } from "./harness/tools.js";
import { digestOf } from "../src/image/digest.js";
import { skopeo, startFixture, type Fixture } from "./mutate-helpers.js";

let f: Fixture;
before(async () => {
  f = await startFixture();
});
after(async () => {
  await f?.close();
});

test("append: a layer on an empty base: gzip blob, right diff_id, one history entry; prints repo@digest", async () => {
  const out = await f.ok(["append", "-f", f.files.base!, "-t", `${f.h}/t/base:1`]);
  assert.match(out, new RegExp(`^${f.h}/t/base@sha256:[a-f0-9]{64}$`));
  const cfg = await f.config(`${f.h}/t/base:1`);
  assert.deepEqual(cfg.rootfs.diff_ids, [digestOf(f.tarBytes.base!)]);
  assert.equal(cfg.history.length, 1);
  assert.equal(cfg.os, "linux");
  const m = await f.raw(`${f.h}/t/base:1`);
  assert.equal(m.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.equal(m.layers[0].mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
  assert.equal(`${f.h}/t/base@${digestOf(Buffer.from(JSON.stringify(m)))}`, out);
  const root = await f.unpack(`${f.h}/t/base:1`);
  assert.deepEqual(await f.listFiles(root), ["dir/a", "dir/b", "etc/base.txt", "etc/gone.txt"]);
  // idempotent: the same input gives the same digest
  assert.equal(await f.ok(["append", "-f", f.files.base!, "-t", `${f.h}/t/base:1`]), out);
  // a layer from stdin
  const stdin = await tcrane(["append", "-f", "-", "-t", `${f.h}/t/stdin:1`], { input: f.tarBytes.base2! });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.deepEqual((await f.config(`${f.h}/t/stdin:1`)).rootfs.diff_ids, [digestOf(f.tarBytes.base2!)]);
  // --oci-empty-base gives OCI media types
  await f.ok(["append", "--oci-empty-base", "-f", f.files.base2!, "-t", `${f.h}/t/base:2`]);
  const m2 = await f.raw(`${f.h}/t/base:2`);
  assert.equal(m2.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.equal(m2.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
});

test("append on a base in another repository: base layers mounted, never downloaded; whiteouts as docker applies them", async () => {
  const r = await tcrane(["append", "-b", `${f.h}/t/base:1`, "-f", f.files.appgz!, "-t", `${f.h}/t/app:1`, "--progress", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const base = await f.raw(`${f.h}/t/base:1`);
  const events = r.stderr.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; digest?: string });
  const baseLayer = base.layers[0].digest as string;
  assert.ok(events.some((e) => e.type === "blob-mounted" && e.digest === baseLayer), "base layer mounted");
  assert.ok(!events.some((e) => e.type === "blob-start" && e.digest === baseLayer), "base layer not copied");
  const cfg = await f.config(`${f.h}/t/app:1`);
  assert.deepEqual(cfg.rootfs.diff_ids, [digestOf(f.tarBytes.base!), digestOf(f.tarBytes.app!)]);
  assert.equal(cfg.history.length, 2);
  const m = await f.raw(`${f.h}/t/app:1`);
  // a gzip input is kept as is
  assert.equal(m.layers[1].digest, digestOf(await readFile(f.files.appgz!)));
  const root = await f.unpack(`${f.h}/t/app:1`);
  assert.deepEqual(await f.listFiles(root), ["app/hello", "dir/c", "etc/base.txt"]);
  assert.equal(await readFile(join(root, "etc/base.txt"), "utf8"), "base 1 changed by app\n");
});

test("mutate: config fields and annotations as set; default overwrites the input tag; digest input pushes by digest", async () => {
  const out = await f.ok([
    "mutate", `${f.h}/t/app:1`, "-t", `${f.h}/t/app:mut`,
    "--label", "org.example.a=1", "-l", "b=2", "--env", "FOO=bar", "-e", "MODE=x",
    "--entrypoint", "/bin/sh,-c", "--cmd", "echo hi", "--user", "1000", "--workdir", "/app",
    "--exposed-ports", "8080,53/udp", "-a", "org.example.note=yes",
  ]);
  const cfg = await f.config(`${f.h}/t/app:mut`);
  assert.deepEqual(cfg.config.Labels, { "org.example.a": "1", b: "2" });
  assert.deepEqual(cfg.config.Env, ["FOO=bar", "MODE=x"]);
  assert.deepEqual(cfg.config.Entrypoint, ["/bin/sh", "-c"]);
  assert.deepEqual(cfg.config.Cmd, ["echo hi"]);
  assert.equal(cfg.config.User, "1000");
  assert.equal(cfg.config.WorkingDir, "/app");
  assert.deepEqual(Object.keys(cfg.config.ExposedPorts).sort(), ["53/udp", "8080/tcp"]);
  assert.equal(cfg.rootfs.diff_ids.length, 2);
  const m = await f.raw(`${f.h}/t/app:mut`);
  assert.equal(m.annotations["org.example.note"], "yes");
  assert.equal(out, `${f.h}/t/app@${digestOf(Buffer.from(JSON.stringify(m)))}`);

  // no -t: the input tag now points at the new image; env overridden in place
  const out2 = await f.ok(["mutate", `${f.h}/t/app:mut`, "--env", "FOO=baz"]);
  const cfg2 = await f.config(`${f.h}/t/app:mut`);
  assert.deepEqual(cfg2.config.Env, ["FOO=baz", "MODE=x"]);
  assert.equal(out2, `${f.h}/t/app@${digestOf(Buffer.from(JSON.stringify(await f.raw(`${f.h}/t/app:mut`))))}`);

  // a digest reference: pushed by digest, no tag moved
  const byDigest = await f.ok(["mutate", out2, "--label", "c=3"]);
  const d = byDigest.split("@")[1]!;
  assert.deepEqual((await f.config(`${f.h}/t/app@${d}`)).config.Labels, { "org.example.a": "1", b: "2", c: "3" });
  assert.equal((await f.config(`${f.h}/t/app:mut`)).config.Labels.c, undefined);

  // --repo: pushed by digest to another repository
  const other = await f.ok(["mutate", `${f.h}/t/app:1`, "--label", "r=1", "-r", `${f.h}/t/other`]);
  assert.match(other, new RegExp(`^${f.h}/t/other@sha256:[a-f0-9]{64}$`));
  assert.equal((await f.config(other)).config.Labels.r, "1");

  // in the same repository nothing but the new config travels: every layer is skipped
  const same = await tcrane(["mutate", `${f.h}/t/app:1`, "--label", "same=repo", "-t", `${f.h}/t/app:same`, "--progress", "json"]);
  assert.equal(same.code, 0, same.stderr);
  const ev = same.stderr.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; digest?: string });
  const appLayers = (await f.raw(`${f.h}/t/app:1`)).layers.map((l: { digest: string }) => l.digest);
  for (const l of appLayers) assert.ok(ev.some((e) => e.type === "blob-skipped" && e.digest === l), `layer ${l} skipped`);
  assert.equal(ev.filter((e) => e.type === "blob-start").length, 1, "only the config is uploaded");

  // --append adds a layer; -o writes a docker tarball readable by skopeo
  const tarPath = join(f.dir, "mut.tar");
  await f.ok(["mutate", `${f.h}/t/app:1`, "--append", f.files.base2!, "--label", "x=y", "-o", tarPath]);
  const t = await skopeo("inspect", "--config", `docker-archive:${tarPath}`);
  assert.equal(t.code, 0, t.stderr);
  const tc = JSON.parse(t.stdout);
  assert.equal(tc.config.Labels.x, "y");
  assert.equal(tc.rootfs.diff_ids.length, 3);
  assert.equal(tc.rootfs.diff_ids[2], digestOf(f.tarBytes.base2!));
});

test("flatten: one layer holding the merged filesystem, old history kept in the comment", async () => {
  const out = await f.ok(["flatten", `${f.h}/t/app:1`, "-t", `${f.h}/t/flat:1`]);
  assert.match(out, new RegExp(`^${f.h}/t/flat@sha256:`));
  const cfg = await f.config(`${f.h}/t/flat:1`);
  assert.equal(cfg.rootfs.diff_ids.length, 1);
  assert.equal(cfg.history.length, 1);
  assert.equal(JSON.parse(cfg.history[0].comment).length, 2);
  const m = await f.raw(`${f.h}/t/flat:1`);
  assert.equal(m.layers.length, 1);
  const root = await f.unpack(`${f.h}/t/flat:1`);
  assert.deepEqual(await f.listFiles(root), ["app/hello", "dir/c", "etc/base.txt"]);
  assert.equal(await readFile(join(root, "etc/base.txt"), "utf8"), "base 1 changed by app\n");
});

test("rebase: old base layers replaced by the new base's; diff_ids, history and base annotations updated", async () => {
  const out = await f.ok(["rebase", `${f.h}/t/app:1`, "--old_base", `${f.h}/t/base:1`, "--new_base", `${f.h}/t/base:2`, "-t", `${f.h}/t/app:rebased`]);
  assert.match(out, new RegExp(`^${f.h}/t/app@sha256:`));
  const cfg = await f.config(`${f.h}/t/app:rebased`);
  assert.deepEqual(cfg.rootfs.diff_ids, [digestOf(f.tarBytes.base2!), digestOf(f.tarBytes.app!)]);
  assert.equal(cfg.history.length, 2);
  const m = await f.raw(`${f.h}/t/app:rebased`);
  const nb = await f.raw(`${f.h}/t/base:2`);
  assert.equal(m.layers[0].digest, nb.layers[0].digest);
  assert.equal(m.layers[0].mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
  assert.equal(m.annotations["org.opencontainers.image.base.name"], `${f.h}/t/base:2`);
  const root = await f.unpack(`${f.h}/t/app:rebased`);
  assert.deepEqual(await f.listFiles(root), ["app/hello", "dir/c", "etc/base.txt", "etc/base2.txt"]);
  // crane's defaults: an image annotated with its base (append --set-base-image-annotations) needs only --new_base
  await f.ok(["append", "-b", `${f.h}/t/base:1`, "-f", f.files.app!, "--set-base-image-annotations", "-t", `${f.h}/t/ann:1`]);
  const am = await f.raw(`${f.h}/t/ann:1`);
  assert.equal(am.annotations["org.opencontainers.image.base.name"], `${f.h}/t/base:1`);
  assert.equal(am.annotations["org.opencontainers.image.base.digest"], (await f.ok(["digest", `${f.h}/t/base:1`])));
  await f.ok(["rebase", `${f.h}/t/ann:1`, "--new_base", `${f.h}/t/base:2`]);
  assert.deepEqual((await f.config(`${f.h}/t/ann:1`)).rootfs.diff_ids, [digestOf(f.tarBytes.base2!), digestOf(f.tarBytes.app!)]);
  // an image not built on the old base is refused (bad input)
  const bad = await tcrane(["rebase", `${f.h}/t/app:1`, "--old_base", `${f.h}/t/base:2`, "--new_base", `${f.h}/t/base:1`, "-t", `${f.h}/t/app:bad`]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /not based on/);
});

test("bad input and missing images give the contract's exit statuses", async () => {
  const noTag = await tcrane(["append", "-f", f.files.base!]);
  assert.equal(noTag.code, 2, noTag.stderr);
  const missing = await tcrane(["mutate", `${f.h}/t/nothing:1`, "--label", "a=b"]);
  assert.equal(missing.code, 3, missing.stderr);
  const emptyLabel = await tcrane(["mutate", `${f.h}/t/app:1`, "--label", "a="]);
  assert.equal(emptyLabel.code, 2, emptyLabel.stderr);
  const noFile = await tcrane(["append", "-f", join(f.dir, "absent.tar"), "-t", `${f.h}/t/x:1`]);
  assert.equal(noFile.code, 3, noFile.stderr);
  const notIndex = await tcrane(["index", "list", `${f.h}/t/app:1`]);
  assert.equal(notIndex.code, 2, notIndex.stderr);
  // Windows images need crane's Files/ layer layout: refused rather than silently broken
  await f.ok(["mutate", `${f.h}/t/base:1`, "--set-platform", "windows/amd64", "-t", `${f.h}/t/win:1`]);
  assert.equal((await f.config(`${f.h}/t/win:1`)).os, "windows");
  const win = await tcrane(["append", "-b", `${f.h}/t/win:1`, "-f", f.files.app!, "-t", `${f.h}/t/win:2`]);
  assert.equal(win.code, 1, win.stderr);
  assert.match(win.stderr, /Windows/);
  const failedOut = await tcrane(["append", "-b", `${f.h}/t/nothing:1`, "-f", f.files.base!, "-o", join(f.dir, "never.tar")]);
  assert.equal(failedOut.code, 3, failedOut.stderr);
  assert.ok(!existsSync(join(f.dir, "never.tar")));
  assert.deepEqual((await readdir(f.dir)).filter((n) => n.includes("never")), []);
});
