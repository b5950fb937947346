/**
 * Real builders make the test images, from Debian's busybox-static (/usr/bin/busybox, one static
 * binary) as the whole root filesystem; nothing is downloaded. Each driver builds one image (FROM
 * scratch, COPY busybox, a RUN-free config), lets the builder itself push it into a registry
 * (distribution or `tcrane registry serve`, plain HTTP on loopback), and returns what the registry
 * now serves: the root digest and media type read back over plain HTTP, and the children of an index.
 *
 * - buildWithDocker: the private dockerd's legacy builder (`docker build`, DOCKER_BUILDKIT=0) + `docker push`
 * - buildWithBuildah: `buildah bud --format oci|docker --isolation chroot` + `buildah push`
 * - buildPodmanList: two `podman build --platform` images (the arm64 one is the same amd64 busybox,
 *   labelled so) in a `podman manifest`, pushed with `podman manifest push --all`
 * - pushZstdWithPodman: `podman build` + `podman push --compression-format zstd`
 * - addAttestations: a hand-made BuildKit-style index (no local builder makes one): an index's
 *   images plus one in-toto attestation manifest per image (`unknown/unknown`,
 *   `vnd.docker.reference.type: attestation-manifest`, `vnd.docker.reference.digest`)
 *
 * buildah and podman share one throw-away vfs store (`BuilderStore`), so nothing touches the system's.
 * The consumers that load images back (docker load, podman load) are here too.
 */
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { podman as podmanIn, type Dockerd } from "./dockerd.js";
import { requireBinary, run, tempDir, type RunResult } from "./tools.js";
import { sha256 } from "../fixtures/images.js";

/** The root filesystem of every built image: one static binary. */
export const BUSYBOX = "/usr/bin/busybox";
/** Where the images hold it. */
export const BUSYBOX_PATH = "bin/busybox";
/** The label every built image carries (names the builder). */
export const BUILDER_LABEL = "org.tcrane.test.builder";


/** What a builder left in the registry. */
export interface BuiltImage {
  /** Who made it, e.g. "docker build". */
  builder: string;
  /** host/repo:tag in the registry. */
  ref: string;
  /** The root digest the registry serves (sha256 of the manifest or index bytes). */
  digest: string;
  mediaType: string;
  /** The root's bytes as the registry serves them. */
  bytes: Buffer;
  /** One entry per image (a single image: itself), in the order the index lists them. */
  images: Array<{ digest: string; mediaType: string; platform: string; configDigest: string; diffIds: string[]; layerMediaTypes: string[]; labels: Record<string, string> }>;
}

