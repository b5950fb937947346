import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { startDistribution } from "./harness/distribution.js";
import { startTokenServer } from "./harness/token-server.js";
import { tcrane, tempDir, type RunResult } from "./harness/tools.js";

const CANARY = "canary-Pa55w0rd-7f3e9b";
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A private HOME and DOCKER_CONFIG, so the real ~/.docker is never read or written. */
async function configSandbox(initial?: unknown) {
  const { dir, cleanup } = await tempDir("tcrane-authcli-");
  const dc = join(dir, "docker");
  await mkdir(dc);
  await mkdir(join(dir, "home"));
  const cfg = join(dc, "config.json");
  if (initial !== undefined) await writeFile(cfg, JSON.stringify(initial, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(dir, "home"), DOCKER_CONFIG: dc };
  delete env.REGISTRY_AUTH_FILE;
  return { dir, cfg, env, cleanup };
}

function noSecret(r: RunResult, ...secrets: string[]): void {
  for (const s of secrets) {
    assert.ok(!r.stdout.includes(s), `secret on stdout: ${r.stdout}`);
    assert.ok(!r.stderr.includes(s), `secret on stderr: ${r.stderr}`);
  }
}

test("auth login/get/logout against htpasswd: checked before writing, 0600, other fields kept", async () => {
  const reg = await startDistribution({ mode: "basic", users: { tcrane: CANARY } });
  const sb = await configSandbox({ auths: { "other.example.com": { auth: b64("o:other-pw") } }, psFormat: "table {{.ID}}", credHelpers: {} });
  try {
    const before = await readFile(sb.cfg, "utf8");
    const beforeMtime = (await stat(sb.cfg)).mtimeMs;

    // bad password: exit 4, the registry named, the file untouched
    const bad = await tcrane(["auth", "login", reg.host, "-u", "tcrane", "-p", "wrong-password-xyz"], { env: sb.env });
    assert.equal(bad.code, 4, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^tcrane: ${reg.host.replace(/\./g, "\\.")}: login failed`));
    assert.equal(bad.stderr.trim().split("\n").length, 1);
    noSecret(bad, "wrong-password-xyz", b64("tcrane:wrong-password-xyz"));
    assert.equal(await readFile(sb.cfg, "utf8"), before);
    assert.equal((await stat(sb.cfg)).mtimeMs, beforeMtime);

    // good password from stdin, with --verbose: logged in, no secret anywhere
    const ok = await tcrane(["auth", "login", reg.host, "-u", "tcrane", "--password-stdin", "--verbose"], { env: sb.env, input: CANARY + "\n" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`logged in via ${sb.cfg.replace(/\./g, "\\.")}`));
    assert.match(ok.stderr, /\/v2\//); // the verbose log is there…
    noSecret(ok, CANARY, b64(`tcrane:${CANARY}`)); // …and redacted
    assert.equal(ok.stdout, "");
    const written = JSON.parse(await readFile(sb.cfg, "utf8"));
    assert.equal(written.auths[reg.host].auth, b64(`tcrane:${CANARY}`));
    assert.equal(written.auths["other.example.com"].auth, b64("o:other-pw"));
    assert.equal(written.psFormat, "table {{.ID}}");
    assert.equal((await stat(sb.cfg)).mode & 0o777, 0o600);

    // -p on the command line works too, and --verbose never shows it
    const okp = await tcrane(["auth", "login", reg.host, "-u", "tcrane", "-p", CANARY, "-v"], { env: sb.env });
    assert.equal(okp.code, 0, okp.stderr);
    noSecret(okp, CANARY, b64(`tcrane:${CANARY}`));

    // get: the credential-helper protocol, registry as argument or on stdin
    const g = await tcrane(["auth", "get", reg.host], { env: sb.env });
    assert.equal(g.code, 0, g.stderr);
    assert.deepEqual(JSON.parse(g.stdout), { Username: "tcrane", Secret: CANARY });
    const g2 = await tcrane(["auth", "get"], { env: sb.env, input: `${reg.host}\n` });
    assert.deepEqual(JSON.parse(g2.stdout), { Username: "tcrane", Secret: CANARY });
    const none = await tcrane(["auth", "get", "nothing.example.com"], { env: sb.env });
    assert.equal(none.code, 3);
    assert.equal(none.stdout, "credentials not found in native keychain");

    // logout: entry gone, others kept; a second logout says so and succeeds
    const out = await tcrane(["auth", "logout", reg.host], { env: sb.env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /logged out of /);
    const after = JSON.parse(await readFile(sb.cfg, "utf8"));
    assert.equal(after.auths[reg.host], undefined);
    assert.ok(after.auths["other.example.com"]);
    assert.equal(after.psFormat, "table {{.ID}}");
    const again = await tcrane(["auth", "logout", reg.host], { env: sb.env });
    assert.equal(again.code, 0);
    assert.match(again.stderr, /not logged in/);
    assert.equal((await tcrane(["auth", "get", reg.host], { env: sb.env })).code, 3);
  } finally {
    await sb.cleanup();
    await reg.stop();
  }
});

test("auth login: usage errors and a fresh config directory", async () => {
  const reg = await startDistribution({ mode: "basic", users: { tcrane: CANARY } });
  const sb = await configSandbox();
  try {
    const noPw = await tcrane(["auth", "login", reg.host, "-u", "tcrane"], { env: sb.env });
    assert.equal(noPw.code, 2);
    assert.match(noPw.stderr, /--username needs --password/);
    const noUser = await tcrane(["auth", "login", reg.host], { env: sb.env });
    assert.equal(noUser.code, 2);
    // no config.json yet: created with 0600
    const ok = await tcrane(["auth", "login", `http://${reg.host}/v2/`, "-u", "tcrane", "-p", CANARY], { env: sb.env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await stat(sb.cfg)).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(JSON.parse(await readFile(sb.cfg, "utf8")).auths), [reg.host]);
  } finally {
    await sb.cleanup();
    await reg.stop();
  }
});

test("auth login/token against a bearer registry (real token server)", async () => {
  const ts = await startTokenServer({
    users: { alice: CANARY, reader: "reader-pw-123" },
    grants: { reader: [{ name: "team/*", actions: ["pull"] }] },
  });
  const reg = await startDistribution({ mode: "bearer", token: ts });
  const sb = await configSandbox({});
  try {
    const bad = await tcrane(["auth", "login", reg.host, "-u", "alice", "-p", "not-the-password"], { env: sb.env });
    assert.equal(bad.code, 4, bad.stderr);
    assert.match(bad.stderr, new RegExp(reg.host.replace(/\./g, "\\.")));
    assert.equal(await readFile(sb.cfg, "utf8"), "{}");

    const ok = await tcrane(["auth", "login", reg.host, "-u", "alice", "-p", CANARY, "--verbose"], { env: sb.env });
    assert.equal(ok.code, 0, ok.stderr);
    noSecret(ok, CANARY, b64(`alice:${CANARY}`));
    assert.ok(ts.counters.count("alice") >= 1);

    // token from the saved credentials: JSON, and it works against the registry
    const before = ts.counters.count("alice", ["repository:team/app:pull"]);
    const t = await tcrane(["auth", "token", `${reg.host}/team/app`], { env: sb.env });
    assert.equal(t.code, 0, t.stderr);
    const body = JSON.parse(t.stdout);
    assert.deepEqual(Object.keys(body).sort(), ["expires_in", "token"]);
    assert.equal(body.expires_in, 300);
    assert.equal(ts.counters.count("alice", ["repository:team/app:pull"]), before + 1);
    const tags = await request(`${reg.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${body.token}` } });
    await tags.body.dump();
    assert.equal(tags.statusCode, 404); // authorized, the repository is empty

    // -H --push -m: a header line, push,pull on the repo and pull on the mount source
    const h = await tcrane(["auth", "token", "-H", "--push", "-m", `${reg.host}/team/base`, `${reg.host}/team/app`], { env: sb.env });
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = JSON.parse(Buffer.from(h.stdout.trim().split(" ")[2]!.split(".")[1]!, "base64url").toString());
    assert.deepEqual(claims.access, [
      { type: "repository", name: "team/app", actions: ["push", "pull"] },
      { type: "repository", name: "team/base", actions: ["pull"] },
    ]);
    assert.equal(claims.sub, "alice");

    // per-run credentials win over the config: the pull-only reader gets no push
    const r = await tcrane(["auth", "token", "--push", "--username", "reader", "--password-stdin", `${reg.host}/team/app`], {
      env: sb.env,
      input: "reader-pw-123\n",
    });
    assert.equal(r.code, 0, r.stderr);
    const rc = JSON.parse(Buffer.from(JSON.parse(r.stdout).token.split(".")[1], "base64url").toString());
    assert.equal(rc.sub, "reader");
    assert.deepEqual(rc.access, [{ type: "repository", name: "team/app", actions: ["pull"] }]);
  } finally {
    await sb.cleanup();
    await reg.stop();
    await ts.stop();
  }
});

