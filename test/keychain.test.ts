import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { tcrane, withTempDir } from "./harness/tools.js";
import { startDistribution } from "./harness/distribution.js";
import {
  DockerKeychain,
  eraseCredential,
  findConfig,
  resolveCliCredentials,
  storeCredential,
  type Env,
} from "../src/auth/index.js";
import { TcraneError } from "../src/errors.js";
import { redactText } from "../src/redact.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A node script as a credential helper: a JSON file store, and a call log. */
const FAKE_HELPER = `#!${process.execPath}
const fs = require("fs");
const dir = ${JSON.stringify("__DIR__")};
const verb = process.argv[2];
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const storePath = dir + "/fake-store.json";
  const store = fs.existsSync(storePath) ? JSON.parse(fs.readFileSync(storePath, "utf8")) : {};
  fs.appendFileSync(dir + "/fake-calls.log", verb + " " + (verb === "store" ? JSON.parse(input).ServerURL : input) + "\\n");
  if (verb === "get") {
    if (!store[input]) { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input, ...store[input] }));
  } else if (verb === "store") {
    const v = JSON.parse(input);
    store[v.ServerURL] = { Username: v.Username, Secret: v.Secret };
    fs.writeFileSync(storePath, JSON.stringify(store));
  } else if (verb === "erase") {
    if (!store[input]) { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); }
    delete store[input];
    fs.writeFileSync(storePath, JSON.stringify(store));
  }
});
`;

/** Fails; on store it echoes what it was given (a leaky helper), which must be redacted. */
const FAILING_HELPER = `#!/bin/sh
input=$(cat)
echo "keychain is locked: $input"
exit 3
`;
const GARBAGE_HELPER = `#!/bin/sh
cat >/dev/null
echo "this is not json"
`;

interface Env0 {
  dir: string;
  home: string;
  env: Env;
}

/** Run `fn` in a private HOME and PATH with the helpers first (nothing of the real user is read); removed afterwards. */
function withSandbox(fn: (s: Env0) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const home = join(dir, "home");
    const bin = join(dir, "bin");
    await mkdir(home);
    await mkdir(bin);
    const helpers: Record<string, string> = {
      fake: FAKE_HELPER.replace("__DIR__", dir),
      failing: FAILING_HELPER,
      garbage: GARBAGE_HELPER,
    };
    for (const [name, text] of Object.entries(helpers)) {
      const p = join(bin, `docker-credential-${name}`);
      await writeFile(p, text);
      await chmod(p, 0o755);
    }
    await fn({ dir, home, env: { HOME: home, PATH: `${bin}:/usr/bin:/bin` } });
  }, "tcrane-keychain-");
}

async function writeJson(path: string, v: unknown): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, typeof v === "string" ? v : JSON.stringify(v));
}

async function seedHelper(s: Env0, store: Record<string, { Username: string; Secret: string }>): Promise<void> {
  await writeFile(join(s.dir, "fake-store.json"), JSON.stringify(store));
}

async function calls(s: Env0): Promise<string[]> {
  try {
    return (await readFile(join(s.dir, "fake-calls.log"), "utf8")).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

function isCode(code: string, re?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TcraneError, String(e));
    assert.equal(e.code, code);
    if (re) assert.match(e.line, re);
    return true;
  };
}

const cred = (u: string, p: string) => ({ auths: { "r.example.com": { auth: b64(`${u}:${p}`) } } });

