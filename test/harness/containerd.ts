/**
 * A private containerd (Debian containerd 1.6, what docker.io brings) for tests: its own root, state
 * and socket in a temp dir, the CRI plugin off, and `ctr` pointed at it. Pulls unpack with the
 * `native` snapshotter (plain copies: no overlay mounts to clean up).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDaemon } from "./dockerd.js";
import { requireBinary, run, tempDir, type RunResult } from "./tools.js";

export interface Containerd {
  /** Run `ctr` against this daemon. */
  ctr(...args: string[]): Promise<RunResult>;
  /** The daemon's log so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** Start a private containerd and wait until `ctr version` answers. */
export async function startContainerd(): Promise<Containerd> {
  requireBinary("containerd");
  requireBinary("ctr");
  const { dir, cleanup } = await tempDir("tcrane-containerd-");
  const sock = join(dir, "c.sock");
  const config = join(dir, "config.toml");
  await writeFile(
    config,
    [
      "version = 2",
      `root = ${JSON.stringify(join(dir, "root"))}`,
      `state = ${JSON.stringify(join(dir, "state"))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = ${JSON.stringify(sock)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
      "[debug]",
      `  address = ${JSON.stringify(join(dir, "debug.sock"))}`,
      "[metrics]",
      '  address = ""',
      "",
    ].join("\n"),
  );
  const ctr = (...args: string[]) => run("ctr", ["--address", sock, ...args]);
  const d = await startDaemon("containerd", ["--config", config], { dir, cleanup }, async () => (await ctr("version")).code === 0, join(dir, "root"), 30000);
  return { ctr, ...d };
}
