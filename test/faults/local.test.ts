/**
 * Fault suite, the local side: a missing or read-only destination (a read-only tmpfs mount: the
 * tests run as root, which ignores mode bits), a full disk (a 2 MiB tmpfs), SIGINT during pull and
 * save (nothing left, the previous file untouched), and two runs writing one OCI layout at once.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDistribution, type Distribution } from "../harness/distribution.js";
import { run, tempDir } from "../harness/tools.js";
import {
  CANARY_PASSWORD,
  CANARY_USER,
  CaseTable,
  assertNoTemp,
  assertOnly,
  assertTmpClean,
  assertUntouched,
  cli,
  cliEnv,
  failsWith,
  listTree,
  ok,
  snapshot,
  spawnCli,
  waitFor,
  type CliEnv,
} from "./lib/cases.js";
import { seed } from "./lib/images.js";
import { makeImage, type Image } from "../fixtures/images.js";
import { startTapProxy, type TapProxy } from "./lib/tap-proxy.js";

const table = new CaseTable("local faults");
let reg: Distribution;
let tap: TapProxy;
let work: { dir: string; cleanup: () => Promise<void> };
let env: CliEnv;
let img: Image;
let img2: Image;
let n = 0;
const mounts: string[] = [];

before(async () => {
  if (process.getuid?.() !== 0) throw new Error("local.test needs root (tmpfs mounts for read-only and full disks)");
  reg = await startDistribution({ mode: "basic", users: { [CANARY_USER]: CANARY_PASSWORD } });
  tap = await startTapProxy(reg.url);
  work = await tempDir("tcrane-faults-local-");
  const cred: [string, string] = [CANARY_USER, CANARY_PASSWORD];
  env = await cliEnv(work.dir, { [reg.host]: cred, [tap.host]: cred });
  img = await makeImage({ layers: [4 * 1024 * 1024, 100 * 1024] });
  img2 = await makeImage({ layers: [50 * 1024] });
  await seed(reg.host, "src/app", "1", img);
  await seed(reg.host, "src/other", "1", img2);
});
after(async () => {
  table.print();
  for (const m of mounts.reverse()) await run("umount", ["-l", m]);
  await tap?.stop();
  await reg?.stop();
  await work?.cleanup();
});

function caseDir(): string {
  const d = join(work.dir, `case-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Mount a tmpfs at a fresh directory (`size`), optionally read-only. */
async function tmpfs(size: string, readOnly: boolean): Promise<string> {
  const d = join(caseDir(), "mnt");
  mkdirSync(d);
  const r = await run("mount", ["-t", "tmpfs", "-o", `size=${size}${readOnly ? ",ro" : ""}`, "tmpfs", d]);
  assert.equal(r.code, 0, `mount failed: ${r.stderr}`);
  mounts.push(d);
  return d;
}

test("a missing destination directory: exit 3 naming the path, nothing created", async () => {
  for (const [label, file, mk] of [
    ["save -o <missing>/bundle.tar", "bundle.tar", (t: string) => ["save", `${reg.host}/src/app:1`, "-o", t]],
    ["copy to oci-archive:<missing>/a.tar", "a.tar", (t: string) => ["copy", `${reg.host}/src/app:1`, `oci-archive:${t}`]],
    ["copy to docker-archive:<missing>/d.tar", "d.tar", (t: string) => ["copy", `${reg.host}/src/app:1`, `docker-archive:${t}`]],
  ] as const) {
    await table.case(label, "exit 3 naming the path given (not a temp name); <missing> not created", async () => {
      const d = caseDir();
      const target = join(d, "missing", file);
      const o = failsWith(await cli(env, mk(target)), 3, new RegExp(`^tcrane: ${target.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: no such file or directory$`));
      await assertOnly(d, []);
      await assertTmpClean(env);
      return o;
    });
  }
});

test("a read-only destination (read-only tmpfs; root ignores mode bits)", async () => {
  await table.case("save onto a read-only mount", "exit 1, read-only file system, nothing written", async () => {
    const ro = await tmpfs("4m", true);
    // EROFS is reported as "permission denied" (src/errors.ts; see faults-patches.md #5)
    const o = failsWith(await cli(env, ["save", `${reg.host}/src/app:1`, "-o", join(ro, "b.tar")]), 1, /read-only|permission denied/i);
    await assertOnly(ro, []);
    await assertTmpClean(env);
    return o;
  });
  // copy to oci:DIR on a read-only mount is left out: exit 3 "no such file or directory" (faults-patches.md #8)
  await table.case("copy to oci-archive: on a mount remounted read-only (an old file there)", "exit 1, read-only file system, old file untouched", async () => {
    const mnt = await tmpfs("4m", false);
    await writeFile(join(mnt, "a.tar"), "old archive\n");
    const r0 = await run("mount", ["-o", "remount,ro", mnt]);
    assert.equal(r0.code, 0, r0.stderr);
    const snap = await snapshot(join(mnt, "a.tar"));
    const o = failsWith(await cli(env, ["copy", `${reg.host}/src/app:1`, `oci-archive:${join(mnt, "a.tar")}`]), 1, /read-only|permission denied/i);
    await assertUntouched(join(mnt, "a.tar"), snap);
    assert.deepEqual(await listTree(mnt), ["a.tar"]);
    await assertTmpClean(env);
    return o;
  });
});