test("keychain: location order (docker config, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, anonymous)", async () => {
  await withSandbox(async (s) => {
    const resolveUser = async (env: Env) => (await new DockerKeychain({ env }).resolve({ registry: "r.example.com" }))?.username;
    assert.equal(await findConfig(s.env), undefined);
    assert.equal(await resolveUser(s.env), undefined);

    await writeJson(join(s.home, ".config/containers/auth.json"), cred("xdg-default", "p1"));
    assert.equal(await resolveUser(s.env), "xdg-default");
    const xdgConfig = join(s.dir, "xdgconfig");
    await writeJson(join(xdgConfig, "containers/auth.json"), cred("xdg-config", "p2"));
    assert.equal(await resolveUser({ ...s.env, XDG_CONFIG_HOME: xdgConfig }), "xdg-config");
    const runtime = join(s.dir, "run");
    await writeJson(join(runtime, "containers/auth.json"), cred("xdg-runtime", "p3"));
    assert.equal(await resolveUser({ ...s.env, XDG_CONFIG_HOME: xdgConfig, XDG_RUNTIME_DIR: runtime }), "xdg-runtime");
    const authFile = join(s.dir, "auth-file.json");
    await writeJson(authFile, cred("auth-file", "p4"));
    const podmanEnv = { ...s.env, XDG_CONFIG_HOME: xdgConfig, XDG_RUNTIME_DIR: runtime, REGISTRY_AUTH_FILE: authFile };
    assert.equal(await resolveUser(podmanEnv), "auth-file");
    assert.deepEqual(await findConfig(podmanEnv), { path: authFile, kind: "containers" });

    await writeJson(join(s.home, ".docker/config.json"), cred("home-docker", "p5"));
    assert.equal(await resolveUser(podmanEnv), "home-docker");
    const dc = join(s.dir, "dockercfg");
    await writeJson(join(dc, "config.json"), cred("docker-config", "p6"));
    assert.equal(await resolveUser({ ...podmanEnv, DOCKER_CONFIG: dc }), "docker-config");
    // ggcr: ~/.docker/config.json exists, $DOCKER_CONFIG has none ⇒ docker config (empty) ⇒ anonymous
    const empty = join(s.dir, "emptydc");
    await mkdir(empty);
    assert.deepEqual(await findConfig({ ...podmanEnv, DOCKER_CONFIG: empty }), { path: join(empty, "config.json"), kind: "docker" });
    assert.equal(await resolveUser({ ...podmanEnv, DOCKER_CONFIG: empty }), undefined);
  });
});

test("keychain: odd files — directory, empty, malformed JSON, bad auth", async () => {
  await withSandbox(async (s) => {
    const dc = join(s.dir, "dc");
    await mkdir(join(dc, "config.json"), { recursive: true }); // a directory named config.json
    const authFile = join(s.dir, "auth.json");
    await writeJson(authFile, cred("podman", "pw"));
    // not a regular file ⇒ skipped, the podman file is used
    assert.equal((await new DockerKeychain({ env: { ...s.env, DOCKER_CONFIG: dc, REGISTRY_AUTH_FILE: authFile } }).resolve({ registry: "r.example.com" }))?.username, "podman");
    // but chosen through ~/.docker/config.json and then a directory ⇒ CONFIG naming it
    await writeJson(join(s.home, ".docker/config.json"), "{}");
    await assert.rejects(new DockerKeychain({ env: { ...s.env, DOCKER_CONFIG: dc } }).resolve({ registry: "x" }), isCode("CONFIG", /dc\/config\.json: is a directory/));

    const cfg = join(s.home, ".docker/config.json");
    await writeFile(cfg, "");
    assert.equal(await new DockerKeychain({ env: s.env }).resolve({ registry: "r.example.com" }), undefined);
    await writeFile(cfg, '{"auths": {');
    await assert.rejects(new DockerKeychain({ env: s.env }).resolve({ registry: "x" }), isCode("CONFIG", new RegExp(`${cfg}: parsing config file`)));
    await writeJson(cfg, { auths: { "r.example.com": { auth: "not base64!" } } });
    await assert.rejects(new DockerKeychain({ env: s.env }).resolve({ registry: "r.example.com" }), isCode("CONFIG", /invalid "auth" of "r\.example\.com": not valid base64/));
    await writeJson(cfg, { auths: { "r.example.com": { auth: b64("nocolon") } } });
    await assert.rejects(new DockerKeychain({ env: s.env }).resolve({ registry: "r.example.com" }), isCode("CONFIG", /expected base64 of user:password/));
    await writeJson(cfg, { auths: { "r.example.com": { auth: b64(":pw-only") } } });
    await assert.rejects(new DockerKeychain({ env: s.env }).resolve({ registry: "r.example.com" }), isCode("CONFIG"));
  });
});

