/**
 * A private dockerd (Debian docker.io) for tests: vfs storage, no iptables, no bridge, its own data
 * root and socket. 127.0.0.0/8 registries are plain-HTTP-allowed by dockerd by default. The docker CLI
 * runs with DOCKER_BUILDKIT=0: `docker build` uses the daemon's legacy builder (no buildx here).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { requireBinary, run, tempDir, type RunResult } from "./tools.js";

export interface Dockerd {
  /** Run a docker CLI command against this daemon. */
  docker(...args: string[]): Promise<RunResult>;
  /** The daemon's log so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** Start a private dockerd and wait until it answers. */
export async function startDockerd(): Promise<Dockerd> {
  requireBinary("dockerd");
  requireBinary("docker");
  const { dir, cleanup } = await tempDir("tcrane-dockerd-");
  const sock = join(dir, "d.sock");
  let log = "";
  const daemon: ChildProcess = spawn(
    "dockerd",
    ["--data-root", join(dir, "data"), "--storage-driver", "vfs", "--iptables=false", "--bridge=none", "--host", `unix://${sock}`, "--exec-root", join(dir, "exec"), "--pidfile", join(dir, "pid")],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  daemon.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  daemon.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const env = { ...process.env, DOCKER_BUILDKIT: "0", DOCKER_CONFIG: join(dir, "cli") };
  const docker = (...args: string[]) => run("docker", ["-H", `unix://${sock}`, ...args], { env });
  const deadline = Date.now() + 60000;
  for (;;) {
    if (daemon.exitCode !== null) throw new Error(`dockerd exited: ${log.slice(-3000)}`);
    if ((await docker("version", "--format", "{{.Server.Version}}")).code === 0) break;
    if (Date.now() > deadline) throw new Error(`dockerd not ready: ${log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    docker,
    logs: () => log,
    stop: async () => {
      if (daemon.exitCode === null) {
        const done = new Promise((r) => daemon.once("exit", r));
        daemon.kill("SIGTERM");
        const t = setTimeout(() => daemon.kill("SIGKILL"), 10000);
        await done;
        clearTimeout(t);
      }
      await run("umount", ["-R", join(dir, "data")]).catch(() => undefined);
      await cleanup().catch(() => undefined);
    },
  };
}

/** podman with a throw-away vfs store rooted in `dir` (no daemon). */
export function podman(dir: string) {
  requireBinary("podman");
  return (...args: string[]) =>
    run("podman", ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none", ...args]);
}
