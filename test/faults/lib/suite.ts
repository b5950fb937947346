/**
 * The before()/after() plumbing the fault files share: the canary registry behind a fault proxy
 * and a tap proxy with a seeded image, fresh numbered output directories under the work dir, and
 * the teardown (print the case table, stop the servers, remove the work dir); and a tap in front
 * of a token server that makes every token it issues a canary secret.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startDistribution, type Distribution } from "../../harness/distribution.js";
import { startFaultProxy, type FaultProxy } from "../../harness/fault-proxy.js";
import type { TokenServer } from "../../harness/token-server.js";
import { tempDir } from "../../harness/tools.js";
import { CANARY_PASSWORD, CANARY_USER, addSecret, cliEnv, type CaseTable, type CliEnv } from "./cases.js";
import { seed } from "./images.js";
import { makeImage, type Image } from "../../fixtures/images.js";
import { startTapProxy, type TapProxy } from "./tap-proxy.js";

/** A fault file's work directory. */
export interface FaultWork {
  dir: string;
  cleanup: () => Promise<void>;
}

/** What `startProxiedRegistry` sets up. */
export interface ProxiedRegistry {
  reg: Distribution;
  fp: FaultProxy;
  tap: TapProxy;
  work: FaultWork;
  env: CliEnv;
  img: Image;
}

/**
 * A basic-auth registry (canary user) with a fault proxy and a tap proxy in front of it, a work
 * dir (`prefix`) with a CLI env holding the canary credentials for all three hosts, and
 * `src/app:1` seeded with a fresh image of layers of `sizes` bytes. What was started before a
 * failure is stopped again before the error is rethrown.
 */
export async function startProxiedRegistry(prefix: string, sizes: number[]): Promise<ProxiedRegistry> {
  const auth = "Basic " + Buffer.from(`${CANARY_USER}:${CANARY_PASSWORD}`).toString("base64");
  const reg = await startDistribution({ mode: "basic", users: { [CANARY_USER]: CANARY_PASSWORD } });
  let fp: FaultProxy | undefined;
  let tap: TapProxy | undefined;
  let work: FaultWork | undefined;
  try {
    fp = await startFaultProxy({ upstream: reg.url, upstreamAuth: auth });
    tap = await startTapProxy(reg.url);
    work = await tempDir(prefix);
    const cred: [string, string] = [CANARY_USER, CANARY_PASSWORD];
    const env = await cliEnv(work.dir, { [reg.host]: cred, [fp.host]: cred, [tap.host]: cred });
    const img = await makeImage({ layers: sizes });
    await seed(reg.host, "src/app", "1", img);
    return { reg, fp, tap, work, env, img };
  } catch (err) {
    await endServers(work, fp, tap, reg);
    throw err;
  }
}

/** Stop the servers in the order given (unset ones skipped), then remove the work dir. */
async function endServers(work: FaultWork | undefined, ...servers: Array<{ stop(): Promise<void> } | undefined>): Promise<void> {
  for (const s of servers) await s?.stop();
  await work?.cleanup();
}

/** A fault file's after(): print the case table, stop the servers in the order given, remove the work dir. */
export async function endSuite(table: CaseTable, work: FaultWork | undefined, ...servers: Array<{ stop(): Promise<void> } | undefined>): Promise<void> {
  table.print();
  await endServers(work, ...servers);
}

/** A maker of fresh (existing, empty) output directories `out-1`, `out-2`, … under the work dir. */
export function outDirs(work: () => FaultWork): () => string {
  let n = 0;
  return () => {
    const d = join(work().dir, `out-${++n}`);
    mkdirSync(d);
    return d;
  };
}

/**
 * A tap proxy in front of the token server `ts`: every token in its answers (`token`,
 * `access_token`, `refresh_token`) is registered as a canary secret, then `onAnswer` gets that
 * answer's tokens (none for an error answer). A registry uses it through the realm
 * `${tap.url}${new URL(ts.realm).pathname}`.
 */
export async function startTokenTap(ts: TokenServer, onAnswer: (tokens: string[]) => void = () => {}): Promise<TapProxy> {
  const tap = await startTapProxy(new URL(ts.realm).origin);
  tap.add({
    match: (r) => r.url.startsWith("/token"),
    action: {
      kind: "rewrite",
      fn: (r) => {
        const tokens: string[] = [];
        try {
          const j = JSON.parse(r.body.toString()) as { token?: string; access_token?: string; refresh_token?: string };
          for (const t of [j.token, j.access_token, j.refresh_token]) if (t) tokens.push(t);
        } catch {
          /* an error answer */
        }
        for (const t of tokens) addSecret(t);
        onAnswer(tokens);
        return { status: r.status, headers: r.headers, body: r.body };
      },
    },
  });
  return tap;
}