test("keychain: every auths form and key matching", async () => {
  await withSandbox(async (s) => {
    await writeJson(join(s.home, ".docker/config.json"), {
      auths: {
        "a.example.com": { auth: b64("alice:pa:ss:word"), username: "ignored", password: "ignored" },
        "b.example.com": { username: "bob", password: "bob-pw" },
        "c.example.com": { identitytoken: "refresh-token-c" },
        "d.example.com": { registrytoken: "bearer-token-d" },
        "a.example.com/team/app": { auth: b64("team:team-pw") },
        "https://index.docker.io/v1/": { auth: b64("hubuser:hub-pw") },
        "https://registry.example.com/v2/": { auth: b64("scheme:scheme-pw") },
        "localhost:5000": { auth: b64("local:local-pw") },
        "e.example.com": {},
      },
      credHelpers: {},
      psFormat: "kept",
    });
    const kc = new DockerKeychain({ env: s.env });
    assert.deepEqual(await kc.resolve({ registry: "a.example.com" }), { username: "alice", password: "pa:ss:word" });
    assert.deepEqual(await kc.resolve({ registry: "b.example.com" }), { username: "bob", password: "bob-pw" });
    assert.deepEqual(await kc.resolve({ registry: "c.example.com" }), { identityToken: "refresh-token-c" });
    assert.deepEqual(await kc.resolve({ registry: "d.example.com" }), { registryToken: "bearer-token-d" });
    assert.deepEqual(await kc.resolve({ registry: "a.example.com", repository: "team/app" }), { username: "team", password: "team-pw" });
    assert.deepEqual(await kc.resolve({ registry: "a.example.com", repository: "other" }), { username: "alice", password: "pa:ss:word" });
    for (const registry of ["index.docker.io", "docker.io", "registry-1.docker.io"]) {
      assert.equal((await kc.resolve({ registry, repository: "library/ubuntu" }))?.username, "hubuser");
    }
    assert.equal((await kc.resolve({ registry: "registry.example.com" }))?.username, "scheme");
    assert.equal((await kc.resolve({ registry: "localhost:5000", repository: "x" }))?.username, "local");
    assert.equal(await kc.resolve({ registry: "localhost:5001" }), undefined);
    assert.equal(await kc.resolve({ registry: "e.example.com" }), undefined);
    // every secret read is registered for redaction
    assert.equal(redactText("x pa:ss:word y refresh-token-c bearer-token-d"), "x REDACTED y REDACTED REDACTED");
  });
});

test("keychain: podman's docker.io key matches Docker Hub", async () => {
  await withSandbox(async (s) => {
    const f = join(s.dir, "auth.json");
    await writeJson(f, { auths: { "docker.io": { auth: b64("pod:pod-pw") } } });
    const kc = new DockerKeychain({ env: { ...s.env, REGISTRY_AUTH_FILE: f } });
    assert.equal((await kc.resolve({ registry: "index.docker.io", repository: "library/alpine" }))?.username, "pod");
  });
});