function must(r: RunResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** Where every image says who built it (one line: the builder and a random nonce). */
export const BUILDER_FILE = "etc/tcrane-builder";

/**
 * A build context: rootfs/ holds busybox and BUILDER_FILE; the Dockerfile only COPYs it (one layer)
 * and sets config: no RUN, so no runtime and no network. The nonce makes every build's layer unique,
 * so no builder can reuse a blob another one pushed (podman would skip its zstd recompression).
 */
export async function busyboxContext(dir: string, builder: string, labels: Record<string, string> = {}): Promise<string> {
  await mkdir(join(dir, "rootfs", "bin"), { recursive: true });
  await mkdir(join(dir, "rootfs", "etc"), { recursive: true });
  await copyFile(BUSYBOX, join(dir, "rootfs", BUSYBOX_PATH));
  await writeFile(join(dir, "rootfs", BUILDER_FILE), `${builder} ${randomBytes(8).toString("hex")}\n`);
  const label = Object.entries({ [BUILDER_LABEL]: builder, ...labels })
    .map(([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}\n`)
    .join("");
  await writeFile(join(dir, "Dockerfile"), `FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\n${label}ENTRYPOINT ["/bin/busybox"]\nCMD ["sh"]\n`);
  return dir;
}

/** GET a manifest from a plain-HTTP registry (no tcrane involved). */
export async function registryManifest(host: string, repo: string, ref: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
  const accept = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
  ].join(", ");
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { headers: { accept } });
  if (res.status !== 200) throw new Error(`GET ${host}/${repo}:${ref}: ${res.status} ${await res.text()}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { bytes, mediaType: res.headers.get("content-type") ?? "", digest: sha256(bytes) };
}

/** GET a blob from a plain-HTTP registry, checked against its digest. */
export async function registryBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`GET blob ${host}/${repo}@${digest}: ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (sha256(bytes) !== digest) throw new Error(`blob ${digest} served with other bytes`);
  return bytes;
}

function splitRef(ref: string): { host: string; repo: string; tag: string } {
  const slash = ref.indexOf("/");
  const colon = ref.lastIndexOf(":");
  return { host: ref.slice(0, slash), repo: ref.slice(slash + 1, colon), tag: ref.slice(colon + 1) };
}

interface Parsed {
  mediaType?: string;
  config?: { digest: string };
  layers?: Array<{ mediaType: string }>;
  manifests?: Array<{ digest: string; mediaType: string; platform?: { os: string; architecture: string; variant?: string } }>;
}

/** Read back what the registry serves under `ref`: root, and every image's config. */
export async function readBack(builder: string, ref: string): Promise<BuiltImage> {
  const { host, repo, tag } = splitRef(ref);
  const root = await registryManifest(host, repo, tag);
  const parsed = JSON.parse(root.bytes.toString()) as Parsed;
  const entries = parsed.manifests
    ? parsed.manifests.map((d) => ({ digest: d.digest, mediaType: d.mediaType, platform: d.platform }))
    : [{ digest: root.digest, mediaType: parsed.mediaType ?? root.mediaType, platform: undefined }];
  const images: BuiltImage["images"] = [];
  for (const e of entries) {
    const m = e.digest === root.digest ? parsed : (JSON.parse((await registryManifest(host, repo, e.digest)).bytes.toString()) as Parsed);
    const config = JSON.parse((await registryBlob(host, repo, m.config!.digest)).toString()) as {
      os: string;
      architecture: string;
      variant?: string;
      rootfs: { diff_ids: string[] };
      config?: { Labels?: Record<string, string> };
    };
    const p = e.platform ?? config;
    images.push({
      digest: e.digest,
      mediaType: e.mediaType,
      platform: [p.os, p.architecture, p.variant].filter(Boolean).join("/"),
      configDigest: m.config!.digest,
      diffIds: config.rootfs.diff_ids,
      layerMediaTypes: (m.layers ?? []).map((l) => l.mediaType),
      labels: config.config?.Labels ?? {},
    });
  }
  return { builder, ref, digest: root.digest, mediaType: root.mediaType, bytes: root.bytes, images };
}

/** `docker build` (legacy builder) on the private dockerd, then `docker push` into `registry`; also `docker save`s it to `saveTo`. */
export async function buildWithDocker(dockerd: Dockerd, work: string, registry: string, opts: { repo?: string; saveTo?: string } = {}): Promise<BuiltImage> {
  const ref = `${registry}/${opts.repo ?? "built/docker"}:1`;
  const ctx = await busyboxContext(join(work, "ctx-docker"), "docker build");
  must(await dockerd.docker("build", "--network", "none", "-t", ref, ctx), "docker build");
  must(await dockerd.docker("push", ref), "docker push");
  if (opts.saveTo) must(await dockerd.docker("save", "-o", opts.saveTo, ref), "docker save");
  return readBack("docker build", ref);
}

/** A throw-away containers-storage (vfs) shared by buildah and podman. */
export interface BuilderStore {
  dir: string;
  buildah(...args: string[]): Promise<RunResult>;
  podman(...args: string[]): Promise<RunResult>;
  cleanup(): Promise<void>;
}

/** A fresh vfs store for buildah and podman (the same --root/--runroot for both). */
export async function builderStore(): Promise<BuilderStore> {
  requireBinary("buildah");
  const { dir, cleanup } = await tempDir("tcrane-builders-");
  const storage = ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs"];
  return {
    dir,
    buildah: (...args) => run("buildah", [...storage, ...args]),
    podman: podmanIn(dir),
    cleanup: async () => {
      await run("umount", ["-R", join(dir, "root")]).catch(() => undefined);
      await cleanup();
    },
  };
}

/** `buildah bud --format oci|docker` then `buildah push` into `registry`. */
export async function buildWithBuildah(store: BuilderStore, registry: string, format: "oci" | "docker"): Promise<BuiltImage> {
  const local = `localhost/buildah-${format}:1`;
  const ctx = await busyboxContext(join(store.dir, `ctx-buildah-${format}`), `buildah bud --format ${format}`);
  must(await store.buildah("bud", "--isolation", "chroot", "--format", format, "-t", local, ctx), `buildah bud --format ${format}`);
  const ref = `${registry}/built/buildah-${format}:1`;
  must(await store.buildah("push", "--tls-verify=false", local, `docker://${ref}`), "buildah push");
  return readBack(`buildah (${format})`, ref);
}

/** Build one image with `podman build --platform` into the store; returns its local name. */
async function podmanBuild(store: BuilderStore, name: string, platform: string, note: string): Promise<string> {
  const local = `localhost/${name}:1`;
  const ctx = await busyboxContext(join(store.dir, `ctx-${name}`), `podman build (${name})`, { "org.tcrane.test.note": note });
  must(await store.podman("build", "--isolation", "chroot", "--platform", platform, "-t", local, ctx), `podman build --platform ${platform}`);
  return local;
}

/** A two-platform `podman manifest` (linux/amd64 + linux/arm64/v8), pushed with `podman manifest push --all`. */
export async function buildPodmanList(store: BuilderStore, registry: string): Promise<BuiltImage> {
  const amd = await podmanBuild(store, "list-amd64", "linux/amd64", "busybox for amd64");
  // no arm64 busybox here: the same amd64 binary with arm64 metadata (never run)
  const arm = await podmanBuild(store, "list-arm64", "linux/arm64/v8", "amd64 busybox labelled linux/arm64/v8 (metadata only)");
  const list = "localhost/podman-list:1";
  must(await store.podman("manifest", "create", list), "podman manifest create");
  for (const img of [amd, arm]) must(await store.podman("manifest", "add", list, `containers-storage:${img}`), "podman manifest add");
  const ref = `${registry}/built/podman-list:1`;
  must(await store.podman("manifest", "push", "--all", "--tls-verify=false", list, `docker://${ref}`), "podman manifest push");
  return readBack("podman manifest", ref);
}

/** `podman build` then `podman push --compression-format zstd` (zstd layers). */
export async function pushZstdWithPodman(store: BuilderStore, registry: string): Promise<BuiltImage> {
  const local = await podmanBuild(store, "zstd", "linux/amd64", "pushed with zstd layers");
  const ref = `${registry}/built/podman-zstd:1`;
  must(await store.podman("push", "--tls-verify=false", "--compression-format", "zstd", local, `docker://${ref}`), "podman push --compression-format zstd");
  return readBack("podman push --compression-format zstd", ref);
}

/** Upload a blob with a monolithic POST+PUT (plain HTTP, no tcrane). */
async function uploadBlob(host: string, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const post = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  if (post.status !== 202) throw new Error(`POST upload ${host}/${repo}: ${post.status}`);
  const loc = new URL(post.headers.get("location")!, `http://${host}`);
  loc.searchParams.set("digest", digest);
  const put = await fetch(loc, { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } });
  if (put.status !== 201) throw new Error(`PUT blob ${host}/${repo}: ${put.status} ${await put.text()}`);
  return { digest, size: bytes.length };
}

async function putManifest(host: string, repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<void> {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { method: "PUT", body: bytes, headers: { "content-type": mediaType } });
  if (r.status !== 201) throw new Error(`PUT manifest ${host}/${repo}:${ref}: ${r.status} ${await r.text()}`);
}

/**
 * A BuildKit-style attested index, made by hand in `base`'s repository: every image of `base` (an
 * image or an index in the same registry) followed by one attestation manifest per image, as
 * `docker buildx build --provenance=true` pushes them: an OCI manifest whose config says
 * unknown/unknown and whose one layer is an in-toto SLSA provenance statement about the image; the
 * index entry has platform unknown/unknown and the vnd.docker.reference.* annotations.
 */
export async function addAttestations(base: BuiltImage, tag = "attested"): Promise<BuiltImage> {
  const { host, repo } = splitRef(base.ref);
  const images = base.images;
  const entries: unknown[] = images.map((img) => {
    const [os, architecture, variant] = img.platform.split("/");
    const size = img.digest === base.digest ? base.bytes.length : undefined;
    return { mediaType: img.mediaType, digest: img.digest, size, platform: { architecture, os, ...(variant ? { variant } : {}) } };
  });
  for (const [i, img] of images.entries()) {
    if ((entries[i] as { size?: number }).size === undefined) {
      (entries[i] as { size?: number }).size = (await registryManifest(host, repo, img.digest)).bytes.length;
    }
  }
  for (const img of images) {
    const statement = Buffer.from(
      JSON.stringify({
        _type: "https://in-toto.io/Statement/v0.1",
        predicateType: "https://slsa.dev/provenance/v0.2",
        subject: [{ name: `pkg:docker/${repo}@${tag}?platform=${encodeURIComponent(img.platform)}`, digest: { sha256: img.digest.slice(7) } }],
        predicate: { builder: { id: "" }, buildType: "https://mobyproject.org/buildkit@v1", metadata: { buildInvocationID: "tcrane-test" } },
      }),
    );
    const layer = await uploadBlob(host, repo, statement);
    const config = Buffer.from(JSON.stringify({ architecture: "unknown", os: "unknown", config: {}, rootfs: { type: "layers", diff_ids: [layer.digest] } }));
    const cfg = await uploadBlob(host, repo, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...cfg },
        layers: [{ mediaType: "application/vnd.in-toto+json", ...layer, annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" } }],
      }),
    );
    const digest = sha256(manifest);
    await putManifest(host, repo, digest, manifest, "application/vnd.oci.image.manifest.v1+json");
    entries.push({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest,
      size: manifest.length,
      annotations: { "vnd.docker.reference.digest": img.digest, "vnd.docker.reference.type": "attestation-manifest" },
      platform: { architecture: "unknown", os: "unknown" },
    });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: entries }));
  await putManifest(host, repo, tag, index, "application/vnd.oci.image.index.v1+json");
  return readBack(`BuildKit-style attestations (hand-made) over ${base.builder}`, `${host}/${repo}:${tag}`);
}

