/**
 * Bundles the built CLI (dist/cli/main.js) with esbuild into one CommonJS file, dist/bundle/tcrane.cjs,
 * then has scripts/code-cache.ts make its V8 code cache; bin/tcrane.js runs it (cli/start.ts) when it
 * is not older than dist/cli/main.js. Node's ESM loader spends ~50 ms of a CLI start resolving and
 * compiling ~150 module files; one file with a code cache skips nearly all of it. The per-command
 * dynamic imports of cli/commands/index.ts (and the lazily loaded transports) stay lazy: esbuild
 * evaluates those modules on first import. Identifiers are not minified (readable `-v` stacks).
 * Run after tsc: `node dist/scripts/bundle.js`.
 */
import { spawnSync } from "node:child_process";
import { cp, readFile, readdir, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENTRY = `${ROOT}dist/cli/main.js`;
/** Where the bundle goes. */
export const BUNDLE_DIR = `${ROOT}dist/bundle`;
/** The bundle cli/start.ts runs. */
export const BUNDLE_FILE = `${BUNDLE_DIR}/tcrane.cjs`;

/**
 * The sources are ES modules: strict mode everywhere (as in an ESM bundle), and `import.meta.url`
 * (createRequire, finding package.json) becomes the bundle file's own URL.
 */
const CJS_BANNER = '"use strict";\nvar __tcraneMetaUrl = require("node:url").pathToFileURL(__filename).href;';

/**
 * yargs finds its locale files (translated messages, e.g. for LANG=de_DE) next to its platform shim,
 * through the shim's import.meta.url; in a bundle that URL is the chunk's. This points the shim at
 * the installed yargs package instead (and at the chunk if yargs cannot be resolved: English then).
 */
export const yargsLocales: Plugin = {
  name: "tcrane-yargs-locales",
  setup(b) {
    b.onLoad({ filter: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      const from = "const __dirname = fileURLToPath(import.meta.url);";
      if (!text.includes(from)) throw new Error(`${args.path}: yargs changed, update scripts/bundle.ts (yargsLocales)`);
      const to =
        "const __dirname = (() => { try { return join(dirname(createRequire(import.meta.url).resolve('yargs/package.json')), 'lib/platform-shims/esm.mjs'); } catch { return fileURLToPath(import.meta.url); } })();";
      return { contents: text.replace(from, to), loader: "js" };
    });
  },
};

/** A stand-in that makes the real object on first use (its methods bound to it). */
const LAZY_HELPER =
  "const __tcraneLazy = (make) => { let v; return new Proxy({}, { get(_, k) { v ??= make(); const x = v[k]; return typeof x === 'function' ? x.bind(v) : x; } }); };\n";

/**
 * string-width, wrap-ansi and slice-ansi (yargs' help layout, log-update) build an Intl.Segmenter
 * (ICU break-iterator data: ~10 ms) and string-width 8 an `\p{RGI_Emoji}` regex (~10 ms) when they are
 * imported, although a command that prints no help and no progress never measures a string. In the
 * bundle these are made on first use. Files whose text differs are left as they are (slower, same output).
 */
export const lazyUnicode: Plugin = {
  name: "tcrane-lazy-unicode",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/](string-width|wrap-ansi|slice-ansi)[\\/][^\\/]+\.js$/ }, async (args) => {
      let text = await readFile(args.path, "utf8");
      let changed = false;
      text = text.replace(/^const (\w+) = (new Intl\.Segmenter\([^)]*\)|\/\^\\p\{RGI_Emoji\}\$\/v);$/gm, (_, name: string, init: string) => {
        changed = true;
        const make = init.startsWith("new") ? init : 'new RegExp("^\\\\p{RGI_Emoji}$", "v")';
        return `const ${name} = __tcraneLazy(() => ${make});`;
      });
      return changed ? { contents: LAZY_HELPER + text, loader: "js" } : undefined;
    });
  },
};

/**
 * undici's HTTP/2 client loads node:http2 as soon as undici is loaded:
 * ~5 ms of every CLI start. tcrane never sets `allowH2`, so no connection negotiates h2 and this
 * module is never called; in the bundle it is a stub that says so if that ever changes.
 */
export const noHttp2: Plugin = {
  name: "tcrane-no-http2",
  setup(b) {
    b.onLoad({ filter: /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/ }, () => ({
      contents:
        "'use strict'\nmodule.exports = function connectH2 () { throw new Error('HTTP/2 is not built into the tcrane bundle (allowH2 is never set)') }\n",
      loader: "js",
    }));
  },
};

/** The web page's files (src/ui/assets/). */
const UI_ASSETS_SRC = `${ROOT}src/ui/assets`;

/**
 * The web page's files: copied next to dist/src/ui/assets.js (found there by the unbundled CLI and
 * the library) and returned by name for the bundle, which carries them inline as one JSON string
 * (src/ui/assets.ts; a string define is inlined where it is used, an object define would be
 * initialised by every module).
 */
export async function uiAssetFiles(): Promise<Record<string, string>> {
  await cp(UI_ASSETS_SRC, `${ROOT}dist/src/ui/assets`, { recursive: true });
  const out: Record<string, string> = {};
  for (const name of (await readdir(UI_ASSETS_SRC)).sort()) out[name] = await readFile(`${UI_ASSETS_SRC}/${name}`, "utf8");
  return out;
}

/** Build dist/bundle/ from dist/cli/main.js (replacing what was there). */
export async function bundle(): Promise<void> {
  await rm(BUNDLE_DIR, { recursive: true, force: true });
  const assets = await uiAssetFiles();
  await build({
    entryPoints: [ENTRY],
    outfile: BUNDLE_FILE,
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    banner: { js: CJS_BANNER },
    define: { "import.meta.url": "__tcraneMetaUrl", __TCRANE_UI_ASSETS__: JSON.stringify(JSON.stringify(assets)) },
    // Node 20 has the RegExp `v` flag: keep such literals as written.
    supported: { "regexp-set-notation": true },
    plugins: [yargsLocales, lazyUnicode, noHttp2],
    sourcemap: "linked",
    logLevel: "warning",
  });
}

/** Make the bundle's code cache in a fresh process (the CLI's V8 flags, nothing else loaded). */
export function makeCodeCache(): void {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL("./code-cache.js", import.meta.url))], { stdio: "inherit" });
  if (r.status !== 0) console.warn(`bundle: no code cache (scripts/code-cache.ts exited with ${r.status ?? r.signal}); the CLI starts ~35 ms slower`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await bundle();
  makeCodeCache();
}
