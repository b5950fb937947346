/**
 * A private dockerd (20.10, vfs, no networking setup) pulls from and pushes to the embedded
 * registry: 127.0.0.0/8 registries are plain-HTTP-allowed by default.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { startRegistry, type RunningRegistry } from "../src/server/index.js";
import { requireBinary, run, tempDir } from "./harness/tools.js";
import { makeImage, writeLayout } from "./server-fixtures.js";

let root: string;
let cleanup: () => Promise<void>;
let daemon: ChildProcess;
let daemonLog = "";
let sock: string;

async function docker(...args: string[]): Promise<string> {
  const r = await run("docker", ["-H", `unix://${sock}`, ...args]);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr}\n--- dockerd log ---\n${daemonLog.slice(-3000)}`);
  return r.stdout;
}

before(async () => {
  requireBinary("dockerd");
  requireBinary("docker");
  requireBinary("skopeo");
  ({ dir: root, cleanup } = await tempDir("tcrane-dockerd-"));
  sock = join(root, "d.sock");
  daemon = spawn(
    "dockerd",
    ["--data-root", join(root, "data"), "--storage-driver", "vfs", "--iptables=false", "--bridge=none", "--host", `unix://${sock}`, "--exec-root", join(root, "exec"), "--pidfile", join(root, "pid")],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  daemon.stdout!.on("data", (d: Buffer) => (daemonLog += d.toString()));
  daemon.stderr!.on("data", (d: Buffer) => (daemonLog += d.toString()));
  const deadline = Date.now() + 40000;
  for (;;) {
    if (daemon.exitCode !== null) throw new Error(`dockerd exited: ${daemonLog}`);
    const r = await run("docker", ["-H", `unix://${sock}`, "version", "--format", "{{.Server.Version}}"]);
    if (r.code === 0) break;
    if (Date.now() > deadline) throw new Error(`dockerd not ready: ${daemonLog}`);
    await new Promise((res) => setTimeout(res, 250));
  }
});

after(async () => {
  if (daemon && daemon.exitCode === null) {
    const done = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGTERM");
    const t = setTimeout(() => daemon.kill("SIGKILL"), 15000);
    await done;
    clearTimeout(t);
  }
  await cleanup?.();
});

test("dockerd pulls an image from the registry and pushes it back under a new name", async () => {
  let reg: RunningRegistry | undefined;
  try {
    reg = await startRegistry({ dir: join(root, "store") });
    const img = await makeImage([3000, 50000]);
    const src = join(root, "src");
    await writeLayout(src, [img], [{ "org.opencontainers.image.ref.name": "v1" }]);
    const r = await run("skopeo", ["copy", "--dest-tls-verify=false", `oci:${src}:v1`, `docker://${reg.host}/demo/app:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const pulled = await docker("pull", `${reg.host}/demo/app:v1`);
    assert.match(pulled, new RegExp(`Digest: ${img.manifestDigest}`));
    const digests = JSON.parse(await docker("image", "inspect", "--format", "{{json .RepoDigests}}", `${reg.host}/demo/app:v1`));
    assert.deepEqual(digests, [`${reg.host}/demo/app@${img.manifestDigest}`]);
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
