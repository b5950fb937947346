/**
 * How bin/tcrane.js starts the CLI: V8 flags for a short-lived command-line process, then the
 * esbuild bundle (dist/bundle/tcrane.cjs, one CommonJS file) compiled through the V8 code cache the
 * build made for it (tcrane.cjs.cache), or dist/cli/main.js when the bundle is missing or stale.
 *
 * Node 20 has no compile cache for ES modules; a CommonJS bundle run through vm.Script with
 * `cachedData` skips parsing and compiling the functions a command runs: a mount copy 0.16 → 0.125 s,
 * measured on the 2-core machine. V8 checks a cache only against the source's length, so the cache
 * file starts with the SHA-256 of the bundle it was made from, and any other cache is ignored.
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";

/**
 * V8 flags of the CLI process (library users keep their own process settings). The code cache is
 * made with the same flags: V8 rejects a cache made under others.
 * - `--semi-space-growth-factor=1`: keep the young generation at its initial size, so chunks of
 *   finished blobs (socket and file reads) are freed by frequent cheap scavenges instead of piling up
 *   between rare ones (peak RSS of a 1 GiB copy 5–15 MiB lower, no slower). Set before the bundle
 *   loads; set later it loses most of the gain.
 * - `--liftoff-only`: undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it with
 *   its baseline compiler (Liftoff) and, once the parser is hot, again with TurboFan on a background
 *   thread. That compile costs ~80 ms of CPU, the process cannot exit before it ends, and its zone
 *   memory (~25–35 MiB of malloc) was the largest single part of tcrane's peak RSS: a small copy
 *   peaked at 108 MiB with it and 84 MiB without, a 1 GiB copy at 127 and 98 MiB. Parsing is per
 *   response (bodies pass by length), so the faster code never paid for its compile: CPU time is the
 *   same or lower without it. (`--wasm-tiering-budget` only postponed the compile: small copies of
 *   ~800 responses still triggered it.)
 */
export const CLI_V8_FLAGS = ["--semi-space-growth-factor=1", "--liftoff-only"];

for (const f of CLI_V8_FLAGS) v8.setFlagsFromString(f);

type Main = (argv: string[]) => Promise<number>;

/** The bundle, loaded. */
export interface LoadedBundle {
  main: Main;
  /** What became of the code cache: used, refused by V8 (other node or flags), or none that fits. */
  cache: "accepted" | "rejected" | "none";
  script: vm.Script;
  /** SHA-256 of the bundle's source. */
  sourceDigest: Buffer;
}

const DIGEST_BYTES = 32;

/** The code cache file of a bundle file. */
export const cacheFileOf = (bundleFile: string): string => `${bundleFile}.cache`;

/** Compile and evaluate the CommonJS bundle, with its code cache when one was made for this source. */
export function loadBundle(file: string): LoadedBundle {
  const source = readFileSync(file, "utf8");
  const sourceDigest = createHash("sha256").update(source).digest();
  let cachedData: Buffer | undefined;
  try {
    const c = readFileSync(cacheFileOf(file));
    if (c.length > DIGEST_BYTES && c.subarray(0, DIGEST_BYTES).equals(sourceDigest)) cachedData = c.subarray(DIGEST_BYTES);
  } catch {
    /* no cache: compile */
  }
  // The wrapper opens on the source's first line, so line numbers in stacks are the bundle's own.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const mod = { exports: {} as { main?: Main } };
  (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  if (typeof mod.exports.main !== "function") throw new Error(`${file} exports no main()`);
  const cache = cachedData === undefined ? "none" : script.cachedDataRejected ? "rejected" : "accepted";
  return { main: mod.exports.main, cache, script, sourceDigest };
}

/** Write the code cache of a loaded bundle (after running it: the functions run so far are in it). */
export function writeCodeCache(b: LoadedBundle, file: string): number {
  const data = Buffer.concat([b.sourceDigest, b.script.createCachedData()]);
  const target = cacheFileOf(file);
  writeFileSync(`${target}.tmp`, data);
  renameSync(`${target}.tmp`, target);
  return data.length;
}

/** What bin/tcrane.js runs: the bundle when it is at least as new as dist/cli/main.js, else dist/cli. */
export async function start(argv: string[]): Promise<number> {
  const bundle = fileURLToPath(new URL("../bundle/tcrane.cjs", import.meta.url));
  const cli = new URL("./main.js", import.meta.url);
  const b = statSync(bundle, { throwIfNoEntry: false });
  const c = b && statSync(cli, { throwIfNoEntry: false });
  let main: Main;
  if (b && (!c || b.mtimeMs >= c.mtimeMs)) {
    const loaded = loadBundle(bundle);
    (globalThis as Record<symbol, unknown>)[Symbol.for("tcrane.codeCache")] = loaded.cache; // for the tests
    main = loaded.main;
  } else {
    ({ main } = (await import(cli.href)) as { main: Main });
  }
  return main(argv);
}
