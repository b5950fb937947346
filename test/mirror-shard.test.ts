/**
 * Shards: rendezvous assignment (a pure function of the key), the plan of one shard, N concurrent
 * `tcrane mirror --shard I/N` processes against the real registry mirroring the union exactly once,
 * `--dry-run --shard` being deterministic, and `tcrane mirror report` merging the shards' reports.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { code, tcrane, tempDir } from "./harness/tools.js";
import { assertMirrored, manifestPuts, requests, seedFleet, type Fleet } from "./mirror-fleet.js";
import { RegistryClient } from "../src/registry/client.js";
import { parseRepository } from "../src/reference/index.js";
import { mergeReports, parseShard, parseSpec, planMirror, shardOf, type MirrorReport, type ShardReport } from "../src/mirror/index.js";

let src: Distribution;
let dst: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let fleet: Fleet;
const REPOS = ["fleet/api", "fleet/web", "fleet/worker", "fleet/cron", "fleet/db", "fleet/cache", "fleet/proxy"];
const TAGS = ["1.0", "1.1", "2.0"];

before(async () => {
  [src, dst] = await Promise.all([startDistribution(), startDistribution()]);
  work = await tempDir("tcrane-mirror-shard-");
  fleet = await seedFleet(src, REPOS, TAGS);
});
after(async () => {
  await src?.stop();
  await dst?.stop();
  await work?.cleanup();
});

/** A spec: the first repositories by explicit tags, the rest by listing (allTags). */
const specText = (prefix: string) =>
  `mirrors:\n` +
  REPOS.map((r, i) => `  - source: ${src.host}/${r}\n    target: ${dst.host}/${prefix}\n` + (i < 3 ? `    tags: [${TAGS.map((t) => `"${t}"`).join(", ")}]\n` : `    allTags: true\n`)).join("");

async function specFile(name: string, text: string): Promise<string> {
  const p = join(work.dir, name);
  await writeFile(p, text);
  return p;
}

test("--shard parsing and the rendezvous assignment: deterministic, position-free, few moves", () => {
  assert.deepEqual(parseShard("2/8"), { index: 2, count: 8, by: "repo" });
  assert.deepEqual(parseShard("0/1", "tag"), { index: 0, count: 1, by: "tag" });
  assert.throws(() => parseShard("8/8"), code("USAGE", /I must be from 0 to 7/));
  assert.throws(() => parseShard("1"), code("USAGE", /expected I\/N/));
  assert.throws(() => parseShard("0/0"), code("USAGE", /N must be from 1/));
  assert.throws(() => parseShard("-1/4"), code("USAGE"));
  const keys = Array.from({ length: 2000 }, (_, i) => `registry.example/team-${i}/app`);
  const at4 = keys.map((k) => shardOf(k, 4));
  assert.deepEqual(keys.map((k) => shardOf(k, 4)), at4, "the same answer every time");
  const sizes = [0, 1, 2, 3].map((s) => at4.filter((x) => x === s).length);
  for (const n of sizes) assert.ok(n > 400 && n < 600, `balanced: ${sizes.join(" ")}`);
  // going from 4 to 5 shards, a key either stays or moves to the new shard, and ≈ 1/5 move
  const at5 = keys.map((k) => shardOf(k, 5));
  let moved = 0;
  keys.forEach((_, i) => {
    if (at5[i] !== at4[i]) {
      moved++;
      assert.equal(at5[i], 4, "a moved key goes to the new shard only");
    }
  });
  assert.ok(moved > 300 && moved < 500, `moved ${moved} of 2000`);
  // one shard: everything is shard 0
  assert.ok(keys.every((k) => shardOf(k, 1) === 0));
});

test("plan of a shard: disjoint parts whose union is the whole plan; by repo, only own repositories are listed", async () => {
  const spec = parseSpec(specText("plan"));
  const client = new RegistryClient();
  try {
    const whole = await planMirror(spec, client);
    assert.equal(whole.items.length, REPOS.length * TAGS.length);
    for (const by of ["repo", "tag"] as const) {
      const seen = new Map<string, number>();
      for (let i = 0; i < 3; i++) {
        const listed: string[] = [];
        const spy = Object.create(client) as RegistryClient;
        spy.listTags = (repo, o) => (listed.push(`${repo.registry}/${repo.repository}`), client.listTags(repo, o));
        const p = await planMirror(spec, spy, { shard: { index: i, count: 3, by } });
        for (const it of p.items) {
          assert.equal(seen.has(it.destination.name), false, `${it.destination.name} in two shards`);
          seen.set(it.destination.name, i);
        }
        const mine = REPOS.slice(3).filter((r) => shardOf(`${src.host}/${r}`, 3) === i);
        if (by === "repo") {
          assert.deepEqual(listed.sort(), mine.map((r) => `${src.host}/${r}`).sort(), `shard ${i} lists its own repositories only`);
          for (const it of p.items) assert.equal(shardOf(it.source.context, 3), i);
        } else {
          assert.equal(listed.length, 4, "by tag, every shard lists every listed repository");
          for (const it of p.items) assert.equal(shardOf(it.source.name, 3), i);
        }
      }
      assert.deepEqual([...seen.keys()].sort(), whole.items.map((i) => i.destination.name).sort(), `${by}: the union is the whole plan`);
      if (by === "tag") {
        const split = REPOS.filter((r) => new Set(TAGS.map((t) => seen.get(`${dst.host}/plan/${r}:${t}`))).size > 1);
        assert.ok(split.length > 0, "by tag, some repository is split over shards");
      }
    }
  } finally {
    await client.close();
  }
});

