/**
 * The examples are run: examples/kubernetes/mirror-job.yaml (an Indexed Job) and
 * examples/github-actions/mirror.yml (a matrix, then a merge job) are parsed and their exact command
 * lines run as N concurrent local processes against real registries: the source anonymous (Docker
 * Hub's place), the two targets behind htpasswd (credentials from the Secret's config.json, or from
 * `tcrane auth login` in the workflow). Only host names are mapped to the local registries and mount
 * paths to directories. Then the union is checked: every tag in both targets with the source digest,
 * each manifest PUT once per target, each source blob fetched once (fan-out), and the merge passes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { run, tempDir, TCRANE_BIN, type RunResult } from "./harness/tools.js";
import { blobGets, manifestPuts, requests, seedFleet } from "./mirror-fleet.js";
import { RegistryClient } from "../src/registry/client.js";
import { parseRepository } from "../src/reference/index.js";
import { parseSpec } from "../src/mirror/index.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
const USER = "mirror-bot";
const PASSWORD = "s3cret-mirror-password";

let src: Distribution;
let work: { dir: string; cleanup: () => Promise<void> };
let shim: string;
/** Source digests by `repository:tag`. */
const digests = new Map<string, string>();

before(async () => {
  src = await startDistribution();
  work = await tempDir("tcrane-mirror-examples-");
  // `tcrane` on PATH, as the container image and `npm install -g tcrane` provide it
  shim = join(work.dir, "bin");
  await mkdir(shim);
  await writeFile(join(shim, "tcrane"), `#!/bin/sh\nexec "${process.execPath}" "${TCRANE_BIN}" "$@"\n`);
  await chmod(join(shim, "tcrane"), 0o755);
});
after(async () => {
  await src?.stop();
  await work?.cleanup();
});

/** The example's host names mapped to the local registries. */
function localize(text: string, eu: Distribution, us: Distribution): string {
  return text.replaceAll("docker.io/", `${src.host}/`).replaceAll("registry-eu.internal:5000", eu.host).replaceAll("registry-us.internal:5000", us.host);
}

/** Seed the source with every repository:tag a spec names (once). */
async function seedFor(specText: string): Promise<{ repos: string[]; tags: Map<string, string[]>; targets: string[] }> {
  const spec = parseSpec(specText, "example.yaml");
  const tags = new Map<string, string[]>();
  const targets = new Set<string>();
  for (const e of spec.mirrors) {
    const repo = e.source.repository;
    tags.set(repo, e.tags);
    for (const d of e.destinations) targets.add(d.context);
    const missing = e.tags.filter((t) => !digests.has(`${repo}:${t}`));
    if (missing.length) for (const [k, v] of (await seedFleet(src, [repo], missing, 32 * 1024)).digests) digests.set(k, v);
  }
  return { repos: [...tags.keys()], tags, targets: [...targets] };
}

