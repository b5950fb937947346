/**
 * Global flags of ../shared/cli.md, declared once and parsed once for every command.
 */
import type { Argv } from "yargs";

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
  "allow-nondistributable-artifacts": boolean;
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
    .option("allow-nondistributable-artifacts", { type: "boolean", default: false, global: true, describe: "Copy non-distributable (foreign) layers too, from their urls when the source registry lacks them" }) as unknown as Argv<
    T & GlobalArgs
  >;
}
