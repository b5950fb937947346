/**
 * `npm run demo`: tcrane's main jobs on two embedded registries, nothing else installed.
 * Builds a small two-layer, two-platform image from testdata/demo, pushes it, copies it within and
 * between registries, saves an air-gap bundle, validates it, pushes it to the second registry with
 * --to, and prints every command with its output, digest and timing.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry } from "../src/server/index.js";
import { buildLayout } from "./build-layout.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin", "tcrane.js");

async function tcrane(args: string[]): Promise<string> {
  const shown = args.map((a) => (a.includes(" ") ? JSON.stringify(a) : a)).join(" ");
  process.stdout.write(`\n$ tcrane ${shown}\n`);
  const t0 = process.hrtime.bigint();
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let o = "";
    let e = "";
    p.stdout.on("data", (d: Buffer) => (o += d));
    p.stderr.on("data", (d: Buffer) => (e += d));
    p.on("close", (code) => (code === 0 ? resolve(o) : reject(new Error(`tcrane ${args[0]} exited ${code}: ${e.trim()}`))));
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  for (const line of out.trimEnd().split("\n")) if (line) process.stdout.write(`  ${line}\n`);
  process.stdout.write(`  (${ms.toFixed(0)} ms)\n`);
  return out.trim();
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "tcrane-demo-"));
  const a = await startRegistry({});
  const b = await startRegistry({});
  try {
    process.stdout.write(`tcrane demo: registry A at ${a.host}, registry B at ${b.host} (embedded, in memory)\n`);
    const layout = join(work, "layout");
    await buildLayout(layout, {
      layers: [join(root, "testdata/demo/base"), join(root, "testdata/demo/app")],
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
      ],
      refName: "demo",
      perPlatformFile: (p) => ({ "etc/platform": `${p.os}/${p.architecture}\n` }),
    });
    process.stdout.write(`built a 2-layer image for linux/amd64 and linux/arm64 in ${layout}\n`);
    const src = `${a.host}/demo/hello:1.0`;
    const pushed = await tcrane(["push", layout, src]);
    const digest = pushed.split("@")[1]!;
    await tcrane(["copy", src, `${a.host}/demo/hello-copy:1.0`, "--progress", "plain"]);
    await tcrane(["copy", src, `${b.host}/demo/hello:1.0`]);
    const bundle = join(work, "bundle.tar.gz");
    await tcrane(["save", src, "-o", bundle]);
    await tcrane(["validate", bundle]);
    await tcrane(["push", bundle, "--to", `${b.host}/airgap`]);
    const after = await tcrane(["digest", `${b.host}/airgap/demo/hello:1.0`]);
    await tcrane(["digest", "--platform", "linux/arm64", `${b.host}/airgap/demo/hello:1.0`]);
    if (after !== digest) throw new Error(`digest changed on the way: ${digest} ⇒ ${after}`);
    process.stdout.write(`\nthe image kept its digest ${digest} through push, copy, save, validate and push --to.\n`);
  } finally {
    await a.close();
    await b.close();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
