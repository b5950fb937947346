/**
 * Runs one benchmark child under `/usr/bin/time -f '%e %M %U %S'` and returns its wall time (s), peak
 * RSS (MiB) and CPU time (s), plus the machine description the bench report starts with.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

/** One measured child run. */
export interface Measurement {
  seconds: number;
  /** User + system CPU seconds (steadier than wall time on a busy machine). */
  cpuSeconds: number;
  rssMiB: number;
  code: number;
  stderr: string;
  stdout: string;
}

/** Run `cmd args` under /usr/bin/time; `timeoutMs` kills it (SIGKILL) when exceeded. */
export async function measure(cmd: string, args: string[], timeoutMs = 30 * 60_000): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), "tcrane-bench-time-"));
  const out = join(dir, "time");
  try {
    const p = spawn("/usr/bin/time", ["-f", "%e %M %U %S", "-o", out, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d));
    p.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 1 << 20) stderr += d;
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    const code = await new Promise<number>((resolve, reject) => {
      p.on("error", reject);
      p.on("close", (c) => resolve(c ?? -1));
    });
    clearTimeout(timer);
    const text = (await readFile(out, "utf8")).trim().split("\n").pop() ?? "";
    const m = /^([\d.]+) (\d+) ([\d.]+) ([\d.]+)$/.exec(text);
    if (!m) throw new Error(`cannot read /usr/bin/time output ${JSON.stringify(text)} (exit ${code}): ${stderr.slice(-400)}`);
    return { seconds: Number(m[1]), cpuSeconds: Math.round((Number(m[3]) + Number(m[4])) * 100) / 100, rssMiB: Number(m[2]) / 1024, code, stderr, stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Does /usr/bin/time exist and understand -f? */
export function checkTime(): void {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", "true"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error("the bench needs GNU time at /usr/bin/time (Debian package `time`)");
}

/** The machine the numbers come from. */
export interface Machine {
  date: string;
  nproc: number;
  memoryGiB: number;
  cpu: string;
  node: string;
  skopeo: string;
  registry: string;
  loadavgStart: number[];
  loadavgEnd?: number[];
  commit?: string;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return (r.stdout || r.stderr || "").trim().split("\n")[0] ?? "";
}

/** Describe this machine (nproc, memory, CPU model, node/skopeo/registry versions, load). */
export async function describeMachine(repoRoot: string): Promise<Machine> {
  let cpu = "unknown";
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(await readFile("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {
    /* not Linux */
  }
  let commit: string | undefined;
  for (const root of [repoRoot, process.cwd()]) {
    try {
      // Read HEAD's commit from the files (no git command); the bench may run from a snapshot of dist/.
      const head = (await readFile(join(root, ".git", "HEAD"), "utf8")).trim();
      commit = head.startsWith("ref: ") ? (await readFile(join(root, ".git", head.slice(5)), "utf8")).trim() : head;
      break;
    } catch {
      /* not a checkout */
    }
  }
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpu,
    node: process.version,
    skopeo: firstLine("skopeo", ["--version"]),
    registry: firstLine("docker-registry", ["--version"]),
    loadavgStart: loadavg().map((x) => Math.round(x * 100) / 100),
    commit: commit?.slice(0, 12),
  };
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