test("auth token: a registry without bearer auth has no token", async () => {
  const reg = await startDistribution({ mode: "basic", users: { tcrane: CANARY } });
  const sb = await configSandbox({ auths: { placeholder: {} } });
  try {
    const r = await tcrane(["auth", "token", `${reg.host}/x`, "--username", "tcrane", "--password", CANARY, "-v"], { env: sb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is not bearer/);
    assert.equal(r.stdout, "");
    noSecret(r, CANARY, b64(`tcrane:${CANARY}`));
  } finally {
    await sb.cleanup();
    await reg.stop();
  }
});

test("auth login/get/token/logout through a credsStore helper", async () => {
  const ts = await startTokenServer({ users: { alice: CANARY } });
  const reg = await startDistribution({ mode: "bearer", token: ts });
  const sb = await configSandbox({ credsStore: "jsonfile", currentContext: "default" });
  try {
    const bin = join(sb.dir, "bin");
    await mkdir(bin);
    const store = join(sb.dir, "helper-store.json");
    const helper = join(bin, "docker-credential-jsonfile");
    await writeFile(
      helper,
      `#!${process.execPath}
const fs = require("fs"), f = ${JSON.stringify(store)}, verb = process.argv[2];
let input = ""; process.stdin.on("data", (d) => (input += d)); process.stdin.on("end", () => {
  const s = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : {};
  const nf = () => { process.stdout.write("credentials not found in native keychain"); process.exit(1); };
  if (verb === "store") { const v = JSON.parse(input); s[v.ServerURL] = v; fs.writeFileSync(f, JSON.stringify(s)); }
  else if (verb === "get") { if (!s[input]) nf(); process.stdout.write(JSON.stringify(s[input])); }
  else if (verb === "erase") { if (!s[input]) nf(); delete s[input]; fs.writeFileSync(f, JSON.stringify(s)); }
});
`,
    );
    await chmod(helper, 0o755);
    const env = { ...sb.env, PATH: `${bin}:${process.env.PATH}` };
    const ok = await tcrane(["auth", "login", reg.host, "-u", "alice", "--password-stdin"], { env, input: CANARY });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /credential helper jsonfile/);
    noSecret(ok, CANARY);
    const text = await readFile(sb.cfg, "utf8");
    assert.ok(!text.includes(CANARY) && !text.includes(b64(`alice:${CANARY}`)));
    assert.deepEqual(JSON.parse(text), { credsStore: "jsonfile", currentContext: "default", auths: { [reg.host]: {} } });
    assert.equal(JSON.parse(await readFile(store, "utf8"))[reg.host].Secret, CANARY);

    const g = await tcrane(["auth", "get", reg.host], { env });
    assert.deepEqual(JSON.parse(g.stdout), { Username: "alice", Secret: CANARY });
    const t = await tcrane(["auth", "token", `${reg.host}/x/y`], { env });
    assert.equal(t.code, 0, t.stderr);
    assert.equal(JSON.parse(Buffer.from(JSON.parse(t.stdout).token.split(".")[1], "base64url").toString()).sub, "alice");

    assert.equal((await tcrane(["auth", "logout", reg.host], { env })).code, 0);
    assert.deepEqual(JSON.parse(await readFile(store, "utf8")), {});
    assert.equal((await tcrane(["auth", "get", reg.host], { env })).code, 3);
    // a missing helper binary: a clear error naming it, exit 1
    const missing = await tcrane(["auth", "get", reg.host], { env: sb.env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^tcrane: credential helper jsonfile: docker-credential-jsonfile: executable file not found/);
  } finally {
    await sb.cleanup();
    await reg.stop();
    await ts.stop();
  }
});