test("mergeReports: totals, per shard, a missing shard, a superseded retry, mixed N refused", () => {
  const rep = (index: number, copied: number, failed = 0, finishedAt = "2026-01-01T00:00:10.000Z"): ShardReport => ({
    file: `s${index}-${finishedAt.slice(17, 19)}.json`,
    report: {
      dryRun: false,
      shard: { index, count: 3, by: "repo" },
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt,
      images: Array.from({ length: copied + failed }, (_, k) => ({ entry: 0, kind: "image" as const, source: `s/${index}:${k}`, destination: `d/${index}:${k}`, status: k < copied ? ("copied" as const) : ("failed" as const), bytes: 10, seconds: 1 })),
      copied,
      upToDate: 0,
      wouldCopy: 0,
      failed,
      bytes: 10 * (copied + failed),
      seconds: 10,
      rateLimits: [],
    },
  });
  const m = mergeReports([rep(0, 2), rep(2, 3, 1, "2026-01-01T00:00:05.000Z"), rep(2, 4, 0, "2026-01-01T00:00:12.000Z")]);
  assert.deepEqual(m.missing, ["1/3"]);
  assert.deepEqual(m.superseded, ["s2-05.json"]);
  assert.deepEqual(m.shards.map((s) => [s.shard, s.copied, s.failed]), [["0/3", 2, 0], ["2/3", 4, 0]]);
  assert.equal(m.copied, 6);
  assert.equal(m.failed, 0);
  assert.equal(m.seconds, 12, "wall time from the first start to the last end");
  assert.deepEqual(m.overlapping, []);
  const other = rep(1, 1);
  other.report.shard = { index: 1, count: 4, by: "repo" };
  assert.throws(() => mergeReports([rep(0, 1), other]), code("USAGE", /not one set of shards/));
  const dup = rep(1, 1);
  dup.report.images[0]!.destination = "d/0:0";
  assert.deepEqual(mergeReports([rep(0, 1), dup]).overlapping, ["d/0:0"]);
});

