/**
 * Global flags of ../shared/cli.md, declared once and parsed once for every command.
 */
import type { Argv } from "yargs";
import { TcraneError } from "../src/errors.js";
import { DEFAULT_BODY_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEADERS_TIMEOUT } from "../src/registry/http.js";

/** The parsed global flags every command handler receives. */
export interface GlobalArgs {
  insecure: boolean;
  platform?: string;
  verbose: boolean;
  json: boolean;
  progress: "auto" | "tty" | "plain" | "json" | "none";
  jobs?: number;
  username?: string;
  password?: string;
  "password-stdin": boolean;
  "ca-file"?: string;
  "cert-dir"?: string;
  retries?: number;
  timeout?: string;
  "allow-nondistributable-artifacts": boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds of a duration flag: Go-style `500ms`, `30s`, `2m`, `1m30s`, `1h`, or plain seconds
 * (`30`). Anything else, or zero, is a usage error (exit 2) naming the flag.
 */
export function parseDuration(flag: string, value: string): number {
  const v = value.trim();
  let ms = NaN;
  if (/^\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) {
    ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]!]!;
  }
  if (!(ms >= 1) || !Number.isFinite(ms)) throw new TcraneError("USAGE", `${JSON.stringify(value)} is not a duration (e.g. 30s, 2m, 1m30s, 500ms)`, { what: `--${flag}` });
  return Math.round(ms);
}

/** The client timeouts `--timeout` sets: connecting, waiting for response headers, and between body bytes. */
export function timeoutOptions(args: Pick<GlobalArgs, "timeout">): { connectTimeout?: number; headersTimeout?: number; bodyTimeout?: number } {
  if (args.timeout === undefined) return {};
  const ms = parseDuration("timeout", args.timeout);
  return { connectTimeout: ms, headersTimeout: ms, bodyTimeout: ms };
}

/** Declare the global flags on a yargs instance. */
export function withGlobals<T>(y: Argv<T>): Argv<T & GlobalArgs> {
  return y
    .option("insecure", { type: "boolean", default: false, global: true, describe: "Allow plain HTTP and skip TLS verification" })
    .option("platform", { type: "string", global: true, describe: "os/arch[/variant][:osversion] or all (default: keep an index whole)" })
    .option("verbose", { alias: "v", type: "boolean", default: false, global: true, describe: "Log every request and response (secrets redacted)" })
    .option("json", { type: "boolean", default: false, global: true, describe: "Print the result as one JSON document on stdout" })
    .option("progress", { choices: ["auto", "tty", "plain", "json", "none"] as const, default: "auto" as const, global: true, describe: "Progress on stderr" })
    .option("jobs", { alias: "j", type: "number", global: true, describe: "Blobs in flight (default 4; blobs up to 1 MiB get 4× as many slots, except at -j 1; at most 2 layers are gzip-compressed at once)" })
    .option("username", { type: "string", global: true, describe: "Username for this run (config untouched)" })
    .option("password", { type: "string", global: true, describe: "Password for this run (config untouched)" })
    .option("password-stdin", { type: "boolean", default: false, global: true, describe: "Read the password for this run from stdin" })
    .option("ca-file", { type: "string", global: true, describe: "Extra CA certificates (PEM)" })
    .option("cert-dir", { type: "string", global: true, describe: "docker certs.d directory (default /etc/docker/certs.d)" })
    .option("retries", { type: "number", global: true, describe: "Retries of a failed request (default 4)" })
    .option("timeout", { type: "string", global: true, describe: `Longest silence of a registry before a request fails (and is retried): connecting, waiting for headers, between body bytes; e.g. 30s, 2m (default ${DEFAULT_CONNECT_TIMEOUT / 1000}s connect, ${DEFAULT_HEADERS_TIMEOUT / 1000}s headers, ${DEFAULT_BODY_TIMEOUT / 1000}s body)` })
    .option("allow-nondistributable-artifacts", { type: "boolean", default: false, global: true, describe: "Copy non-distributable (foreign) layers too, from their urls when the source registry lacks them" }) as unknown as Argv<
    T & GlobalArgs
  >;
}
