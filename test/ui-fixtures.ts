/**
 * What the web-page tests put in a registry: a multi-arch image (OCI index over linux/amd64 and
 * linux/arm64; configs with env, entrypoint, cmd, user, labels — one of them the XSS string — and a
 * history with an empty layer), an OCI 1.1 signature referrer of the index (also pushed as the
 * referrers tag-schema index `sha256-<hex>`, for registries without the referrers API) and a
 * cosign-style `sha256-<hex>.sig` tag. Pushed with tcrane's own RegistryClient. Also: a tcrane
 * command that serves until SIGTERM (`registry serve`, `browse`), run as users run it, and the
 * member names of a layer.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { digestOf } from "../src/image/digest.js";
import type { Descriptor } from "../src/image/types.js";
import type { RegistryClient } from "../src/registry/client.js";
import { makeLayer, type Layer } from "./fixtures/images.js";
import { TCRANE_BIN } from "./harness/tools.js";

/** The label and annotation value that must render as text. */
export const XSS = "<img src=x onerror=alert(1)>";

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json";

/** One pushed image of the index. */
export interface PushedImage {
  platform: string;
  manifest: Buffer;
  digest: string;
  config: Buffer;
  configDigest: string;
  layers: Layer[];
  layerDescs: Descriptor[];
}

/** What pushMultiArch pushed. */
export interface PushedFixture {
  repo: string;
  tag: string;
  index: Buffer;
  indexDigest: string;
  images: PushedImage[];
  /** The OCI 1.1 signature manifest (subject: the index). */
  signatureDigest: string;
  /** The cosign-style tag `sha256-<hex>.sig`. */
  sigTag: string;
  sigTagDigest: string;
  /** Every blob pushed (for sizes): digest -> size. */
  blobs: Map<string, number>;
}

const desc = (mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType, digest: digestOf(bytes), size: bytes.length, ...extra });

async function pushBlob(client: RegistryClient, registry: string, repo: string, bytes: Buffer): Promise<void> {
  await client.pushBlob({ registry, repository: repo }, { digest: digestOf(bytes), size: bytes.length }, Readable.from([bytes]));
}

/** Push the multi-arch image with its signature to `registry/repo:tag`. */
export async function pushMultiArch(client: RegistryClient, registry: string, repo = "demo/app", tag = "v1"): Promise<PushedFixture> {
  const r = { registry, repository: repo };
  const blobs = new Map<string, number>();
  const images: PushedImage[] = [];
  for (const arch of ["amd64", "arm64"]) {
    const layers = [await makeLayer(400), await makeLayer(900)];
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: "linux",
        created: arch === "amd64" ? "2024-03-01T10:00:00Z" : "2024-03-02T11:30:00Z",
        author: "tcrane tests",
        config: {
          User: "1000:1000",
          Env: ["PATH=/usr/local/bin:/usr/bin", `ARCH=${arch}`],
          Entrypoint: ["/bin/app"],
          Cmd: ["--serve", "--port=8080"],
          WorkingDir: "/srv",
          ExposedPorts: { "8080/tcp": {} },
          Labels: { "org.opencontainers.image.title": "demo app", "evil.label": XSS },
        },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: [
          { created: "2024-03-01T09:00:00Z", created_by: "ADD rootfs.tar /" },
          { created: "2024-03-01T09:01:00Z", created_by: 'ENV ARCH=' + arch, empty_layer: true },
          { created: "2024-03-01T09:02:00Z", created_by: "COPY app /bin/app" },
        ],
      }),
    );
    const layerDescs = layers.map((l) => desc(OCI_LAYER, l.blob));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: desc(OCI_CONFIG, config),
        layers: layerDescs,
        annotations: { "org.opencontainers.image.source": "https://example.invalid/demo", "evil.annotation": XSS },
      }),
    );
    for (const b of [config, ...layers.map((l) => l.blob)]) {
      await pushBlob(client, registry, repo, b);
      blobs.set(digestOf(b), b.length);
    }
    const digest = await client.putManifest(r, digestOf(manifest), manifest, OCI_MANIFEST);
    blobs.set(digest, manifest.length);
    images.push({ platform: `linux/${arch}`, manifest, digest, config, configDigest: digestOf(config), layers, layerDescs });
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: images.map((i) => desc(OCI_MANIFEST, i.manifest, { platform: { os: "linux", architecture: i.platform.split("/")[1]! } })),
      annotations: { "org.opencontainers.image.created": "2024-03-02T12:00:00Z" },
    }),
  );
  const indexDigest = await client.putManifest(r, tag, index, OCI_INDEX);
  blobs.set(indexDigest, index.length);

  // An OCI 1.1 signature of the index (empty config, one payload layer).
  const empty = Buffer.from("{}");
  const payload = Buffer.from(JSON.stringify({ critical: { image: { "docker-manifest-digest": indexDigest } } }));
  await pushBlob(client, registry, repo, empty);
  await pushBlob(client, registry, repo, payload);
  const sig = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIG_TYPE,
      config: desc("application/vnd.oci.empty.v1+json", empty),
      layers: [desc("application/vnd.dev.cosign.simplesigning.v1+json", payload)],
      subject: { mediaType: OCI_INDEX, digest: indexDigest, size: index.length },
      annotations: { "dev.sigstore.cosign/signer": "tests@example.invalid" },
    }),
  );
  const signatureDigest = await client.putManifest(r, digestOf(sig), sig, OCI_MANIFEST);
  // The referrers tag schema, for registries without the referrers API (distribution 2.8).
  const tagSchema = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: signatureDigest, size: sig.length, artifactType: SIG_TYPE, annotations: { "dev.sigstore.cosign/signer": "tests@example.invalid" } }],
    }),
  );
  const hex = indexDigest.slice("sha256:".length);
  await client.putManifest(r, `sha256-${hex}`, tagSchema, OCI_INDEX);
  // cosign's own scheme: a tag `sha256-<hex>.sig` on a simple-signing manifest.
  const cosignCfg = Buffer.from(JSON.stringify({ architecture: "", os: "", rootfs: { type: "layers", diff_ids: [] }, config: {} }));
  await pushBlob(client, registry, repo, cosignCfg);
  const cosign = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: desc(OCI_CONFIG, cosignCfg),
      layers: [desc("application/vnd.dev.cosign.simplesigning.v1+json", payload, { annotations: { "dev.cosignproject.cosign/signature": "MEUCIQDfake" } })],
    }),
  );
  const sigTag = `sha256-${hex}.sig`;
  const sigTagDigest = await client.putManifest(r, sigTag, cosign, OCI_MANIFEST);
  return { repo, tag, index, indexDigest, images, signatureDigest, sigTag, sigTagDigest, blobs };
}

