/**
 * Builds what every command needs from the global flags, once: the registry client (keychain,
 * per-run credentials, TLS, retries, verbose logger), the progress renderer, and an AbortSignal
 * fired by SIGINT/SIGTERM so that sinks abort and leave nothing half-written.
 */
import { setMaxListeners } from "node:events";
import { RegistryClient } from "../src/registry/client.js";
import { defaultKeychain, resolveCliCredentials } from "../src/auth/index.js";
import { parsePlatform } from "../src/image/platform.js";
import type { Platform } from "../src/image/types.js";
import type { TransportContext } from "../src/transports/index.js";
import { timeoutOptions, type GlobalArgs } from "./globals.js";
import { warnOnce } from "./output.js";
import { createProgress, type Progress } from "./progress.js";
import type { TransferEvent } from "../src/transfer/events.js";

/** Everything a command handler uses. */
export interface CommandContext extends TransportContext {
  args: GlobalArgs;
  platform: Platform | "all" | undefined;
  progress: Progress;
  signal: AbortSignal;
  /** Release connections and listeners. */
  close(): Promise<void>;
}

/** Build the context for a command from its parsed global flags. */
export async function createContext(args: GlobalArgs): Promise<CommandContext> {
  const credentials = await resolveCliCredentials(args);
  const client = new RegistryClient({
    keychain: defaultKeychain(),
    credentials,
    insecure: args.insecure,
    caFile: args["ca-file"],
    certDir: args["cert-dir"],
    retries: args.retries,
    ...timeoutOptions(args),
    logger: args.verbose ? (line: string) => process.stderr.write(line + "\n") : undefined,
    onWarning: warnOnce,
  });
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every request in flight listens to it
  const onSignal = () => controller.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const platform = args.platform === undefined || args.platform === "all" ? (args.platform as "all" | undefined) : parsePlatform(args.platform);
  const progress = createProgress(args.json && args.progress === "auto" ? "none" : args.progress);
  return {
    client,
    args,
    platform,
    progress,
    signal: controller.signal,
    close: async () => {
      progress.done();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await client.close();
    },
  };
}

/** Run a command body with a context, always closing it. */
export async function withContext<T>(args: GlobalArgs, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = await createContext(args);
  let failed = false;
  try {
    return await fn(ctx);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // after a failure, never let a connection that is still open hold the error line back
    const closing = ctx.close();
    if (failed) {
      // The timer is referenced: were the close to hang with nothing else pending, an unreferenced
      // one would let the process end with status 0 before the error is reported.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closing.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    } else await closing;
  }
}

/** Common engine options from the context. */
export function opOptions(ctx: CommandContext) {
  return {
    jobs: ctx.args.jobs,
    platform: ctx.platform,
    signal: ctx.signal,
    onEvent: (e: TransferEvent) => {
      // the digest change of a converted schema 1 image is said whatever the progress mode
      if (e.type === "manifest-converted") warnOnce(`Docker schema 1 image ${e.from} converted to Docker schema 2 ${e.digest} (${e.reason}): the digest changes`);
      ctx.progress.listener(e);
    },
    allowNondistributable: ctx.args["allow-nondistributable-artifacts"],
  };
}
