/**
 * The esbuild bundle (dist/bundle/tcrane.cjs, scripts/bundle.ts) is the CLI bin/tcrane.js runs, through
 * its V8 code cache (cli/start.ts): same output as the unbundled dist/cli, a stale bundle or a cache
 * made for other source is never used, and the registry path loads no file transport.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { run, tcrane, tempDir, type RunResult } from "./harness/tools.js";
import { lazyUnicode } from "../scripts/bundle.js";
import { cacheFileOf, loadBundle } from "../cli/start.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUNDLE_MAIN = join(ROOT, "dist/bundle/tcrane.cjs");
const CLI_MAIN = join(ROOT, "dist/cli/main.js");
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

let tmp: { dir: string; cleanup: () => Promise<void> };
/** `--import` this to have every loaded file: URL printed to stderr as `LOAD <url>`. */
let traceLoads: string;

function isFresh(): boolean {
  const b = statSync(BUNDLE_MAIN, { throwIfNoEntry: false });
  return !!b && b.mtimeMs >= statSync(CLI_MAIN).mtimeMs;
}

/** Run the unbundled CLI (dist/cli/main.js) the way bin/tcrane.js does. */
function unbundled(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  const code = `import { main } from ${JSON.stringify(CLI_MAIN)}; main(${JSON.stringify(args)}).then((c) => process.exit(c));`;
  return run(process.execPath, ["--input-type=module", "-e", code], { env });
}

function loaded(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("LOAD "))
    .map((l) => fileURLToPath(l.slice(5)));
}

before(async () => {
  // A plain `tsc` build has no (fresh) bundle: make one, as `npm run build` does.
  if (!isFresh()) {
    const r = await run(process.execPath, [join(ROOT, "dist/scripts/bundle.js")]);
    assert.equal(r.code, 0, r.stderr);
  }
  tmp = await tempDir("tcrane-bundle-");
  writeFileSync(
    join(tmp.dir, "hooks.mjs"),
    `export async function load(url, context, next) {\n  if (url.startsWith("file:")) process._rawDebug("LOAD " + url);\n  return next(url, context);\n}\n`,
  );
  traceLoads = join(tmp.dir, "register.mjs");
  writeFileSync(traceLoads, `import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n`);
});

after(async () => {
  await tmp?.cleanup();
});

/** `--import` this to have the fate of the bundle's code cache printed as `CACHE <state>` at exit. */
function cacheReport(): string {
  const f = join(tmp.dir, "cache-report.mjs");
  writeFileSync(f, `process.on("exit", () => process._rawDebug("CACHE " + globalThis[Symbol.for("tcrane.codeCache")]));\n`);
  return f;
}

test("bin/tcrane.js runs the bundle through its code cache, not dist/cli", async () => {
  const r = await run(process.execPath, ["--import", traceLoads, "--import", cacheReport(), join(ROOT, "bin/tcrane.js"), "version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), PKG.version);
  assert.match(r.stderr, /^CACHE accepted$/m, "the build made a code cache V8 takes");
  const files = loaded(r.stderr);
  // ES modules loaded: bin/tcrane.js and dist/cli/start.js; the bundle is compiled by vm.Script
  assert.deepEqual(files.filter((f) => f.startsWith(join(ROOT, "dist/"))), [join(ROOT, "dist/cli/start.js")]);
  assert.ok(!files.some((f) => f.includes("/node_modules/")), "dependencies are bundled: " + files.join("\n"));
});

test("a code cache made for other source is not used (V8 itself checks only the length)", async () => {
  // The same bundle with one character changed (same length) next to the real bundle's cache.
  const file = join(tmp.dir, "tcrane.cjs");
  const src = readFileSync(BUNDLE_MAIN, "utf8");
  const at = src.indexOf("tcrane: ");
  assert.ok(at > 0);
  writeFileSync(file, src.slice(0, at) + "Tcrane: " + src.slice(at + 8));
  copyFileSync(cacheFileOf(BUNDLE_MAIN), cacheFileOf(file));
  assert.equal(loadBundle(file).cache, "none");
  copyFileSync(BUNDLE_MAIN, file);
  assert.equal(loadBundle(file).cache, "accepted");
});

test("bin/tcrane.js falls back to dist/cli when the bundle is older", async () => {
  const cli = statSync(CLI_MAIN);
  const b = statSync(BUNDLE_MAIN);
  const older = new Date(cli.mtimeMs - 60_000);
  utimesSync(BUNDLE_MAIN, older, older);
  try {
    const r = await run(process.execPath, ["--import", traceLoads, "--import", cacheReport(), join(ROOT, "bin/tcrane.js"), "version"]);
    assert.equal(r.code, 0, r.stderr);
    const files = loaded(r.stderr);
    assert.ok(files.includes(CLI_MAIN), files.join("\n"));
    assert.ok(!files.some((f) => f.startsWith(join(ROOT, "dist/bundle/"))), files.join("\n"));
    assert.doesNotMatch(r.stderr, /CACHE accepted/);
    assert.equal(r.stdout.trim(), PKG.version);
  } finally {
    utimesSync(BUNDLE_MAIN, b.atimeMs / 1000, b.mtimeMs / 1000);
  }
});

test("tcrane version and --version print package.json's version", async () => {
  for (const args of [["version"], ["--version"]]) {
    const r = await tcrane(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), PKG.version);
  }
  const j = await tcrane(["version", "--json"]);
  assert.equal(j.code, 0, j.stderr);
  assert.equal((JSON.parse(j.stdout) as { version: string }).version, PKG.version);
});

test("tcrane copy --help prints the usage, as the unbundled CLI does", async () => {
  const env = { ...process.env, COLUMNS: "72" };
  const r = await tcrane(["copy", "--help"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tcrane copy <src> <dst>/);
  assert.match(r.stdout, /--help/);
  const u = await unbundled(["copy", "--help"], env);
  assert.equal(r.stdout, u.stdout);
  const all = await tcrane(["--help"], { env });
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, (await unbundled(["--help"], env)).stdout);
  assert.match(all.stdout, /^ {2}tcrane copy /m);
});

test("a usage error prints one tcrane: line (English) and exits 2", async () => {
  const env = { ...process.env, LANG: "C.UTF-8", LC_ALL: "" };
  const r = await tcrane(["copy", "only-one"], { env });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, "tcrane: Not enough non-option arguments: got 1, need at least 2\n");
  const bad = await tcrane(["copy", "a", "b", "--bogus"], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^tcrane: Unknown argument: bogus\n$/);
});

