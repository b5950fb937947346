/**
 * Images as real builders make them (test/harness/builders.ts: docker build, buildah OCI and Docker
 * formats, a podman manifest list, podman's zstd push, a BuildKit-style attested index), all from
 * Debian's busybox-static, go through tcrane copy, inspect, pull (every format), validate, save,
 * export and push, and come back out through the real consumers: docker load (private dockerd),
 * podman load and skopeo inspect, with digests compared against what the builder pushed.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { startDockerd, type Dockerd } from "./harness/dockerd.js";
import {
  BUSYBOX,
  BUSYBOX_PATH,
  BUILDER_FILE,
  BUILDER_LABEL,
  addAttestations,
  buildPodmanList,
  buildWithBuildah,
  buildWithDocker,
  builderStore,
  dockerLoad,
  podmanLoad,
  pushZstdWithPodman,
  registryManifest,
  type BuilderStore,
  type BuiltImage,
} from "./harness/builders.js";
import { code, requireBinary, run, tcrane, tempDir } from "./harness/tools.js";
import { sha256, writeTar } from "./fixtures/images.js";
import { DEFAULT_PLATFORM, isAttestation, selectManifest } from "../src/image/platform.js";

const OCI_FORMATS = new Set(["oci", "oci-archive"]);

let reg: Distribution;
let reg2: Distribution;
let dockerd: Dockerd;
let store: BuilderStore;
let work: { dir: string; cleanup: () => Promise<void> };
let busyboxDigest: string;
const built = new Map<string, BuiltImage>();
let dockerSaved: string;

before(async () => {
  requireBinary("skopeo");
  [reg, reg2, dockerd, store, work] = await Promise.all([startDistribution(), startDistribution(), startDockerd(), builderStore(), tempDir("tcrane-builders-work-")]);
  busyboxDigest = sha256(await readFile(BUSYBOX));
  dockerSaved = join(work.dir, "docker-save.tar");
  const [docker] = await Promise.all([
    buildWithDocker(dockerd, work.dir, reg.host, { saveTo: dockerSaved }),
    (async () => {
      built.set("buildah-oci", await buildWithBuildah(store, reg.host, "oci"));
      built.set("buildah-docker", await buildWithBuildah(store, reg.host, "docker"));
      const list = await buildPodmanList(store, reg.host);
      built.set("podman-list", list);
      built.set("podman-zstd", await pushZstdWithPodman(store, reg.host));
      built.set("attested", await addAttestations(list));
    })(),
  ]);
  built.set("docker", docker);
});

after(async () => {
  await Promise.all([reg?.stop(), reg2?.stop(), dockerd?.stop(), store?.cleanup()]);
  await work?.cleanup();
});

async function tc(...args: string[]): Promise<string> {
  const r = await tcrane(args);
  assert.equal(r.code, 0, `tcrane ${args.join(" ")}: ${r.stderr}`);
  assert.equal(r.stderr.includes("tcrane:"), false, r.stderr);
  return r.stdout;
}

async function skopeo(...args: string[]): Promise<string> {
  const r = await run("skopeo", ["--insecure-policy", ...args]);
  assert.equal(r.code, 0, `skopeo ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The image a single-image place gets from `img`: linux/amd64, never an attestation. */
function amd64(img: BuiltImage) {
  const i = img.images.find((x) => x.platform === "linux/amd64");
  assert.ok(i, `${img.builder}: no linux/amd64 image`);
  return i;
}

/** Pull `img` in `format` into `out`, validate it and push it back; checks digests on the way. */
async function pullValidatePush(name: string, img: BuiltImage, format: string, out: string): Promise<void> {
  const amd = amd64(img);
  await tc("pull", "--format", format, img.ref, out);
  const v = JSON.parse(await tc("validate", out, "--json")) as Array<{ digest: string; mediaType: string }>;
  assert.equal(v.length, 1, `${name} ${format}: ${JSON.stringify(v)}`);
  const pushed = `${reg2.host}/pushed/${name}-${format}`;
  const p = (await tc("push", out, `${pushed}:1`)).trim();
  if (OCI_FORMATS.has(format)) {
    // an OCI pull keeps the root (an index whole) and push sends it back as it was
    assert.equal(v[0]!.digest, img.digest, `${name} ${format}: validate sees the builder's root`);
    assert.equal(p, `${pushed}@${img.digest}`, `${name} ${format}: pushed back with the same digest`);
  } else {
    // a docker-archive holds one image (linux/amd64); config and diff_ids go back intact
    const sk = JSON.parse(await skopeo("inspect", "--config", "--tls-verify=false", `docker://${pushed}:1`)) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(sk.rootfs.diff_ids, amd.diffIds, `${name} ${format}: diff_ids`);
    const { host, repo } = { host: reg2.host, repo: pushed.slice(reg2.host.length + 1) };
    const m = JSON.parse((await registryManifest(host, repo, "1")).bytes.toString()) as { config: { digest: string } };
    assert.equal(m.config.digest, amd.configDigest, `${name} ${format}: pushed config is the builder's`);
  }
}