test("keychain: every Docker Hub name as a key (podman writes docker.io, docker.io/repo), crane's key too", async () => {
  await withSandbox(async (s) => {
    const f = join(s.dir, "auth.json");
    const names = ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"];
    for (const [i, key] of names.entries()) {
      await writeJson(f, { auths: { [key]: { auth: b64(`u-${i}:pw-${i}-xyz`) } } });
      for (const registry of ["index.docker.io", "docker.io", "registry-1.docker.io"]) {
        const kc = new DockerKeychain({ env: { ...s.env, REGISTRY_AUTH_FILE: f } });
        assert.equal((await kc.resolve({ registry, repository: "library/alpine" }))?.username, `u-${i}`, `${key} for ${registry}`);
      }
    }
    // a repository-scoped key under any Docker Hub name wins over the registry-wide one
    await writeJson(f, {
      auths: {
        "docker.io": { auth: b64("hub-wide:pw-wide") },
        "docker.io/team/app": { auth: b64("hub-team:pw-team") },
      },
    });
    const kc = new DockerKeychain({ env: { ...s.env, REGISTRY_AUTH_FILE: f } });
    assert.equal((await kc.resolve({ registry: "index.docker.io", repository: "team/app" }))?.username, "hub-team");
    assert.equal((await kc.resolve({ registry: "index.docker.io", repository: "team/other" }))?.username, "hub-wide");
    // a host that only looks like Docker Hub is not it
    assert.equal(await kc.resolve({ registry: "docker.io.example.com", repository: "team/app" }), undefined);
  });
});

test("keychain: DOCKER_AUTH_CONFIG before the config file, key by key (docker's in-memory store with the file as fallback)", async () => {
  await withSandbox(async (s) => {
    const envDoc = JSON.stringify({
      auths: {
        "r.example.com": { auth: b64("env-user:env-pw-1") },
        "https://index.docker.io/v1/": { auth: b64("env-hub:env-pw-2") },
        "only-env.example.com": { username: "env-only", password: "env-pw-3" },
      },
      credHelpers: { "h.example.com": "fake" }, // ignored, as docker does
    });
    // no config file at all: the variable alone is enough
    const env = { ...s.env, DOCKER_AUTH_CONFIG: envDoc };
    assert.deepEqual(await new DockerKeychain({ env }).resolve({ registry: "r.example.com" }), { username: "env-user", password: "env-pw-1" });
    assert.equal((await new DockerKeychain({ env }).resolve({ registry: "docker.io", repository: "library/x" }))?.username, "env-hub");
    assert.equal(await new DockerKeychain({ env }).resolve({ registry: "h.example.com" }), undefined);
    assert.deepEqual(await calls(s), []);

    // with a file: the variable wins for its keys (over the file's auths and over a helper), the file answers the rest
    await writeJson(join(s.home, ".docker/config.json"), {
      auths: {
        "r.example.com": { auth: b64("file-user:file-pw-1") },
        "r.example.com/team/app": { auth: b64("file-team:file-pw-2") },
        "file-only.example.com": { auth: b64("file-only:file-pw-3") },
      },
      credHelpers: { "only-env.example.com": "fake", "h.example.com": "fake" },
    });
    await seedHelper(s, { "h.example.com": { Username: "helper-user", Secret: "helper-pw-4" }, "only-env.example.com": { Username: "x", Secret: "helper-pw-5" } });
    const kc = new DockerKeychain({ env });
    assert.equal((await kc.resolve({ registry: "r.example.com" }))?.username, "env-user");
    assert.equal((await kc.resolve({ registry: "only-env.example.com" }))?.username, "env-only");
    assert.equal((await kc.resolve({ registry: "file-only.example.com" }))?.username, "file-only");
    assert.equal((await kc.resolve({ registry: "h.example.com" }))?.username, "helper-user");
    // keys are tried as registry/repo then registry, each in the variable then the file
    assert.equal((await kc.resolve({ registry: "r.example.com", repository: "team/app" }))?.username, "file-team");
    assert.equal((await kc.resolve({ registry: "r.example.com", repository: "other" }))?.username, "env-user");
    assert.deepEqual(await calls(s), ["get h.example.com"]); // the helper never asked for a key the variable holds
    // an empty variable is no variable
    assert.equal((await new DockerKeychain({ env: { ...s.env, DOCKER_AUTH_CONFIG: "" } }).resolve({ registry: "r.example.com" }))?.username, "file-user");
    // the secrets are redacted
    assert.equal(redactText("a env-pw-1 b env-pw-3"), "a REDACTED b REDACTED");
  });
});