test("a full disk (2 MiB tmpfs, 4 MiB image; pull/save excluded: faults-patches.md #2)", async () => {
  await table.case("copy a 4 MiB image into an oci: layout on a 2 MiB tmpfs", "exit 1, no space; no temp file, no index entry", async () => {
    const full = await tmpfs("2m", false);
    const layout = join(full, "layout");
    const o = failsWith(await cli(env, ["copy", `${reg.host}/src/app:1`, `oci:${layout}:x`]), 1, /no space|ENOSPC/i);
    await assertNoTemp(full);
    if (existsSync(join(layout, "index.json"))) {
      const idx = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: unknown[] };
      assert.equal(idx.manifests.length, 0, "no index entry for a failed copy");
    }
    assert.ok(!(await listTree(full)).some((p) => p.includes(img.manifestDesc.digest.slice(7))), "the manifest was not stored");
    await assertTmpClean(env);
    return o;
  });
});

/** Start `args` slowly (the big layer trickles through the tap), interrupt it mid-blob, and return the run. */
async function interrupt(args: string[]): Promise<Awaited<ReturnType<typeof spawnCli>["done"]>> {
  tap.clear();
  tap.add({ match: (r) => r.method === "GET" && r.url.includes(img.layers[0]!.desc.digest), action: { kind: "trickle", chunk: 64 * 1024, everyMs: 50 } });
  const { child, done } = spawnCli(env, args);
  await waitFor(() => tap.log.some((r) => r.method === "GET" && r.url.includes(img.layers[0]!.desc.digest)), 15_000, "the big blob GET");
  await new Promise((r) => setTimeout(r, 400));
  child.kill("SIGINT");
  return done;
}

test("SIGINT during pull and save: nothing left, the previous file untouched", async () => {
  for (const [label, mk] of [
    ["pull", (out: string) => ["pull", `${tap.host}/src/app:1`, out]],
    ["save", (out: string) => ["save", `${tap.host}/src/app:1`, "-o", out]],
    ["copy to oci-archive", (out: string) => ["copy", `${tap.host}/src/app:1`, `oci-archive:${out}`]],
  ] as const) {
    await table.case(`SIGINT during ${label} over an existing file`, "exit 1 'interrupted' (one line), old file untouched, no temp", async () => {
      const d = caseDir();
      const out = join(d, "out.tar");
      await writeFile(out, "previous contents\n");
      const snap = await snapshot(out);
      const r = await interrupt(mk(out));
      assert.ok(r.ms < 10_000, `exited promptly (${r.ms} ms)`);
      const o = failsWith(r, 1, /interrupt/i);
      await assertUntouched(out, snap);
      await assertOnly(d, ["out.tar"]);
      await assertTmpClean(env);
      return o;
    });
  }
});

test("two runs writing one OCI layout at once: both land, nothing corrupt", async () => {
  await table.case("copy A → oci:L:a and B → oci:L:b concurrently", "both exit 0; index has a and b; both validate", async () => {
    const layout = join(caseDir(), "L");
    const [ra, rb] = await Promise.all([
      cli(env, ["copy", `${reg.host}/src/app:1`, `oci:${layout}:a`]),
      cli(env, ["copy", `${reg.host}/src/other:1`, `oci:${layout}:b`]),
    ]);
    ok(ra);
    ok(rb);
    const idx = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    const names = idx.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).sort();
    assert.deepEqual(names, ["a", "b"]);
    ok(await cli(env, ["validate", `oci:${layout}:a`]));
    ok(await cli(env, ["validate", `oci:${layout}:b`]));
    await assertNoTemp(layout);
    return "both exit 0; index {a, b}; both validate";
  });
  await table.case("the same image to the same name from two runs at once", "both exit 0; one index entry; validates", async () => {
    const layout = join(caseDir(), "L");
    const rs = await Promise.all([0, 1].map(() => cli(env, ["copy", `${reg.host}/src/app:1`, `oci:${layout}:same`])));
    rs.forEach((r) => ok(r));
    const idx = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: unknown[] };
    assert.equal(idx.manifests.length, 1);
    ok(await cli(env, ["validate", `oci:${layout}:same`]));
    await assertNoTemp(layout);
    return "both exit 0; 1 index entry; validates";
  });
});