/** A docker config.json with the mirror bot's credentials for both targets. */
const dockerConfig = (...regs: Distribution[]) =>
  JSON.stringify({ auths: Object.fromEntries(regs.map((r) => [r.host, { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") }])) });

/** The union check shared by both examples. */
async function checkUnion(plan: { repos: string[]; tags: Map<string, string[]>; targets: string[] }, regs: Distribution[], marks: number[], srcMark: number): Promise<void> {
  const client = new RegistryClient({ credentials: { username: USER, password: PASSWORD } });
  let images = 0;
  try {
    for (const dest of plan.targets) {
      const repo = parseRepository(dest);
      const source = plan.repos.find((r) => dest.endsWith(`/${r}`))!;
      for (const t of plan.tags.get(source)!) {
        images++;
        const got = await client.headManifest(repo, t);
        assert.equal(got?.digest, digests.get(`${source}:${t}`), `${dest}:${t}`);
      }
    }
  } finally {
    await client.close();
  }
  assert.equal(images, 2 * [...plan.tags.values()].flat().length);
  regs.forEach((reg, i) => {
    const puts = manifestPuts(requests(reg, marks[i]));
    assert.equal(puts.size, images / 2, `${reg.host}: ${[...puts.keys()].join(" ")}`);
    for (const [k, n] of puts) assert.equal(n, 1, `${reg.host}: ${k} PUT ${n} times`);
  });
  const gets = blobGets(requests(src, srcMark));
  assert.ok(gets.size > 0);
  for (const [d, n] of gets) assert.equal(n, 1, `source blob ${d} fetched ${n} times`);
}

test("examples/kubernetes/mirror-job.yaml: the Indexed Job's command as N concurrent pods mirrors the union once", { timeout: 300_000 }, async () => {
  const docs = parseAllDocuments(await readFile(join(EXAMPLES, "kubernetes", "mirror-job.yaml"), "utf8")).map((d) => d.toJS() as Record<string, any>);
  const job = docs.find((d) => d.kind === "Job")!;
  const configMap = docs.find((d) => d.kind === "ConfigMap")!;
  const secret = docs.find((d) => d.kind === "Secret")!;
  assert.equal(job.spec.completionMode, "Indexed");
  const n = job.spec.completions as number;
  assert.ok(n > 1);
  assert.equal(job.spec.parallelism, n, "all shards at once");
  assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
  const pod = job.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual(c.command, ["sh", "-c"]);
  assert.equal(c.args.length, 1);
  const env = Object.fromEntries((c.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
  assert.equal(Number(env.SHARDS), n, "SHARDS matches completions");

  const [eu, us] = await Promise.all([startDistribution({ mode: "basic", users: { [USER]: PASSWORD } }), startDistribution({ mode: "basic", users: { [USER]: PASSWORD } })]);
  try {
    // the volumes, as directories
    const root = join(work.dir, "k8s");
    const mounts = new Map<string, string>();
    for (const m of c.volumeMounts as Array<{ name: string; mountPath: string }>) {
      const vol = (pod.volumes as Array<Record<string, any>>).find((v) => v.name === m.name)!;
      const dir = join(root, m.name);
      await mkdir(dir, { recursive: true });
      mounts.set(m.mountPath, dir);
      if (vol.configMap) {
        assert.equal(vol.configMap.name, configMap.metadata.name);
        for (const [file, text] of Object.entries(configMap.data as Record<string, string>)) await writeFile(join(dir, file), localize(text, eu, us));
      } else if (vol.secret) {
        assert.equal(vol.secret.secretName, secret.metadata.name);
        for (const item of vol.secret.items as Array<{ key: string; path: string }>) {
          assert.ok(item.key in secret.data, `the Secret has ${item.key}`);
          await writeFile(join(dir, item.path), dockerConfig(eu, us)); // the real credentials, not the placeholder
        }
      } else assert.ok(vol.persistentVolumeClaim, `volume ${m.name}`);
    }
    const mapPaths = (s: string) => [...mounts].sort((a, b) => b[0].length - a[0].length).reduce((t, [from, to]) => t.replaceAll(from, to), s);
    const plan = await seedFor(localize(Object.values(configMap.data as Record<string, string>)[0]!, eu, us));
    const marks = [eu.logs().length, us.logs().length];
    const srcMark = src.logs().length;
    const script = mapPaths(c.args[0] as string);
    const podEnv = (i: number) => ({
      PATH: `${shim}:${process.env.PATH}`,
      HOME: join(root, `home-${i}`),
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, mapPaths(String(v))])),
      JOB_COMPLETION_INDEX: String(i),
    });
    const pods = await Promise.all(Array.from({ length: n }, (_, i) => run("sh", ["-c", script], { env: podEnv(i), cwd: root })));
    pods.forEach((p, i) => assert.equal(p.code, 0, `pod ${i}: ${p.stderr}`));
    await checkUnion(plan, [eu, us], marks, srcMark);
    const reports = mounts.get("/reports")!;
    assert.deepEqual((await readdir(reports)).sort(), Array.from({ length: n }, (_, i) => `shard-${i}.json`));
    // the merge the file's comment gives
    const merge = await run("sh", ["-c", mapPaths("tcrane mirror report /reports/shard-*.json")], { env: { PATH: `${shim}:${process.env.PATH}` } });
    assert.equal(merge.code, 0, merge.stderr);
    assert.match(merge.stderr, new RegExp(`mirror report: ${2 * [...plan.tags.values()].flat().length} copied, 0 up to date, 0 failed, .* over ${n} reports`));
  } finally {
    await Promise.all([eu.stop(), us.stop()]);
  }
});

/** Replace the workflow's `${{ … }}` expressions this test knows. */
function expand(s: string, ctx: Record<string, string>): string {
  return s.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, e: string) => {
    if (!(e in ctx)) throw new Error(`unknown expression \${{ ${e} }}`);
    return ctx[e]!;
  });
}

interface Step {
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, string | number | boolean>;
}

/** Run one job's steps in `dir` (a fresh runner): run: lines in bash, the known actions emulated. */
async function runJob(steps: Step[], dir: string, ctx: Record<string, string>, artifacts: string, spec: string): Promise<RunResult[]> {
  await mkdir(dir, { recursive: true });
  const out: RunResult[] = [];
  for (const step of steps) {
    const uses = step.uses?.split("@")[0];
    if (uses === "actions/checkout") await writeFile(join(dir, "mirror.yaml"), spec);
    else if (uses === "actions/setup-node") continue;
    else if (uses === "actions/upload-artifact") {
      const name = expand(String(step.with!.name), ctx);
      await mkdir(join(artifacts, name), { recursive: true });
      const path = expand(String(step.with!.path), ctx);
      await cp(join(dir, path), join(artifacts, name, path));
    } else if (uses === "actions/download-artifact") {
      const re = new RegExp(`^${String(step.with!.pattern).replace(/\*/g, ".*")}$`);
      assert.equal(step.with!["merge-multiple"], true);
      const to = join(dir, String(step.with!.path));
      await mkdir(to, { recursive: true });
      for (const a of (await readdir(artifacts)).filter((x) => re.test(x))) for (const f of await readdir(join(artifacts, a))) await cp(join(artifacts, a, f), join(to, f));
    } else if (uses) throw new Error(`the test does not know the action ${uses}`);
    else if (/^npm install -g tcrane\s*$/.test(step.run!)) continue; // the shim on PATH is that tcrane
    else {
      const env = { PATH: `${shim}:${process.env.PATH}`, HOME: join(dir, "home"), ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v), ctx)])) };
      const r = await run("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", expand(step.run!, ctx)], { env, cwd: dir });
      out.push(r);
      if (r.code !== 0) return out; // the job stops at a failed step
    }
  }
  return out;
}