/** `docker load -i FILE` on the private dockerd; returns the loaded image's ID, RootFS layers and tags. */
export async function dockerLoad(dockerd: Dockerd, file: string): Promise<{ id: string; layers: string[]; tags: string[] }> {
  const out = must(await dockerd.docker("load", "-i", file), `docker load ${file}`);
  const m = /Loaded image(?: ID)?: (\S+)/.exec(out);
  if (!m) throw new Error(`docker load ${file}: no image named in: ${out}`);
  const info = JSON.parse(must(await dockerd.docker("image", "inspect", m[1]!), "docker image inspect")) as Array<{ Id: string; RootFS: { Layers: string[] }; RepoTags: string[] }>;
  return { id: info[0]!.Id, layers: info[0]!.RootFS.Layers, tags: info[0]!.RepoTags };
}

/** `podman load -i FILE` into the store; returns the loaded image IDs (sha256:…). */
export async function podmanLoad(store: BuilderStore, file: string): Promise<string[]> {
  const out = must(await store.podman("load", "-i", file), `podman load ${file}`);
  const ids: string[] = [];
  for (const m of out.matchAll(/Loaded image(?:\(s\))?: (\S+)/g)) {
    const id = must(await store.podman("image", "inspect", "--format", "{{.Id}}", m[1]!), "podman image inspect").trim();
    ids.push(`sha256:${id}`);
  }
  if (ids.length === 0) throw new Error(`podman load ${file}: no image named in: ${out}`);
  return ids;
}