test("3 concurrent --shard processes mirror the union once; --dry-run --shard is repeatable; mirror report merges", async () => {
  const p = await specFile("fleet.yaml", specText("m"));
  const reqBefore = dst.logs().length;
  // the plan of shard 1, twice: the same lines, nothing written
  const dry1 = await tcrane(["mirror", "--dry-run", "--shard", "1/3", p]);
  const dry2 = await tcrane(["mirror", "--dry-run", "--shard", "1/3", p]);
  assert.equal(dry1.code, 0, dry1.stderr);
  assert.equal(dry1.stdout, dry2.stdout);
  assert.match(dry1.stderr, /^mirror \(dry run\) shard 1\/3: \d+ to copy, 0 up to date, 0 failed/m);
  assert.equal(requests(dst, reqBefore).filter((r) => r.method !== "GET" && r.method !== "HEAD").length, 0);
  const planned1 = dry1.stdout.trim().split("\n").filter(Boolean).map((l) => l.replace(/^copy\s+/, ""));

  const runs = await Promise.all([0, 1, 2].map((i) => tcrane(["mirror", "--shard", `${i}/3`, "--json", "--progress", "none", p])));
  const reports: MirrorReport[] = runs.map((r, i) => {
    assert.equal(r.code, 0, `shard ${i}: ${r.stderr}`);
    return JSON.parse(r.stdout) as MirrorReport;
  });
  assert.deepEqual(reports.map((r) => r.shard), [0, 1, 2].map((index) => ({ index, count: 3, by: "repo" })));
  // (which shard gets how much depends on the registry's port, part of every key)
  assert.deepEqual(reports[1]!.images.map((i) => `${i.source} -> ${i.destination}`), planned1, "shard 1 copied what its dry run planned");
  const all = reports.flatMap((r) => r.images.map((i) => i.destination));
  assert.equal(all.length, REPOS.length * TAGS.length);
  assert.equal(new Set(all).size, all.length, "no image in two shards");
  // the union: every tag, with the source digest; every manifest PUT once
  await assertMirrored(fleet.digests, dst.host, "m");
  const puts = manifestPuts(requests(dst, reqBefore));
  assert.equal(puts.size, REPOS.length * TAGS.length, [...puts.keys()].join(" "));
  for (const [k, n] of puts) assert.equal(n, 1, `${k} PUT ${n} times`);

  // merge: text table and JSON, exit 0
  const files = await Promise.all(runs.map((r, i) => specFile(`shard-${i}.json`, r.stdout)));
  const merged = await tcrane(["mirror", "report", ...files]);
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stdout, /^shard\s+copied\s+up to date/);
  assert.match(merged.stdout, new RegExp(`^all\\s+${REPOS.length * TAGS.length}\\s+0\\s+0\\s+0\\s`, "m"));
  assert.match(merged.stderr, new RegExp(`mirror report: ${REPOS.length * TAGS.length} copied, 0 up to date, 0 failed, .* over 3 reports`));
  const json = await tcrane(["mirror", "report", "--json", ...files]);
  const m = JSON.parse(json.stdout) as { copied: number; shards: Array<{ shard: string }>; missing: string[] };
  assert.equal(m.copied, REPOS.length * TAGS.length);
  assert.deepEqual(m.shards.map((s) => s.shard), ["0/3", "1/3", "2/3"]);
  // a missing shard fails the merge (its part was not mirrored)
  const missing = await tcrane(["mirror", "report", files[0]!, files[2]!]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /tcrane: mirror report: no report for shard 1\/3: that part was not mirrored/);

  // the re-run of every shard is up to date and writes nothing
  const mark = dst.logs().length;
  const again = await Promise.all([0, 1, 2].map((i) => tcrane(["mirror", "--shard", `${i}/3`, "--json", p])));
  const upToDate = again.map((r) => (JSON.parse(r.stdout) as MirrorReport).upToDate);
  assert.equal(upToDate.reduce((a, b) => a + b, 0), REPOS.length * TAGS.length);
  assert.equal(requests(dst, mark).filter((r) => r.method !== "GET" && r.method !== "HEAD").length, 0);
});

test("--shard-by tag splits repositories; a failed image makes mirror report exit 1; bad flags exit 2", async () => {
  const p = await specFile("fleet-tag.yaml", specText("t") + `  - source: ${src.host}/fleet/api\n    repository: ${dst.host}/t/missing\n    tags: ["no-such-tag"]\n`);
  const runs = await Promise.all([0, 1].map((i) => tcrane(["mirror", "--shard", `${i}/2`, "--shard-by", "tag", "--keep-going", "--json", p])));
  const reports = runs.map((r) => JSON.parse(r.stdout) as MirrorReport);
  const owner = (source: string) => shardOf(source, 2);
  for (const [i, r] of reports.entries()) {
    for (const img of r.images) assert.equal(owner(img.source), i, `${img.source} in shard ${i}`);
  }
  const failures = reports.flatMap((r) => r.images.filter((i) => i.status === "failed"));
  assert.deepEqual(failures.map((i) => i.destination), [`${dst.host}/t/missing:no-such-tag`], JSON.stringify(failures));
  const failedIn = reports.findIndex((r) => r.failed > 0);
  assert.equal(runs[failedIn]!.code, 1, "the shard with the missing tag exits 1");
  assert.equal(runs[1 - failedIn]!.code, 0);
  const files = await Promise.all(runs.map((r, i) => specFile(`tag-${i}.json`, r.stdout)));
  const merged = await tcrane(["mirror", "report", ...files]);
  assert.equal(merged.code, 1);
  assert.match(merged.stdout, /FAILED\s+\S+fleet\/api:no-such-tag -> \S+t\/missing:no-such-tag: .* \(shard [01]\/2\)/);
  assert.match(merged.stderr, /tcrane: mirror report: 1 of 22 images failed/);

  assert.equal((await tcrane(["mirror", "--shard", "2/2", p])).code, 2);
  const noShard = await tcrane(["mirror", "--shard-by", "tag", p]);
  assert.equal(noShard.code, 2);
  assert.match(noShard.stderr, /--shard-by needs --shard I\/N/);
  const bad = await specFile("bad.json", '{"images": "no"}');
  const r = await tcrane(["mirror", "report", bad]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), `tcrane: ${bad}: not a tcrane mirror report: no "images" list (write one with tcrane mirror --json SPEC)`);
});
