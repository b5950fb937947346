/**
 * A private dockerd (20.10, vfs, no networking setup) pulls from and pushes to the embedded
 * registry: 127.0.0.0/8 registries are plain-HTTP-allowed by default.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry, type RunningRegistry } from "../src/server/index.js";
import { startDockerd, type Dockerd } from "./harness/dockerd.js";
import { requireBinary, run, tempDir } from "./harness/tools.js";
import { makeImage, REF_NAME, writeLayout } from "./fixtures/images.js";

let root: string;
let cleanup: () => Promise<void>;
let dockerd: Dockerd;

async function docker(...args: string[]): Promise<string> {
  const r = await dockerd.docker(...args);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr}\n--- dockerd log ---\n${dockerd.logs().slice(-3000)}`);
  return r.stdout;
}

before(async () => {
  requireBinary("skopeo");
  ({ dir: root, cleanup } = await tempDir("tcrane-dockerd-"));
  dockerd = await startDockerd();
});

after(async () => {
  await dockerd?.stop();
  await cleanup?.();
});

test("dockerd pulls an image from the registry and pushes it back under a new name", async () => {
  let reg: RunningRegistry | undefined;
  try {
    reg = await startRegistry({ dir: join(root, "store") });
    const img = await makeImage({ layers: [3000, 50000] });
    const src = join(root, "src");
    await writeLayout(src, [{ node: img, annotations: { [REF_NAME]: "v1" } }]);
    const r = await run("skopeo", ["copy", "--dest-tls-verify=false", `oci:${src}:v1`, `docker://${reg.host}/demo/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const pulled = await docker("pull", `${reg.host}/demo/app:v1`);
    assert.match(pulled, new RegExp(`Digest: ${img.manifestDesc.digest}`));
    const digests = JSON.parse(await docker("image", "inspect", "--format", "{{json .RepoDigests}}", `${reg.host}/demo/app:v1`));
    assert.deepEqual(digests, [`${reg.host}/demo/app@${img.manifestDesc.digest}`]);
    await docker("tag", `${reg.host}/demo/app:v1`, `${reg.host}/pushed/by-docker:v2`);
    await docker("push", `${reg.host}/pushed/by-docker:v2`);
    const info = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/pushed/by-docker:v2`]);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout);
    assert.equal(parsed.Layers.length, 2);
    assert.equal(parsed.Architecture, "amd64");
  } finally {
    await reg?.close();
  }
});