/**
 * Everything tcrane does with one builder-made image, checked by digests and by the real consumers
 * (independent steps run at once). Returns the files it wrote, for extra checks.
 */
async function throughTcrane(name: string): Promise<Record<string, string>> {
  const img = built.get(name)!;
  const amd = amd64(img);
  const dir = join(work.dir, name);
  await mkdir(dir);
  const files: Record<string, string> = {
    tarball: join(dir, "tarball.tar"),
    legacy: join(dir, "legacy.tar"),
    oci: join(dir, "layout"),
    "oci-archive": join(dir, "oci-archive.tar"),
    save: join(dir, "bundle.tar"),
    export: join(dir, "fs.tar"),
  };
  const copied = `${reg2.host}/copied/${name}`;
  const steps: Array<Promise<void>> = [
    // inspect: tcrane and skopeo agree with the registry
    (async () => {
      const info = JSON.parse(await tc("inspect", img.ref)) as { Digest: string };
      assert.equal(info.Digest, img.digest, `${name}: inspect digest`);
      const sk = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${img.ref}`)) as { Digest: string };
      assert.equal(sk.Digest, img.digest, `${name}: skopeo sees the same digest`);
    })(),
    // copy registry → registry keeps the digest and every child; skopeo reads the destination
    (async () => {
      assert.equal((await tc("copy", img.ref, `${copied}:1`)).trim(), `${copied}@${img.digest}`);
      assert.equal(sha256(await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${copied}:1`)), img.digest, `${name}: copied bytes`);
      for (const child of img.images) assert.equal((await registryManifest(reg2.host, `copied/${name}`, child.digest)).digest, child.digest);
    })(),
    // pull in every format, validate each, push each back
    ...["tarball", "legacy", "oci", "oci-archive"].map((format) => pullValidatePush(name, img, format, files[format]!)),
    // save: the air-gap bundle keeps the root; validate re-reads every blob; push sends it back
    (async () => {
      await tc("save", img.ref, "-o", files.save!);
      const vs = JSON.parse(await tc("validate", files.save!, "--json")) as Array<{ digest: string }>;
      assert.deepEqual(vs.map((x) => x.digest), [img.digest], `${name}: save keeps the root`);
      assert.equal((await tc("push", files.save!, `${reg2.host}/saved/${name}:1`)).trim(), `${reg2.host}/saved/${name}@${img.digest}`);
    })(),
    // export: the flattened filesystem holds Debian's busybox byte for byte, and the builder's note
    (async () => {
      await tc("export", img.ref, files.export!);
      const fs = join(dir, "fs");
      await mkdir(fs);
      const x = await run("tar", ["-xf", files.export!, "-C", fs, BUSYBOX_PATH, BUILDER_FILE]);
      assert.equal(x.code, 0, `${name}: the exported tar holds ${BUSYBOX_PATH} and ${BUILDER_FILE}: ${x.stderr}`);
      assert.equal(sha256(await readFile(join(fs, BUSYBOX_PATH))), busyboxDigest, `${name}: exported busybox is Debian's`);
      const note = await readFile(join(fs, BUILDER_FILE), "utf8");
      assert.equal(note.startsWith(`${amd.labels[BUILDER_LABEL]} `), true, `${name}: ${note}`);
    })(),
  ];
  await Promise.all(steps);

  // skopeo reads the pulled files
  const skArchive = JSON.parse(await skopeo("inspect", "--config", `docker-archive:${files.tarball}`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(skArchive.rootfs.diff_ids, amd.diffIds, `${name}: skopeo reads the tarball`);
  const skLegacy = JSON.parse(await skopeo("inspect", "--config", `docker-archive:${files.legacy}`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(skLegacy.rootfs.diff_ids, amd.diffIds, `${name}: skopeo reads the legacy archive`);
  assert.equal(sha256(await skopeo("inspect", "--raw", `oci-archive:${files["oci-archive"]}`)), img.digest, `${name}: skopeo reads the oci-archive`);
  assert.equal(sha256(await skopeo("inspect", "--raw", `oci:${files.oci}`)), img.digest, `${name}: skopeo reads the layout`);

  // real consumers load what tcrane wrote: image ID = the builder's config digest
  for (const format of ["tarball", "legacy"]) {
    const loaded = await dockerLoad(dockerd, files[format]!);
    assert.equal(loaded.id, amd.configDigest, `${name}: docker load ${format}`);
    assert.deepEqual(loaded.layers, amd.diffIds, `${name}: docker load ${format} layers`);
    assert.ok(loaded.tags.includes(img.ref), `${name}: docker load ${format} tags ${loaded.tags.join(",")}`);
  }
  for (const format of ["tarball", "oci-archive"]) {
    const ids = await podmanLoad(store, files[format]!);
    assert.ok(ids.includes(amd.configDigest), `${name}: podman load ${format}: ${ids.join(", ")}`);
  }
  return files;
}

test("docker build (legacy builder, FROM scratch + COPY busybox): docker's own save and push are read; the image goes everywhere", async () => {
  const img = built.get("docker")!;
  assert.equal(img.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  assert.deepEqual(img.images[0]!.layerMediaTypes, ["application/vnd.docker.image.rootfs.diff.tar.gzip"]);
  const id = (await dockerd.docker("image", "inspect", "--format", "{{.Id}}", img.ref)).stdout.trim();
  assert.equal(id, img.images[0]!.configDigest, "docker push kept the config");
  // docker save (20.10: the classic layout) → tcrane validate, push
  const v = JSON.parse(await tc("validate", dockerSaved, "--json")) as Array<{ name: string }>;
  assert.equal(v.length, 1);
  const p = (await tc("push", dockerSaved, `${reg2.host}/from-docker-save/bb:1`)).trim();
  assert.match(p, /@sha256:[0-9a-f]{64}$/);
  assert.equal(sha256(await tc("config", `${reg2.host}/from-docker-save/bb:1`)), id, "docker save → push keeps the image ID");
  await throughTcrane("docker");
});

test("buildah bud --format oci: OCI media types survive every trip", async () => {
  const img = built.get("buildah-oci")!;
  assert.equal(img.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.deepEqual(img.images[0]!.layerMediaTypes, ["application/vnd.oci.image.layer.v1.tar+gzip"]);
  await throughTcrane("buildah-oci");
});

test("buildah bud --format docker: Docker schema 2 media types survive every trip", async () => {
  const img = built.get("buildah-docker")!;
  assert.equal(img.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
  await throughTcrane("buildah-docker");
});

test("podman manifest (linux/amd64 + linux/arm64/v8): the list survives; --platform picks each child", async () => {
  const img = built.get("podman-list")!;
  assert.deepEqual(img.images.map((i) => i.platform), ["linux/amd64", "linux/arm64/v8"]);
  await throughTcrane("podman-list");
  const arm = img.images[1]!;
  const dst = `${reg2.host}/one/podman-arm64:1`;
  assert.equal((await tc("copy", "--platform", "linux/arm64", img.ref, dst)).trim(), `${reg2.host}/one/podman-arm64@${arm.digest}`);
  const cfg = JSON.parse(await tc("config", dst)) as { architecture: string; config: { Labels: Record<string, string> } };
  assert.equal(cfg.architecture, "arm64");
  assert.match(cfg.config.Labels["org.tcrane.test.note"]!, /labelled linux\/arm64/);
});

test("podman push --compression-format zstd: zstd layers are kept, validated, exported and loaded", async () => {
  const img = built.get("podman-zstd")!;
  assert.deepEqual(img.images[0]!.layerMediaTypes, ["application/vnd.oci.image.layer.v1.tar+zstd"]);
  const files = await throughTcrane("podman-zstd");
  // the OCI pull holds the zstd blob as the registry served it
  const idx = JSON.parse(await readFile(join(files.oci!, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
  const m = JSON.parse(await readFile(join(files.oci!, "blobs/sha256", idx.manifests[0]!.digest.slice(7)), "utf8")) as { layers: Array<{ mediaType: string; digest: string }> };
  assert.equal(m.layers[0]!.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
  // tcrane's tarball holds the layer decompressed (`<diff_id>.tar`: Docker 20.10 cannot load zstd,
  // and docker load took it above)
  const amd = img.images[0]!;
  const members = (await run("tar", ["-tf", files.tarball!])).stdout;
  assert.match(members, new RegExp(`^${amd.diffIds[0]!.slice(7)}\\.tar$`, "m"));
  // crane's tarball keeps the zstd blob (`<hex>.tar.zst`): pushing one makes an OCI manifest
  // (Docker schema 2 has no zstd layer type) with the same layer, which skopeo reads
  const zst = m.layers[0]!.digest.slice(7);
  const config = await readFile(join(files.oci!, "blobs/sha256", amd.configDigest.slice(7)));
  const crane = join(work.dir, "podman-zstd", "crane-zstd.tar");
  await writeTar(crane, [
    { name: `sha256:${amd.configDigest.slice(7)}`, data: config },
    { name: `${zst}.tar.zst`, data: await readFile(join(files.oci!, "blobs/sha256", zst)) },
    { name: "manifest.json", data: JSON.stringify([{ Config: `sha256:${amd.configDigest.slice(7)}`, RepoTags: [img.ref], Layers: [`${zst}.tar.zst`] }]) },
  ]);
  const dst = `${reg2.host}/pushed/crane-zstd`;
  const digest = (await tc("digest", `docker-archive:${crane}`)).trim();
  assert.equal((await tc("push", crane, `${dst}:1`)).trim(), `${dst}@${digest}`, "push prints the digest tcrane reads the archive as");
  const pushed = JSON.parse((await registryManifest(reg2.host, "pushed/crane-zstd", "1")).bytes.toString()) as { mediaType: string; config: { mediaType: string; digest: string }; layers: Array<{ mediaType: string; digest: string }> };
  assert.equal(pushed.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.deepEqual([pushed.config.mediaType, pushed.config.digest], ["application/vnd.oci.image.config.v1+json", amd.configDigest]);
  assert.deepEqual(pushed.layers.map((l) => [l.mediaType, l.digest]), [["application/vnd.oci.image.layer.v1.tar+zstd", m.layers[0]!.digest]]);
  const sk = JSON.parse(await skopeo("inspect", "--config", "--tls-verify=false", `docker://${dst}:1`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(sk.rootfs.diff_ids, amd.diffIds);
});

test("BuildKit-style attestations: --platform never picks one; copy --platform all keeps them", async () => {
  const img = built.get("attested")!;
  const [imgAmd, imgArm, attAmd, attArm] = img.images;
  assert.deepEqual(img.images.map((i) => i.platform), ["linux/amd64", "linux/arm64/v8", "unknown/unknown", "unknown/unknown"]);
  await throughTcrane("attested");
  // each platform picks its image
  for (const [platform, want] of [["linux/amd64", imgAmd!], ["linux/arm64/v8", imgArm!]] as const) {
    const d = await tc("digest", "--platform", platform, img.ref);
    assert.equal(d.trim(), want.digest, platform);
    const dst = `${reg2.host}/one/attested-${platform.replace(/\//g, "-")}:1`;
    assert.equal((await tc("copy", "--platform", platform, img.ref, dst)).trim(), dst.replace(/:1$/, `@${want.digest}`));
  }
  // an attestation is never an answer, not even to unknown/unknown
  for (const args of [["digest", "--platform", "unknown/unknown", img.ref], ["copy", "--platform", "unknown/unknown", img.ref, `${reg2.host}/x/y:1`]]) {
    const r = await tcrane(args);
    assert.equal(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^tcrane: .*no image for platform unknown\/unknown in the index; available: linux\/amd64, linux\/arm64\/v8\n$/);
  }
  // copy --platform all keeps the index byte for byte, attestations and their blobs included
  const all = `${reg2.host}/all/attested:1`;
  assert.equal((await tc("copy", "--platform", "all", img.ref, all)).trim(), `${reg2.host}/all/attested@${img.digest}`);
  for (const att of [attAmd!, attArm!]) {
    const m = await registryManifest(reg2.host, "all/attested", att.digest);
    const layer = (JSON.parse(m.bytes.toString()) as { layers: Array<{ digest: string; mediaType: string }> }).layers[0]!;
    assert.equal(layer.mediaType, "application/vnd.in-toto+json");
    const st = await fetch(`${reg2.url}/v2/all/attested/blobs/${layer.digest}`);
    assert.equal(st.status, 200);
    const statement = JSON.parse(await st.text()) as { subject: Array<{ digest: { sha256: string } }> };
    assert.ok([imgAmd!.digest, imgArm!.digest].includes(`sha256:${statement.subject[0]!.digest.sha256}`));
  }
  // a single-image file (docker-archive) gets the amd64 image, not an attestation
  const tarball = join(work.dir, "attested", "tarball.tar");
  const manifestJson = JSON.parse((await run("tar", ["-xOf", tarball, "manifest.json"])).stdout) as Array<{ Config: string }>;
  assert.equal(manifestJson.length, 1);
  assert.ok(manifestJson[0]!.Config.includes(imgAmd!.configDigest.slice(7)), manifestJson[0]!.Config);
});

test("selectManifest skips attestations by annotation too: one listed first without a platform is not linux/amd64", () => {
  const att = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${"a".repeat(64)}`, size: 1, annotations: { "vnd.docker.reference.type": "attestation-manifest" } };
  const img = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${"b".repeat(64)}`, size: 1, platform: { os: "linux", architecture: "amd64" } };
  assert.equal(selectManifest({ manifests: [att, img] }, DEFAULT_PLATFORM).digest, img.digest);
  assert.equal(isAttestation(att), true);
  assert.equal(isAttestation({ platform: { os: "unknown", architecture: "unknown" } }), true);
  assert.equal(isAttestation(img), false);
  assert.throws(() => selectManifest({ manifests: [att] }, DEFAULT_PLATFORM, "x"), code("NOT_FOUND", /available: none$/));
});