test("keychain: a malformed DOCKER_AUTH_CONFIG is one CONFIG error naming the variable, without its text", async () => {
  await withSandbox(async (s) => {
    const bad = async (doc: string, re: RegExp) => {
      const kc = new DockerKeychain({ env: { ...s.env, DOCKER_AUTH_CONFIG: doc } });
      await assert.rejects(kc.resolve({ registry: "r.example.com" }), (e: unknown) => {
        isCode("CONFIG", re)(e);
        assert.doesNotMatch((e as TcraneError).line, /hunter2-secret/);
        return true;
      });
    };
    await bad('{"auths": {"r.example.com": {"password": hunter2-secret}}}', /^\$DOCKER_AUTH_CONFIG: parsing config file: Unexpected token 'h' \(not valid JSON\)$/);
    await bad("[1]", /^\$DOCKER_AUTH_CONFIG: parsing config file: expected a JSON object$/);
    await bad(JSON.stringify({ auths: { "r.example.com": { auth: "hunter2-secret" } } }), /^\$DOCKER_AUTH_CONFIG: invalid "auth" of "r\.example\.com": not valid base64$/);
  });
});

test("keychain: tcrane auth get reads DOCKER_AUTH_CONFIG before the file", async () => {
  await withSandbox(async (s) => {
    await writeJson(join(s.home, ".docker/config.json"), { auths: { "r.example.com": { auth: b64("file-user:file-pw") }, "f.example.com": { auth: b64("f:f-pw") } } });
    const env = { ...process.env, ...s.env, DOCKER_CONFIG: undefined, DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { "r.example.com": { auth: b64("env-user:env-pw") } } }) };
    const r = await tcrane(["auth", "get", "r.example.com"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { Username: "env-user", Secret: "env-pw" });
    const f = await tcrane(["auth", "get", "f.example.com"], { env });
    assert.deepEqual(JSON.parse(f.stdout), { Username: "f", Secret: "f-pw" });
    const bad = await tcrane(["auth", "get", "r.example.com"], { env: { ...env, DOCKER_AUTH_CONFIG: "{" } });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, "tcrane: $DOCKER_AUTH_CONFIG: parsing config file: Expected property name or '}' in JSON at position 1\n");
  });
});

test("keychain: DOCKER_AUTH_CONFIG signs in to a real registry (htpasswd), over a wrong password in the file", async () => {
  const reg = await startDistribution({ mode: "basic", users: { ci: "ci-secret-pw-1" } });
  try {
    await withSandbox(async (s) => {
      await writeJson(join(s.home, ".docker/config.json"), { auths: { [reg.host]: { auth: b64("ci:wrong-password") } } });
      const env = { ...process.env, ...s.env, DOCKER_CONFIG: undefined };
      const refused = await tcrane(["catalog", reg.host], { env });
      assert.equal(refused.code, 4, refused.stderr);
      const ok = await tcrane(["catalog", reg.host, "-v"], { env: { ...env, DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [reg.host]: { auth: b64("ci:ci-secret-pw-1") } } }) } });
      assert.equal(ok.code, 0, ok.stderr);
      assert.doesNotMatch(ok.stderr, /ci-secret-pw-1|Y2k6Y2ktc2VjcmV0LXB3LTE/); // never in --verbose
    });
  } finally {
    await reg.stop();
  }
});

