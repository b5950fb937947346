/**
 * The registry backends every registry-client test runs against: the real CNCF distribution
 * registry (2.8) and tcrane's embedded registry (memory store, and the `dir` store), started in the
 * same auth mode — anonymous, htpasswd Basic (`htpasswd -Bbn` entries on both) — over plain http or
 * TLS (a test CA from makePki). Bearer token auth exists only on distribution: the embedded
 * registry has no token server, so bearer tests use startDistribution directly.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDistribution } from "./harness/distribution.js";
import { makePki, type TestPki } from "./harness/tls.js";
import { requireBinary, run, tempDir } from "./harness/tools.js";
import { startRegistry } from "../src/server/index.js";

/** Which implementation a backend runs. */
export type BackendKind = "distribution" | "embedded";

/** How to start a backend. */
export interface BackendOptions {
  /** htpasswd users (user -> password): Basic auth on every request. Default: anonymous. */
  users?: Record<string, string>;
  /** Serve HTTPS with a fresh test CA (see `pki` of the result). */
  tls?: boolean;
}

/** A running backend. */
export interface RunningBackend {
  kind: BackendKind;
  /** host:port */
  host: string;
  /** http(s)://host:port */
  url: string;
  /** The test CA and server certificate when started with `tls`. */
  pki?: TestPki;
  stop(): Promise<void>;
}

/** A registry implementation the shared suites run on. */
export interface Backend {
  /** Name used in describe() titles. */
  name: string;
  kind: BackendKind;
  start(opts?: BackendOptions): Promise<RunningBackend>;
}

/** htpasswd lines made by the real `htpasswd -Bbn` (bcrypt), one per user. */
async function htpasswdLines(users: Record<string, string>): Promise<string> {
  requireBinary("htpasswd");
  const lines: string[] = [];
  for (const [u, p] of Object.entries(users)) {
    const r = await run("htpasswd", ["-Bbn", u, p]);
    if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    lines.push(r.stdout.trim());
  }
  return lines.join("\n") + "\n";
}

/** Start tcrane's embedded registry, in memory or on an OCI layout directory. */
async function startEmbedded(opts: BackendOptions, useDir: boolean): Promise<RunningBackend> {
  const { dir, cleanup } = await tempDir("tcrane-embedded-");
  try {
    let htpasswd: string | undefined;
    if (opts.users) {
      htpasswd = join(dir, "htpasswd");
      await writeFile(htpasswd, await htpasswdLines(opts.users));
    }
    let pki: TestPki | undefined;
    if (opts.tls) {
      await mkdir(join(dir, "pki"));
      pki = await makePki(join(dir, "pki"));
    }
    const reg = await startRegistry({
      htpasswd,
      tlsCert: pki?.certPath,
      tlsKey: pki?.keyPath,
      dir: useDir ? join(dir, "layout") : undefined,
    });
    return {
      kind: "embedded",
      host: reg.host,
      url: reg.url,
      pki,
      stop: async () => {
        await reg.close();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The real distribution registry. */
export const distribution: Backend = {
  name: "distribution",
  kind: "distribution",
  start: async (opts = {}) => {
    const d = await startDistribution({ mode: opts.users ? "basic" : opts.tls ? "tls" : "anonymous", users: opts.users, tls: opts.tls });
    return { kind: "distribution", host: d.host, url: d.url, pki: d.pki, stop: () => d.stop() };
  },
};

/** tcrane's embedded registry with the default (memory) store. */
export const embedded: Backend = { name: "embedded", kind: "embedded", start: (opts = {}) => startEmbedded(opts, false) };

/** tcrane's embedded registry storing into an OCI layout directory (`--dir`). */
export const embeddedDir: Backend = { name: "embedded --dir", kind: "embedded", start: (opts = {}) => startEmbedded(opts, true) };

/** The backends of the shared suites. */
export const backends: Backend[] = [distribution, embedded];
