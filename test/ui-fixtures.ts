/**
 * What the web-page tests put in a registry, built with ./fixtures/images.ts and pushed with its
 * pushToRegistry: a multi-arch image (OCI index over linux/amd64 and linux/arm64; configs with env,
 * entrypoint, cmd, user, labels — one of them the XSS string — and a history with an empty layer),
 * an OCI 1.1 signature referrer of the index (also pushed as the referrers tag-schema index
 * `sha256-<hex>`, for registries without the referrers API) and a cosign-style `sha256-<hex>.sig`
 * tag; a repository of many tags; and the member names of a layer. (A serving tcrane command:
 * serveTcrane in ./harness/tools.ts.)
 */
import { gunzipSync } from "node:zlib";
import tar from "tar-stream";
import type { RegistryClient } from "../src/registry/client.js";
import { blob, imageOf, layerOf, makeImage, makeIndex, MT, nodeBlobs, pushToRegistry, type Image, type Index } from "./fixtures/images.js";

/** The label and annotation value that must render as text. */
export const XSS = "<img src=x onerror=alert(1)>";

const SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNER = { "dev.sigstore.cosign/signer": "tests@example.invalid" };

/** What pushMultiArch pushed. */
export interface PushedFixture {
  repo: string;
  tag: string;
  /** The index, tagged `tag`; its children are `images`. */
  index: Index;
  indexDigest: string;
  /** linux/amd64 and linux/arm64, in the index's order. */
  images: Image[];
  /** The OCI 1.1 signature manifest (subject: the index). */
  signatureDigest: string;
  /** The cosign-style tag `sha256-<hex>.sig`. */
  sigTag: string;
  sigTagDigest: string;
  /** Every blob and manifest below the index, and the index (for sizes): digest -> size. */
  blobs: Map<string, number>;
}

/** "linux/arm64": an image's platform as the page shows it. */
export const platformName = (img: Image) => `${img.platform.os}/${img.platform.architecture}`;

/** Push the multi-arch image with its signature to `registry/repo:tag`. */
export async function pushMultiArch(client: RegistryClient, registry: string, repo = "demo/app", tag = "v1"): Promise<PushedFixture> {
  const r = { registry, repository: repo };
  const images: Image[] = [];
  for (const arch of ["amd64", "arm64"]) {
    images.push(
      await makeImage({
        layers: [400, 900],
        platform: `linux/${arch}`,
        created: arch === "amd64" ? "2024-03-01T10:00:00Z" : "2024-03-02T11:30:00Z",
        config: {
          User: "1000:1000",
          Env: ["PATH=/usr/local/bin:/usr/bin", `ARCH=${arch}`],
          Entrypoint: ["/bin/app"],
          Cmd: ["--serve", "--port=8080"],
          WorkingDir: "/srv",
          ExposedPorts: { "8080/tcp": {} },
          Labels: { "org.opencontainers.image.title": "demo app", "evil.label": XSS },
        },
        history: [
          { created: "2024-03-01T09:00:00Z", created_by: "ADD rootfs.tar /" },
          { created: "2024-03-01T09:01:00Z", created_by: "ENV ARCH=" + arch, empty_layer: true },
          { created: "2024-03-01T09:02:00Z", created_by: "COPY app /bin/app" },
        ],
        extra: { author: "tcrane tests" },
        nonce: false,
        annotations: { "org.opencontainers.image.source": "https://example.invalid/demo", "evil.annotation": XSS },
      }),
    );
  }
  const index = makeIndex(images, { annotations: { "org.opencontainers.image.created": "2024-03-02T12:00:00Z" } });
  const indexDigest = await pushToRegistry(client, r, index, tag);

  // An OCI 1.1 signature of the index (empty config, one payload layer).
  const payload = Buffer.from(JSON.stringify({ critical: { image: { "docker-manifest-digest": indexDigest } } }));
  const sig = imageOf([layerOf(payload, { gzip: false, mediaType: SIMPLE_SIGNING })], {
    configBlob: blob(Buffer.from("{}"), "application/vnd.oci.empty.v1+json"),
    artifactType: SIG_TYPE,
    subject: index.manifestDesc,
    annotations: SIGNER,
  });
  const signatureDigest = await pushToRegistry(client, r, sig);
  // The referrers tag schema, for registries without the referrers API (distribution 2.8).
  const tagSchema = makeIndex([{ desc: { ...sig.manifestDesc, artifactType: SIG_TYPE }, annotations: SIGNER }]);
  const hex = indexDigest.slice("sha256:".length);
  await pushToRegistry(client, r, tagSchema, `sha256-${hex}`);
  // cosign's own scheme: a tag `sha256-<hex>.sig` on a simple-signing manifest.
  const cosign = imageOf([layerOf(payload, { gzip: false, mediaType: SIMPLE_SIGNING, annotations: { "dev.cosignproject.cosign/signature": "MEUCIQDfake" } })], {
    configBlob: blob(Buffer.from(JSON.stringify({ architecture: "", os: "", rootfs: { type: "layers", diff_ids: [] }, config: {} })), MT.OCI_CONFIG),
  });
  const sigTag = `sha256-${hex}.sig`;
  const sigTagDigest = await pushToRegistry(client, r, cosign, sigTag);
  const blobs = new Map(nodeBlobs(index).map(([d]) => [d.digest, d.size]));
  return { repo, tag, index, indexDigest, images, signatureDigest, sigTag, sigTagDigest, blobs };
}

/** Tag the same small image `count` times in `repo` (tags t000 …), for the many-tags page. */
export async function pushManyTags(client: RegistryClient, registry: string, repo: string, count: number): Promise<string> {
  const r = { registry, repository: repo };
  const img = await makeImage({ layers: [100], config: null, history: false, nonce: false });
  const digest = await pushToRegistry(client, r, img);
  for (let i = 0; i < count; i++) await client.putManifest(r, `t${String(i).padStart(3, "0")}`, img.manifest, img.manifestDesc.mediaType, { skipExisting: false });
  return digest;
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
