/**
 * End-to-end: index list/filter/append, and append/mutate/flatten of an index (each platform edited)
 * through the built CLI against the real distribution registry, checked with skopeo and umoci.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
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

test("index append builds an index with platforms from the configs; index list shows them", async () => {
  await f.ok(["--platform", "linux/amd64", "append", "--oci-empty-base", "-f", f.files.base!, "-t", `${f.h}/t/img:amd64`]);
  await f.ok(["--platform", "linux/arm64/v8", "append", "--oci-empty-base", "-f", f.files.base2!, "-t", `${f.h}/t/img:arm64`]);
  const idxOut = await f.ok(["index", "append", "-m", `${f.h}/t/img:amd64`, "-m", `${f.h}/t/img:arm64`, "-t", `${f.h}/t/idx:1`]);
  const idx = await f.raw(`${f.h}/t/idx:1`);
  assert.equal(idx.mediaType, "application/vnd.oci.image.index.v1+json");
  assert.deepEqual(idx.manifests.map((d: any) => `${d.platform.os}/${d.platform.architecture}`), ["linux/amd64", "linux/arm64"]);
  assert.equal(idxOut, `${f.h}/t/idx@${digestOf(Buffer.from(JSON.stringify(idx)))}`);

  const list = await f.ok(["index", "list", `${f.h}/t/idx:1`]);
  const lines = list.split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^sha256:[a-f0-9]{64}\tlinux\/arm64\/v8\tapplication\/vnd\.oci\.image\.manifest\.v1\+json$/);

});

test("index filter keeps the platforms asked (repeatable, comma-separated, fuzzy); none left is an error", async () => {
  await f.ok(["index", "filter", `${f.h}/t/idx:1`, "--platform", "linux/arm64", "-t", `${f.h}/t/idx:arm`]);
  await f.ok(["index", "filter", `${f.h}/t/idx:1`, "--platform", "linux/arm64", "--platform", "linux/amd64", "-t", `${f.h}/t/idx:rep`]);
  assert.equal((await f.raw(`${f.h}/t/idx:rep`)).manifests.length, 2);
  await f.ok(["index", "filter", `${f.h}/t/idx:1`, "--platform", "linux/amd64,windows/amd64", "-t", `${f.h}/t/idx:comma`]);
  assert.equal((await f.raw(`${f.h}/t/idx:comma`)).manifests.length, 1);
  const filtered = await f.raw(`${f.h}/t/idx:arm`);
  assert.equal(filtered.manifests.length, 1);
  assert.equal(filtered.manifests[0].platform.architecture, "arm64");
  const none = await tcrane(["index", "filter", `${f.h}/t/idx:1`, "--platform", "windows", "-t", `${f.h}/t/idx:none`]);
  assert.equal(none.code, 3, none.stderr);

  const linux = await f.ok(["index", "filter", `${f.h}/t/idx:1`, "--platform", "linux", "-t", `${f.h}/t/idx:linux`]);
  assert.equal(linux.split("@")[1], (await f.ok(["digest", `${f.h}/t/idx:1`])));
});

test("mutate, append and flatten of an index edit every platform image and push a new index", async () => {
  await f.ok(["mutate", `${f.h}/t/idx:1`, "--label", "k=v", "-t", `${f.h}/t/idx:mut`]);
  const mi = await f.raw(`${f.h}/t/idx:mut`);
  assert.equal(mi.manifests.length, 2);
  for (const arch of ["amd64", "arm64"]) {
    const c = await skopeo(...["inspect", "--tls-verify=false", "--config", "--override-arch", arch, `docker://${f.h}/t/idx:mut`]);
    assert.equal(c.code, 0, c.stderr);
    const cfg = JSON.parse(c.stdout);
    assert.equal(cfg.architecture, arch);
    assert.equal(cfg.config.Labels.k, "v");
  }
  // a docker tarball holds one image: linux/amd64 unless --platform says otherwise
  const idxTar = join(f.dir, "idx-arm.tar");
  await f.ok(["--platform", "linux/arm64", "mutate", `${f.h}/t/idx:1`, "--label", "one=arm", "-o", idxTar]);
  const it = JSON.parse((await skopeo("inspect", "--config", `docker-archive:${idxTar}`)).stdout);
  assert.equal(it.architecture, "arm64");
  assert.equal(it.config.Labels.one, "arm");
  // --set-platform on a whole index is refused
  const sp = await tcrane(["mutate", `${f.h}/t/idx:1`, "--set-platform", "linux/s390x", "-t", `${f.h}/t/idx:x`]);
  assert.equal(sp.code, 2, sp.stderr);

  await f.ok(["append", "-b", `${f.h}/t/idx:1`, "-f", f.files.app!, "-t", `${f.h}/t/idx:app`]);
  const ai = await f.raw(`${f.h}/t/idx:app`);
  assert.equal(ai.manifests.length, 2);
  for (const d of ai.manifests) {
    const child = await f.raw(`${f.h}/t/idx@${d.digest}`);
    assert.equal(child.layers.length, 2);
    assert.equal(child.layers[1].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
  }

  await f.ok(["flatten", `${f.h}/t/idx:app`, "-t", `${f.h}/t/idx:flat`]);
  const fi = await f.raw(`${f.h}/t/idx:flat`);
  for (const d of fi.manifests) assert.equal((await f.raw(`${f.h}/t/idx@${d.digest}`)).layers.length, 1);
  const armRoot = await f.unpack(`${f.h}/t/idx:flat`, "--override-arch", "arm64");
  assert.deepEqual(await f.listFiles(armRoot), ["app/hello", "dir/c", "etc/base.txt", "etc/base2.txt"]);

});

test("index append onto an existing index (other repository's manifests), and a Docker list from scratch", async () => {
  const r = await tcrane(["index", "append", `${f.h}/t/idx:arm`, "-m", `${f.h}/t/img:amd64`, "-t", `${f.h}/t/fresh:both`, "--progress", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const both = await f.raw(`${f.h}/t/fresh:both`);
  assert.deepEqual(both.manifests.map((d: any) => d.platform.architecture), ["arm64", "amd64"]);
  // every blob comes over by cross-repository mount from the two source repositories
  const events = r.stderr.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string });
  assert.equal(events.filter((e) => e.type === "blob-mounted").length, 4);
  assert.equal(events.filter((e) => e.type === "blob-start").length, 0);
  const amdRoot = await f.unpack(`${f.h}/t/fresh:both`, "--override-arch", "amd64");
  assert.deepEqual(await f.listFiles(amdRoot), ["dir/a", "dir/b", "etc/base.txt", "etc/gone.txt"]);
  await f.ok(["index", "append", "--docker-empty-base", "-m", `${f.h}/t/img:amd64`, "-t", `${f.h}/t/idx:docker`]);
  assert.equal((await f.raw(`${f.h}/t/idx:docker`)).mediaType, "application/vnd.docker.distribution.manifest.list.v2+json");
});

