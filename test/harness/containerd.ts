/**
 * A private containerd (Debian containerd 1.6, what docker.io brings) for tests: its own root, state
 * and socket in a temp dir, the CRI plugin off, and `ctr` pointed at it. Pulls unpack with the
 * `native` snapshotter (plain copies: no overlay mounts to clean up).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
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
  let log = "";
  const daemon: ChildProcess = spawn("containerd", ["--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  daemon.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  daemon.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const ctr = (...args: string[]) => run("ctr", ["--address", sock, ...args]);
  const stop = async () => {
    if (daemon.exitCode === null) {
      const done = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      const t = setTimeout(() => daemon.kill("SIGKILL"), 10000);
      await done;
      clearTimeout(t);
    }
    await run("umount", ["-R", join(dir, "root")]).catch(() => undefined);
    await cleanup().catch(() => undefined);
  };
  const deadline = Date.now() + 30000;
  for (;;) {
    if (daemon.exitCode !== null) {
      await cleanup().catch(() => undefined);
      throw new Error(`containerd exited: ${log.slice(-3000)}`);
    }
    if ((await ctr("version")).code === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd not ready: ${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ctr, logs: () => log, stop };
}