test("keychain: credsStore and credHelpers through docker-credential-* (found, token, not found)", async () => {
  await withSandbox(async (s) => {
    await writeJson(join(s.home, ".docker/config.json"), {
      auths: { "plain.example.com": { auth: b64("file:file-pw") }, "q.example.com": { registrytoken: "reg-token-q" } },
      credsStore: "fake",
      credHelpers: { "other.example.com": "failing" },
    });
    await seedHelper(s, {
      "h.example.com": { Username: "helper-user", Secret: "helper-secret-1" },
      "https://index.docker.io/v1/": { Username: "<token>", Secret: "hub-identity-token" },
      "h.example.com/team/app": { Username: "repo-user", Secret: "repo-secret" },
    });
    const kc = new DockerKeychain({ env: s.env });
    assert.deepEqual(await kc.resolve({ registry: "h.example.com", repository: "x/y" }), { username: "helper-user", password: "helper-secret-1" });
    assert.deepEqual(await kc.resolve({ registry: "h.example.com", repository: "team/app" }), { username: "repo-user", password: "repo-secret" });
    assert.deepEqual(await kc.resolve({ registry: "index.docker.io", repository: "library/ubuntu" }), { identityToken: "hub-identity-token" });
    // the helper has nothing: anonymous (the file's auth is not used when a store is configured, as docker)
    assert.equal(await kc.resolve({ registry: "plain.example.com" }), undefined);
    // a registry token in the file survives next to the helper
    assert.deepEqual(await kc.resolve({ registry: "q.example.com" }), { registryToken: "reg-token-q" });
    // cached: a second resolve does not run the helper again
    await kc.resolve({ registry: "h.example.com", repository: "x/y" });
    assert.deepEqual(await calls(s), [
      "get h.example.com/x/y",
      "get h.example.com",
      "get h.example.com/team/app",
      "get index.docker.io/library/ubuntu",
      "get https://index.docker.io/v1/",
      "get plain.example.com",
      "get q.example.com",
    ]);
    assert.match(redactText("helper-secret-1 hub-identity-token"), /^REDACTED REDACTED$/);
    // credHelpers wins over credsStore, and its failure is fatal, naming the helper
    await assert.rejects(
      kc.resolve({ registry: "other.example.com" }),
      isCode("CREDENTIAL_HELPER", /^credential helper failing: docker-credential-failing get failed \(exit 3\): keychain is locked: other\.example\.com$/),
    );
  });
});

test("keychain: a missing or garbage helper is a CREDENTIAL_HELPER error", async () => {
  await withSandbox(async (s) => {
    const cfg = join(s.home, ".docker/config.json");
    await writeJson(cfg, { credsStore: "missing" });
    await assert.rejects(new DockerKeychain({ env: s.env }).resolve({ registry: "x.example.com" }), isCode("CREDENTIAL_HELPER", /docker-credential-missing: executable file not found/));
    await writeJson(cfg, { credHelpers: { "x.example.com": "garbage" } });
    await assert.rejects(new DockerKeychain({ env: s.env }).resolve({ registry: "x.example.com" }), isCode("CREDENTIAL_HELPER", /garbage get: output is not JSON/));
    // a helper for another host is not run
    assert.equal(await new DockerKeychain({ env: s.env }).resolve({ registry: "y.example.com" }), undefined);
  });
});