test("yargs finds its locale files from the bundle (same messages as dist/cli)", async () => {
  const env = { ...process.env, LANG: "de_DE.UTF-8", LC_ALL: "" };
  const r = await tcrane(["copy"], { env });
  const u = await unbundled(["copy"], env);
  assert.equal(r.code, 2);
  assert.equal(u.code, 2);
  assert.equal(r.stderr, u.stderr);
  assert.doesNotMatch(r.stderr, /Not enough non-option arguments/);
});

test("a -v error prints a readable stack with function names", async () => {
  const r = await tcrane(["copy", "-v", "not a reference!", "oci:/nonexistent-dir-for-tcrane-test"]);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.split("\n");
  assert.match(lines[0]!, /^tcrane: /);
  assert.match(r.stderr, /\n\s+at \w[\w.$]* \(.*dist\/bundle\/tcrane\.cjs:\d+:\d+\)/);
});

test("the transports index loads no file transport until one is used", async () => {
  const code = `await import(${JSON.stringify(join(ROOT, "dist/src/transports/index.js"))});`;
  const r = await run(process.execPath, ["--import", traceLoads, "--input-type=module", "-e", code]);
  assert.equal(r.code, 0, r.stderr);
  const files = loaded(r.stderr);
  assert.ok(files.some((f) => f.endsWith("/dist/src/transports/registry.js")), files.join("\n"));
  for (const f of ["docker-archive-source.js", "docker-archive-sink.js", "oci-layout.js", "oci-archive.js", "tar-stream"]) {
    assert.ok(!files.some((l) => l.includes(f)), `${f} loaded:\n${files.join("\n")}`);
  }
});

test("the lazily made Intl.Segmenter and emoji regex measure and cut strings as before", async () => {
  // Wide, emoji, combining and ANSI-coloured text through every patched module.
  const code = [
    'import stringWidth from "string-width";',
    'import wrapAnsi from "wrap-ansi";',
    'import sliceAnsi from "slice-ansi";',
    'import cliui from "cliui";',
    'const s = "\\u001b[31m日本語😀\\u001b[39m e\\u0301 👩‍👩‍👧 ok 1\\ufe0f\\u20e3 テキスト";',
    "const ui = cliui({ width: 20 }); ui.div(s, s);",
    "console.log(JSON.stringify([stringWidth(s), wrapAnsi(s, 7, { hard: true }), sliceAnsi(s, 2, 9), ui.toString()]));",
  ].join("\n");
  const entry = join(tmp.dir, "unicode-entry.mjs");
  writeFileSync(entry, code);
  const out = join(tmp.dir, "unicode-bundle.mjs");
  const meta = await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    format: "esm",
    platform: "node",
    nodePaths: [join(ROOT, "node_modules")],
    plugins: [lazyUnicode],
    logLevel: "silent",
    write: true,
  });
  assert.equal(meta.errors.length, 0);
  assert.match(readFileSync(out, "utf8"), /__tcraneLazy\(\(\) => new Intl\.Segmenter/);
  const bundled = await run(process.execPath, [out]);
  assert.equal(bundled.code, 0, bundled.stderr);
  // The same code unbundled, resolved from the package root.
  const plain = await run(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(bundled.stdout, plain.stdout);
  assert.ok((JSON.parse(plain.stdout) as [number])[0] > 10);
});

test("a registry command loads neither node:http2 nor zlib nor child_process (bundle start-up)", async () => {
  // Node's built-ins load in ~2–5 ms each: the bundle stubs undici's HTTP/2 client (never enabled)
  // and src/builtins.ts loads zlib and child_process on first use.
  const report = join(tmp.dir, "modules.mjs");
  writeFileSync(report, `process.on("exit", () => process._rawDebug("MODULES " + process.moduleLoadList.join(",")));\n`);
  const r = await run(process.execPath, ["--import", report, join(ROOT, "bin/tcrane.js"), "digest", "127.0.0.1:1/tcrane/none:x"]);
  assert.notEqual(r.code, 0, "nothing listens on port 1");
  const line = r.stderr.split("\n").find((l) => l.startsWith("MODULES "));
  assert.ok(line, r.stderr);
  const mods = line.slice(8).split(",");
  assert.ok(mods.includes("NativeModule net"), "the registry client ran");
  for (const m of ["http2", "zlib", "child_process"]) assert.ok(!mods.includes(`NativeModule ${m}`), `${m} was loaded`);
});
