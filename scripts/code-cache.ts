/**
 * Makes the V8 code cache of the CLI bundle (dist/bundle/tcrane.cjs.cache, see cli/start.ts): loads
 * the bundle as bin/tcrane.js does (same V8 flags), runs the commands users run most against tcrane's
 * embedded registry on loopback (a push, a mount copy, a pull to an OCI layout, a digest), then
 * stores the code of every function compiled so far. Run by scripts/bundle.ts in a fresh process;
 * takes about a second; writes nothing else (a temp dir, removed).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundle, writeCodeCache } from "../cli/start.js";
import { startRegistry } from "../src/server/index.js";
import { tarDirectory } from "./build-layout.js";
import { BUNDLE_FILE } from "./bundle.js";

const dir = await mkdtemp(join(tmpdir(), "tcrane-code-cache-"));
const reg = await startRegistry();
const stdout = process.stdout.write;
let bytes: number;
try {
  const content = join(dir, "content");
  await mkdir(content);
  await writeFile(join(dir, "layer.tar"), await tarDirectory(content, { "hello.txt": "tcrane code cache\n" }));
  const b = loadBundle(BUNDLE_FILE);
  const a = `${reg.host}/cache/a:1`;
  const runs = [
    ["append", "-f", join(dir, "layer.tar"), "-t", a],
    ["copy", a, `${reg.host}/cache/b:1`],
    ["copy", a, `oci:${join(dir, "layout")}:a`],
    ["digest", a],
  ];
  // The commands print their results; the build's output is not the place.
  process.stdout.write = (() => true) as typeof process.stdout.write;
  for (const args of runs) {
    const code = await b.main([...args, "--progress", "none"]);
    if (code !== 0) throw new Error(`tcrane ${args.join(" ")} exited with ${code}`);
  }
  bytes = writeCodeCache(b, BUNDLE_FILE);
} finally {
  process.stdout.write = stdout;
  await reg.close();
  await rm(dir, { recursive: true, force: true });
}
console.log(`code cache: ${(bytes / 1024).toFixed(0)} KiB for ${BUNDLE_FILE}`);
process.exit(0);