/** Tag the same small image `count` times in `repo` (tags t000 …), for the many-tags page. */
export async function pushManyTags(client: RegistryClient, registry: string, repo: string, count: number): Promise<string> {
  const r = { registry, repository: repo };
  const layer = await makeLayer(100);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z", rootfs: { type: "layers", diff_ids: [layer.diffId] } }));
  await pushBlob(client, registry, repo, layer.blob);
  await pushBlob(client, registry, repo, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, config), layers: [desc(OCI_LAYER, layer.blob)] }));
  const digest = digestOf(manifest);
  for (let i = 0; i < count; i++) await client.putManifest(r, `t${String(i).padStart(3, "0")}`, manifest, OCI_MANIFEST, { skipExisting: false });
  return digest;
}

/** A tcrane command that serves until SIGTERM, with the first stdout line it printed. */
export interface Served {
  line: string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

export async function serveCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Served> {
  const proc: ChildProcess = spawn(process.execPath, [TCRANE_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  let err = "";
  const exit = new Promise<number | null>((r) => proc.once("exit", (c) => r(c)));
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  try {
    // Both commands print the line on stdout and a human line on stderr, one after the other; the
    // two pipes deliver in either order: wait for both.
    const line = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const nl = out.indexOf("\n");
        if (nl >= 0 && err.includes("\n")) resolve(out.slice(0, nl));
      };
      proc.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        check();
      });
      proc.stderr!.on("data", check);
      void exit.then((c) => reject(new Error(`tcrane ${args.join(" ")} exited ${c}: ${err}`)));
      setTimeout(() => reject(new Error(`tcrane ${args.join(" ")} printed nothing: ${err}`)), 15000).unref();
    });
    return {
      line,
      stderr: () => err,
      stop: async () => {
        proc.kill("SIGTERM");
        return exit;
      },
    };
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
}


/** The member names of a gzip-compressed tar, in order. */
export async function tarEntries(gz: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = tar.extract();
  ex.on("entry", (h, s, next) => {
    names.push(h.name);
    s.on("end", next);
    s.resume();
  });
  const done = new Promise<void>((r) => ex.on("finish", () => r()));
  ex.end(gunzipSync(gz));
  await done;
  return names;
}
