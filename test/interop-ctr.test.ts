/**
 * containerd's ctr (1.6, a private containerd) against tcrane: buildah and podman push their
 * busybox images (test/harness/builders.ts) into `tcrane registry serve`, ctr pulls them from it
 * over plain HTTP, and the archives `ctr images export` writes are read by tcrane validate, push and
 * copy with the builders' digests kept; ctr imports what `tcrane save` writes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { startContainerd, type Containerd } from "./harness/containerd.js";
import { addAttestations, buildPodmanList, buildWithBuildah, builderStore, pushZstdWithPodman, registryManifest, type BuilderStore, type BuiltImage } from "./harness/builders.js";
import { serveTcrane, tcrane, tempDir, type Served } from "./harness/tools.js";
import { sha256 } from "./fixtures/images.js";

let served: Served & { host: string };
let reg: Distribution;
let containerd: Containerd;
let store: BuilderStore;
let work: { dir: string; cleanup: () => Promise<void> };
const built = new Map<string, BuiltImage>();

/** `tcrane registry serve` (memory store) as users run it; HOST:PORT is its first stdout line. */
async function serve(): Promise<Served & { host: string }> {
  const s = await serveTcrane(["registry", "serve"]);
  return { ...s, host: s.line };
}

before(async () => {
  [served, reg, containerd, store, work] = await Promise.all([serve(), startDistribution(), startContainerd(), builderStore(), tempDir("tcrane-ctr-")]);
  // the builders push straight into tcrane's registry
  built.set("buildah-oci", await buildWithBuildah(store, served.host, "oci"));
  built.set("buildah-docker", await buildWithBuildah(store, served.host, "docker"));
  built.set("podman-zstd", await pushZstdWithPodman(store, served.host));
  built.set("attested", await addAttestations(await buildPodmanList(store, served.host)));
});

after(async () => {
  await served?.stop();
  await Promise.all([reg?.stop(), containerd?.stop(), store?.cleanup()]);
  await work?.cleanup();
});

async function ctr(...args: string[]): Promise<string> {
  const r = await containerd.ctr(...args);
  assert.equal(r.code, 0, `ctr ${args.join(" ")}: ${r.stderr}\n--- containerd log ---\n${containerd.logs().slice(-2000)}`);
  return r.stdout;
}

async function tc(...args: string[]): Promise<string> {
  const r = await tcrane(args);
  assert.equal(r.code, 0, `tcrane ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The digest ctr's image store holds for `ref` (`ctr images ls`). */
async function ctrDigest(ref: string): Promise<string> {
  const out = await ctr("images", "ls");
  const line = out.split("\n").find((l) => l.split(/\s+/)[0] === ref);
  assert.ok(line, `ctr images ls has no ${ref}:\n${out}`);
  return line.split(/\s+/)[2]!;
}

for (const name of ["buildah-oci", "buildah-docker", "podman-zstd", "attested"]) {
  test(`${name}: ctr pulls it from tcrane registry serve; tcrane validates, pushes and copies ctr's export`, async () => {
    const img = built.get(name)!;
    if (name === "attested") {
      // containerd 1.6 cannot unpack an attestation ("no processor for media-type" for in-toto
      // layers) even with --all-platforms: unpack one platform, fetch the rest without unpacking
      await ctr("images", "pull", "--plain-http", "--platform", "linux/amd64", "--snapshotter", "native", img.ref);
      await ctr("content", "fetch", "--plain-http", "--all-platforms", img.ref);
    } else await ctr("images", "pull", "--plain-http", "--all-platforms", "--snapshotter", "native", img.ref);
    assert.equal(await ctrDigest(img.ref), img.digest, `${name}: ctr holds the digest the builder pushed`);

    const exported = join(work.dir, `${name}-ctr-export.tar`);
    await ctr("images", "export", "--all-platforms", exported, img.ref);
    const v = JSON.parse(await tc("validate", exported, "--json")) as Array<{ name: string; digest: string }>;
    assert.deepEqual(v.map((x) => [x.name, x.digest]), [[img.ref, img.digest]], `${name}: validate reads ctr's export`);

    // push (the archive's one image, by its containerd name) and copy keep the digest
    const pushed = `${reg.host}/from-ctr/${name}`;
    assert.equal((await tc("push", exported, `${pushed}:1`)).trim(), `${pushed}@${img.digest}`);
    assert.equal((await registryManifest(reg.host, `from-ctr/${name}`, "1")).digest, img.digest);
    assert.equal((await tc("copy", `oci-archive:${exported}`, `${pushed}:2`)).trim(), `${pushed}@${img.digest}`);
    for (const child of img.images) assert.equal((await registryManifest(reg.host, `from-ctr/${name}`, child.digest)).digest, child.digest, `${name}: child ${child.platform}`);
    // the archive also carries a docker manifest.json: read that way, the amd64 image's config survives
    const amd = img.images.find((i) => i.platform === "linux/amd64")!;
    const cfg = await tc("config", `docker-archive:${exported}`);
    assert.equal(sha256(cfg), amd.configDigest);

    // and back: ctr imports what tcrane save writes, with the digest kept
    const bundle = join(work.dir, `${name}-save.tar`);
    await tc("save", img.ref, "-o", bundle);
    await ctr("images", "rm", img.ref);
    // (unpacking an attestation fails as above: import it without unpacking)
    await ctr("images", "import", "--all-platforms", ...(name === "attested" ? ["--no-unpack"] : ["--snapshotter", "native"]), bundle);
    assert.equal(await ctrDigest(img.ref), img.digest, `${name}: ctr imports tcrane's bundle`);
  });
}

test("ctr export of one platform of a list: tcrane names the missing child; --platform linux/amd64 pushes what is there", async () => {
  const img = built.get("attested")!;
  const exported = join(work.dir, "one-platform.tar");
  await ctr("images", "pull", "--plain-http", "--platform", "linux/amd64", "--snapshotter", "native", img.ref);
  await ctr("images", "export", "--platform", "linux/amd64", exported, img.ref);
  const v = await tcrane(["validate", exported]);
  assert.equal(v.code, 3, `an index whose children are missing is not valid: ${v.stderr}`);
  assert.match(v.stderr, /^tcrane: .*one-platform\.tar: blob sha256:[0-9a-f]{64} is not in the archive\n$/);
  const amd = img.images.find((i) => i.platform === "linux/amd64")!;
  const p = await tcrane(["push", "--platform", "linux/amd64", exported, `${reg.host}/from-ctr/one:1`]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stdout.trim(), `${reg.host}/from-ctr/one@${amd.digest}`);
});