test("keychain: store and erase in the file (0600, other fields kept) and through a helper", async () => {
  await withSandbox(async (s) => {
    const cfg = join(s.home, ".docker/config.json");
    await writeJson(cfg, { auths: { "keep.example.com": { auth: b64("k:k-pw") } }, psFormat: "table {{.ID}}", proxies: { default: { httpProxy: "http://p:3128" } } });
    await chmod(cfg, 0o644);
    const r = await storeCredential("new.example.com:5000", { username: "nu", password: "new-secret-pw" }, s.env);
    assert.equal(r.path, cfg);
    assert.equal(r.helper, undefined);
    const written = JSON.parse(await readFile(cfg, "utf8"));
    assert.equal(written.auths["new.example.com:5000"].auth, b64("nu:new-secret-pw"));
    assert.equal(written.auths["keep.example.com"].auth, b64("k:k-pw"));
    assert.equal(written.psFormat, "table {{.ID}}");
    assert.deepEqual(written.proxies, { default: { httpProxy: "http://p:3128" } });
    assert.equal((await stat(cfg)).mode & 0o777, 0o600);
    assert.equal((await new DockerKeychain({ env: s.env }).resolve({ registry: "new.example.com:5000" }))?.password, "new-secret-pw");
    // Docker Hub under its v1 key
    assert.equal((await storeCredential("docker.io", { username: "hub", password: "hub-pw-123" }, s.env)).key, "https://index.docker.io/v1/");
    // erase: gone, others kept; erasing again ⇒ nothing stored
    assert.ok(await eraseCredential("new.example.com:5000", s.env));
    const after = JSON.parse(await readFile(cfg, "utf8"));
    assert.equal(after.auths["new.example.com:5000"], undefined);
    assert.ok(after.auths["keep.example.com"]);
    assert.equal(await eraseCredential("new.example.com:5000", s.env), undefined);
    // a fresh HOME: the directory and file are created
    const home2 = join(s.dir, "home2");
    await storeCredential("z.example.com", { username: "z", password: "z-pw-1234" }, { ...s.env, HOME: home2 });
    assert.equal((await stat(join(home2, ".docker/config.json"))).mode & 0o777, 0o600);

    // with a credsStore: the secret goes to the helper, the file keeps an empty entry
    await writeJson(cfg, { credsStore: "fake", currentContext: "default" });
    const h = await storeCredential("h.example.com", { username: "hu", password: "helper-stored-pw" }, s.env);
    assert.equal(h.helper, "fake");
    const withHelper = JSON.parse(await readFile(cfg, "utf8"));
    assert.deepEqual(withHelper, { credsStore: "fake", currentContext: "default", auths: { "h.example.com": {} } });
    assert.ok(!(await readFile(cfg, "utf8")).includes("helper-stored-pw"));
    assert.deepEqual(await new DockerKeychain({ env: s.env }).resolve({ registry: "h.example.com" }), { username: "hu", password: "helper-stored-pw" });
    assert.ok(await eraseCredential("h.example.com", s.env));
    assert.equal(await new DockerKeychain({ env: s.env }).resolve({ registry: "h.example.com" }), undefined);
    assert.ok((await calls(s)).includes("store h.example.com"));
    assert.ok((await calls(s)).includes("erase h.example.com"));
    // a failing helper's store: the error never shows the secret
    await writeJson(cfg, { credsStore: "failing" });
    await assert.rejects(storeCredential("f.example.com", { username: "fu", password: "leaky-canary-secret" }, s.env), (e: unknown) => {
      assert.ok(e instanceof TcraneError && e.code === "CREDENTIAL_HELPER");
      assert.ok(!e.line.includes("leaky-canary-secret"), e.line);
      assert.match(e.line, /docker-credential-failing store failed/);
      return true;
    });
  });
});

test("keychain: per-run credentials from flags and stdin", async () => {
  assert.equal(await resolveCliCredentials({}), undefined);
  assert.deepEqual(await resolveCliCredentials({ username: "u", password: "cli-pw-1" }), { username: "u", password: "cli-pw-1" });
  assert.deepEqual(await resolveCliCredentials({ username: "u", "password-stdin": true }, Readable.from([Buffer.from("stdin-pw-2\r\n")])), {
    username: "u",
    password: "stdin-pw-2",
  });
  assert.deepEqual(await resolveCliCredentials({ username: "u", "password-stdin": true }, Readable.from([Buffer.from("two\nlines\n")])), {
    username: "u",
    password: "two\nlines",
  });
  assert.equal(redactText("stdin-pw-2 cli-pw-1"), "REDACTED REDACTED");
  await assert.rejects(resolveCliCredentials({ username: "u" }), isCode("USAGE", /--username needs --password/));
  await assert.rejects(resolveCliCredentials({ password: "x" }), isCode("USAGE", /needs --username/));
  await assert.rejects(resolveCliCredentials({ username: "u", password: "x", "password-stdin": true }), isCode("USAGE", /mutually exclusive/));
  await assert.rejects(resolveCliCredentials({ username: "u", "password-stdin": true }, Readable.from([])), isCode("USAGE", /no password on stdin/));
});
