/**
 * Fault suite, secrets: a bearer registry whose token server knows the canary password; every
 * token it issues is captured (through a tap) and added to the canary list. Successful and failing
 * runs with --verbose must never print the password, its base64 form or a token; the host a blob is
 * redirected to must never receive them; the registry itself never sees the password (only
 * tokens); and no file left in the work tree holds them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { startDistribution, type Distribution } from "../harness/distribution.js";
import { startFaultProxy, type FaultProxy, type Recorded } from "../harness/fault-proxy.js";
import { startTokenServer, type TokenServer } from "../harness/token-server.js";
import { tempDir } from "../harness/tools.js";
import { CANARY_PASSWORD, CANARY_USER, CaseTable, addSecret, assertTmpClean, cli, cliEnv, failsWith, knownSecrets, leakedIn, listTree, ok, type CliEnv } from "./lib/cases.js";
import { makeImage, pushToRegistry, type Image } from "../fixtures/images.js";
import { endSuite, outDirs, startTokenTap, type FaultWork } from "./lib/suite.js";
import type { TapProxy } from "./lib/tap-proxy.js";
import { RegistryClient } from "../../src/registry/client.js";

const table = new CaseTable("secrets");
const WRONG = "canary-wrong-pw-Hc83Jq0x";
let ts: TokenServer;
let tsTap: TapProxy;
let reg: Distribution;
let fp: FaultProxy;
let work: FaultWork;
let env: CliEnv;
let img: Image;
let tokens = 0;

before(async () => {
  addSecret(WRONG);
  addSecret(Buffer.from(`${CANARY_USER}:${WRONG}`).toString("base64"));
  ts = await startTokenServer({ users: { [CANARY_USER]: CANARY_PASSWORD }, ttlSeconds: 300 });
  tsTap = await startTokenTap(ts, (issued) => {
    tokens += issued.length;
  });
  reg = await startDistribution({ mode: "bearer", token: { ...ts, realm: `${tsTap.url}${new URL(ts.realm).pathname}` } });
  // the second host (redirect target) fetches from the registry with a token of its own
  const tr = await request(`${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=repository:src/app:pull`, {
    headers: { authorization: "Basic " + Buffer.from(`${CANARY_USER}:${CANARY_PASSWORD}`).toString("base64") },
  });
  const tok = ((await tr.body.json()) as { token: string }).token;
  fp = await startFaultProxy({ upstream: reg.url, upstreamAuth: `Bearer ${tok}` });
  work = await tempDir("tcrane-faults-secrets-");
  env = await cliEnv(work.dir, { [reg.host]: [CANARY_USER, CANARY_PASSWORD], [fp.host]: [CANARY_USER, CANARY_PASSWORD] });
  img = await makeImage({ layers: [300 * 1024, 20 * 1024] });
  const c = new RegistryClient({ credentials: { username: CANARY_USER, password: CANARY_PASSWORD } });
  try {
    await pushToRegistry(c, { registry: reg.host, repository: "src/app" }, img, "1");
  } finally {
    await c.close();
  }
});
after(() => endSuite(table, work, fp, reg, tsTap, ts));

const outDir = outDirs(() => work);

test("a verbose copy with blobs redirected to another host: nothing leaks anywhere", async () => {
  await table.case("copy -v, blob GETs redirected to a second host", "exit 0; verbose log clean; no Authorization/secret at the other host", async () => {
    fp.clear();
    fp.add({ match: (r: Recorded) => r.method === "GET" && r.url.includes("/blobs/sha256:"), action: { kind: "redirect", status: 307 } });
    const before = tokens;
    const r = await cli(env, ["-v", "copy", `${fp.host}/src/app:1`, `oci:${join(outDir(), "layout")}:x`]);
    const o = ok(r);
    assert.ok(r.stderr.split("\n").filter((l) => l.startsWith("-->")).length >= 5, "the verbose log is there");
    assert.ok(tokens > before, "tokens were issued (and are canaries now)");
    assert.ok(fp.second.log.length >= 2);
    for (const rec of fp.second.log) {
      assert.equal(rec.headers.authorization, undefined);
      assert.deepEqual(leakedIn(JSON.stringify(rec)), []);
    }
    for (const rec of fp.log) {
      assert.ok(!String(rec.headers.authorization ?? "").startsWith("Basic"), "the registry never gets the password, only tokens");
      assert.deepEqual(leakedIn(rec.url), [], "no secret in a URL");
    }
    return `${o}; ${knownSecrets().length} canaries, ${fp.second.log.length} clean requests at the other host`;
  });
});

test("failures with --verbose never print the secrets", async () => {
  await table.case("wrong password via --password-stdin, -v", "exit 4, clean output", async () => {
    const r = await cli(env, ["-v", "--username", CANARY_USER, "--password-stdin", "ls", `${reg.host}/src/app`], { input: WRONG + "\n" });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^tcrane: /m);
    return `exit 4: ${r.stderr.split("\n").find((l) => l.startsWith("tcrane:"))!.replace(/127\.0\.0\.1:\d+/g, "HOST").slice(0, 140)}`;
  });
  await table.case("wrong password via --password (argv), no -v", "exit 4, one line, clean", async () => {
    const r = await cli(env, ["--username", CANARY_USER, "--password", WRONG, "copy", `${reg.host}/src/app:1`, `oci:${join(outDir(), "l")}:x`]);
    return failsWith(r, 4, /401|unauthorized|denied|password/i);
  });
  await table.case("403 on the upload, -v", "exit 4, clean output", async () => {
    fp.clear();
    fp.add({ match: (r: Recorded) => r.method === "POST", action: { kind: "status", status: 403, headers: { "content-type": "application/json" }, body: '{"errors":[{"code":"DENIED","message":"denied"}]}' } });
    const r = await cli(env, ["-v", "copy", `${reg.host}/src/app:1`, `${fp.host}/dst/x:1`]);
    assert.equal(r.code, 4, r.stderr);
    return `exit 4 (${r.stderr.split("\n").length} verbose lines, clean)`;
  });
  await table.case("connection reset mid-blob, -v", "exit 0 after resume, clean output", async () => {
    fp.clear();
    fp.add({ match: (r: Recorded) => r.method === "GET" && r.url.includes(img.layers[0]!.desc.digest), times: 1, action: { kind: "reset", atBytes: 100_000 } });
    const r = await cli(env, ["-v", "pull", `${fp.host}/src/app:1`, join(outDir(), "img.tar")]);
    return ok(r);
  });
  await table.case("registry unreachable, -v", "exit 1, clean output", async () => {
    const r = await cli(env, ["-v", "--retries", "0", "--username", CANARY_USER, "--password", CANARY_PASSWORD, "digest", "127.0.0.1:9/src/app:1"]);
    assert.equal(r.code, 1, r.stderr);
    return "exit 1, clean";
  });
});

test("no file left in the work tree holds a secret (docker config aside); TMPDIR empty", async () => {
  await table.case("scan every file written by the runs above", "no canary in any file", async () => {
    const files = (await listTree(work.dir)).filter((p) => !p.startsWith("docker"));
    let scanned = 0;
    for (const f of files) {
      const b = await readFile(join(work.dir, f)).catch(() => undefined);
      if (!b) continue;
      scanned++;
      assert.deepEqual(leakedIn(b.toString("latin1")), [], `secret in ${f}`);
    }
    await assertTmpClean(env);
    return `${scanned} files scanned, clean`;
  });
});
