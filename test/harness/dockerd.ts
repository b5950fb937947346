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

/** A daemon started by startDaemon. */
export interface Daemon {
  logs(): string;
  /** SIGTERM (SIGKILL after 10 s), unmount what is left under `unmount`, remove the temp dir. */
  stop(): Promise<void>;
}

/**
 * Start a daemon whose state lives in the temp dir `dir` (removed by `cleanup`) and wait until
 * `ready()` says it answers (at most `timeoutMs`); a daemon that exits or never answers throws with
 * its log, and is stopped. `unmount`: the directory under which the daemon may leave mounts.
 */
export async function startDaemon(
  bin: string,
  args: string[],
  dir: { dir: string; cleanup: () => Promise<void> },
  ready: () => Promise<boolean>,
  unmount: string,
  timeoutMs = 60000,
): Promise<Daemon> {
  let log = "";
  const daemon: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  daemon.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  daemon.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const stop = async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      const done = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      const t = setTimeout(() => daemon.kill("SIGKILL"), 10000);
      await done;
      clearTimeout(t);
    }
    await run("umount", ["-R", unmount]).catch(() => undefined);
    await dir.cleanup().catch(() => undefined);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exitCode !== null) {
      await stop();
      throw new Error(`${bin} exited: ${log.slice(-3000)}`);
    }
    if (await ready()) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${bin} not ready: ${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { logs: () => log, stop };
}

/** Start a private dockerd and wait until it answers. */
export async function startDockerd(): Promise<Dockerd> {
  requireBinary("dockerd");
  requireBinary("docker");
  const tmp = await tempDir("tcrane-dockerd-");
  const dir = tmp.dir;
  const sock = join(dir, "d.sock");
  const env = { ...process.env, DOCKER_BUILDKIT: "0", DOCKER_CONFIG: join(dir, "cli") };
  const docker = (...args: string[]) => run("docker", ["-H", `unix://${sock}`, ...args], { env });
  const d = await startDaemon(
    "dockerd",
    ["--data-root", join(dir, "data"), "--storage-driver", "vfs", "--iptables=false", "--bridge=none", "--host", `unix://${sock}`, "--exec-root", join(dir, "exec"), "--pidfile", join(dir, "pid")],
    tmp,
    async () => (await docker("version", "--format", "{{.Server.Version}}")).code === 0,
    join(dir, "data"),
  );
  return { docker, ...d };
}

/** podman with a throw-away vfs store rooted in `dir` (no daemon). */
export function podman(dir: string) {
  requireBinary("podman");
  return (...args: string[]) =>
    run("podman", ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none", ...args]);
}