test("examples/github-actions/mirror.yml: the matrix jobs at once, then the report job, mirror the union once", { timeout: 300_000 }, async () => {
  const wf = parse(await readFile(join(EXAMPLES, "github-actions", "mirror.yml"), "utf8")) as { jobs: Record<string, { needs?: string; strategy?: { matrix: { shard: number[] } }; steps: Step[] }> };
  const shards = wf.jobs.mirror!.strategy!.matrix.shard;
  assert.deepEqual(shards, shards.map((_, i) => i), "the matrix is 0..N-1");
  assert.equal(wf.jobs.report!.needs, "mirror");
  const [eu, us] = await Promise.all([startDistribution({ mode: "basic", users: { [USER]: PASSWORD } }), startDistribution({ mode: "basic", users: { [USER]: PASSWORD } })]);
  try {
    const spec = localize(await readFile(join(EXAMPLES, "github-actions", "mirror.yaml"), "utf8"), eu, us);
    const plan = await seedFor(spec);
    const root = join(work.dir, "gha");
    const artifacts = join(root, "artifacts");
    await mkdir(artifacts, { recursive: true });
    const marks = [eu.logs().length, us.logs().length];
    const srcMark = src.logs().length;
    const secrets = { "secrets.MIRROR_USER": USER, "secrets.MIRROR_PASSWORD": PASSWORD };
    const localSteps = (steps: Step[]) => steps.map((s) => ({ ...s, ...(s.run ? { run: localize(s.run, eu, us) } : {}) }));
    const jobs = await Promise.all(
      shards.map((i) => runJob(localSteps(wf.jobs.mirror!.steps), join(root, `mirror-${i}`), { ...secrets, "matrix.shard": String(i), "strategy.job-total": String(shards.length) }, artifacts, spec)),
    );
    jobs.forEach((steps, i) => {
      assert.equal(steps.length, 2, `job ${i}: login and mirror ran`);
      for (const s of steps) assert.equal(s.code, 0, `job ${i}: ${s.stderr}`);
      assert.match(steps[0]!.stderr, /logged in via /);
    });
    await checkUnion(plan, [eu, us], marks, srcMark);
    const report = await runJob(localSteps(wf.jobs.report!.steps), join(root, "report"), secrets, artifacts, spec);
    assert.equal(report.length, 1);
    assert.equal(report[0]!.code, 0, report[0]!.stderr);
    assert.match(report[0]!.stdout, new RegExp(`^all\\s+${2 * [...plan.tags.values()].flat().length}\\s+0\\s+0\\s+0\\s`, "m"));
    assert.match(report[0]!.stderr, new RegExp(`over ${shards.length} reports`));
  } finally {
    await Promise.all([eu.stop(), us.stop()]);
  }
});
