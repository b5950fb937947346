/**
 * `npm run bench` at 1/100 size, once: every scenario runs with tcrane and skopeo against real
 * registries and each destination is checked by the bench itself, so the benchmark cannot rot
 * between the runs that measure. No timing is asserted (the figures are noise at this size). The
 * mirroring scenarios run on a fleet of 6 repositories × 3 tags; their correctness checks (every
 * tag with the source digest, each manifest PUT once, one source GET per blob with fan-out, at most
 * 2 requests per tag on a re-run) must hold.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireBinary, run, tempDir } from "./harness/tools.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("bench smoke run: every scenario, both tools, results written", { timeout: 600_000 }, async () => {
  requireBinary("skopeo");
  requireBinary("docker-registry");
  requireBinary("/usr/bin/time");
  const { dir, cleanup } = await tempDir("tcrane-bench-smoke-");
  try {
    const out = join(dir, "result");
    const r = await run(process.execPath, [join(ROOT, "dist", "scripts", "bench.js")], {
      env: { ...process.env, BENCH_SCALE: "0.01", BENCH_REPS: "1", BENCH_MIRROR_REPOS: "6", BENCH_WORK: join(dir, "work"), BENCH_OUT: out },
      timeout: 580_000,
    });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const json = JSON.parse(await readFile(`${out}.json`, "utf8")) as {
      scenarios: Array<{ id: string; samples: Array<{ tool: string; seconds: number; rssMiB: number }> }>;
      mirror: Array<{ id: string; samples: Array<{ tool: string; seconds: number }>; checks: Array<{ what: string; ok: boolean }>; ratio?: number }>;
    };
    const ids = json.scenarios.map((s) => s.id);
    assert.deepEqual(ids, ["big-oci-reg", "big-reg-reg", "big-reg-same", "big-reg-docker", "big-reg-ociarchive", "big-reg-ocidir", "big-docker-reg", "small-oci-reg", "small-reg-reg", "huge-reg-reg"]);
    for (const s of json.scenarios) {
      assert.deepEqual(s.samples.map((x) => x.tool).sort(), ["skopeo", "tcrane"], s.id);
      for (const x of s.samples) assert.ok(x.seconds > 0 && x.rssMiB > 0, `${s.id} ${x.tool}: ${JSON.stringify(x)}`);
    }
    assert.deepEqual(json.mirror.map((m) => m.id), ["mirror-cold", "mirror-rerun", "mirror-shards", "mirror-fanout"]);
    for (const m of json.mirror) {
      assert.ok(m.ratio !== undefined && m.ratio > 0, `${m.id}: ${JSON.stringify(m)}`);
      for (const c of m.checks) assert.ok(c.ok, `${m.id}: ${c.what}`);
    }
    assert.deepEqual(json.mirror[0]!.samples.map((x) => x.tool).sort(), ["skopeo", "tcrane"]);
    const md = await readFile(`${out}.md`, "utf8");
    assert.match(md, /\| big registry → same registry, other repo \|/);
    assert.match(md, /## Mirroring at scale \(tcrane mirror vs skopeo sync\)/);
  } finally {
    await cleanup();
  }
});
