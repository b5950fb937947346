/**
 * The real CNCF distribution registry (Debian `docker-registry`) on a free loopback port, in the modes
 * users meet: anonymous, htpasswd Basic (bcrypt), Bearer token (a token server under test/), TLS.
 * Shared by every integration test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { freePort, requireBinary, run, tempDir } from "./tools.js";
import { makePki, type TestPki } from "./tls.js";

export type DistributionMode = "anonymous" | "basic" | "bearer" | "tls";

export interface DistributionOptions {
  mode?: DistributionMode;
  /** Users for htpasswd mode: user -> password. */
  users?: Record<string, string>;
  /** Bearer mode: the token server's settings. */
  token?: { realm: string; service: string; issuer: string; rootCertBundlePath: string };
  /** Serve TLS (implied by mode "tls"); may combine with basic/bearer. */
  tls?: boolean;
  /** Extra config merged at the top level (e.g. { http: { relativeurls: true } }). */
  extra?: Record<string, unknown>;
  /**
   * Accept Docker schema 1 pushes (`compatibility: schema1: enabled: true`). The registry then signs
   * every schema 1 manifest it serves with its own key (generated at start).
   */
  schema1?: boolean;
}

export interface Distribution {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  port: number;
  /** http(s)://host:port */
  url: string;
  mode: DistributionMode;
  pki?: TestPki;
  /** Storage root, for tests that inspect or corrupt what was stored. */
  storageDir: string;
  /** Everything the registry logged so far. */
  logs(): string;
  stop(): Promise<void>;
  /** Restart on the same port and storage (for kill-and-resume tests). */
  restart(): Promise<void>;
}

async function waitReady(url: string, pki: TestPki | undefined, proc: ChildProcess, logs: () => string): Promise<void> {
  const { Agent } = await import("undici");
  const dispatcher = pki ? new Agent({ connect: { ca: pki.caPem } }) : undefined;
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${logs()}`);
    try {
      const r = await request(`${url}/v2/`, { dispatcher });
      await r.body.dump();
      if (r.statusCode === 200 || r.statusCode === 401) {
        await dispatcher?.close();
        return;
      }
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not become ready: ${logs()}`);
}

/** Start the real distribution registry. */
export async function startDistribution(opts: DistributionOptions = {}): Promise<Distribution> {
  const bin = requireBinary("docker-registry");
  const mode = opts.mode ?? "anonymous";
  const { dir, cleanup } = await tempDir("tcrane-dist-");
  const storageDir = join(dir, "storage");
  await mkdir(storageDir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const useTls = mode === "tls" || opts.tls === true;
  let pki: TestPki | undefined;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "info", accesslog: { disabled: false }, formatter: "text" },
    storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
    http: { addr: host, headers: { "X-Content-Type-Options": ["nosniff"] } } as Record<string, unknown>,
  };
  if (useTls) {
    const pkiDir = join(dir, "pki");
    await mkdir(pkiDir);
    pki = await makePki(pkiDir);
    (config.http as Record<string, unknown>).tls = { certificate: pki.certPath, key: pki.keyPath };
  }
  if (mode === "basic") {
    requireBinary("htpasswd");
    const users = opts.users ?? { tcrane: "tcrane-password" };
    const lines: string[] = [];
    for (const [u, p] of Object.entries(users)) {
      const r = await run("htpasswd", ["-Bbn", u, p]);
      if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
      lines.push(r.stdout.trim());
    }
    const htpasswd = join(dir, "htpasswd");
    await writeFile(htpasswd, lines.join("\n") + "\n");
    config.auth = { htpasswd: { realm: "tcrane-test", path: htpasswd } };
  }
  if (mode === "bearer") {
    if (!opts.token) throw new Error("bearer mode needs opts.token (start the token server first)");
    config.auth = {
      token: {
        realm: opts.token.realm,
        service: opts.token.service,
        issuer: opts.token.issuer,
        rootcertbundle: opts.token.rootCertBundlePath,
      },
    };
  }
  if (opts.schema1) config.compatibility = { schema1: { enabled: true } };
  Object.assign(config, opts.extra ?? {});
  const configPath = join(dir, "config.yml");
  await writeFile(configPath, JSON.stringify(config, null, 2)); // YAML is a superset of JSON

  let log = "";
  let proc: ChildProcess;
  const url = `${useTls ? "https" : "http"}://${host}`;
  const launch = async () => {
    proc = spawn(bin, ["serve", configPath], { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    await waitReady(url, pki, proc, () => log);
  };
  const kill = async () => {
    if (proc && proc.exitCode === null) {
      const done = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await done;
      clearTimeout(t);
    }
  };
  await launch();
  return {
    host,
    port,
    url,
    mode,
    pki,
    storageDir,
    logs: () => log,
    stop: async () => {
      await kill();
      await cleanup();
    },
    restart: async () => {
      await kill();
      await launch();
    },
  };
}
