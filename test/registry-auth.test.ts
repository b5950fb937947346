/**
 * Registry client authentication. Basic (htpasswd, bcrypt from `htpasswd -Bbn`) and TLS (CA file,
 * docker certs.d, insecure) run the SAME test bodies against each backend of
 * test/registry-backends.ts: the real distribution registry and tcrane's embedded registry. Bearer
 * (the test token server: scopes, caching, renewal, 401 re-fetch, OAuth2 POST and its GET fallback,
 * registry tokens, an https realm) runs on distribution only: the embedded registry has no token
 * auth. Client certificates are checked against a bare node:https server.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, copyFile } from "node:fs/promises";
import { createServer } from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { startDistribution } from "./harness/distribution.js";
import { startTokenServer } from "./harness/token-server.js";
import { makePki } from "./harness/tls.js";
import { run, tempDir, withTempDir } from "./harness/tools.js";
import { RegistryClient, type Repo } from "../src/registry/index.js";
import { TcraneError } from "../src/errors.js";
import type { Credential, Keychain } from "../src/auth/types.js";
import { pullImage, pushToRegistry, randomImage } from "./fixtures/images.js";
import { backends } from "./registry-backends.js";

const scopeOf = (repo: string, ...actions: string[]) => `repository:${repo}:${actions.join(",")}`;

/** Without the registry's CA (an empty certs.d `certDir`), checkAuth fails with NETWORK naming the certificate. */
async function assertRejectedWithoutCa(host: string, creds: Credential, certDir: string): Promise<void> {
  const plain = new RegistryClient({ credentials: creds, certDir, retries: 0 });
  await assert.rejects(plain.checkAuth(host), (e: TcraneError) => {
    assert.equal(e.code, "NETWORK");
    assert.match(e.line, new RegExp(`^GET https://${host}/v2/: .*certificate`));
    return true;
  });
  await plain.close();
}

/** With insecure (and no certs.d), the manifest at `repo`:v1 is read and has `digest`. */
async function assertInsecureReads(repo: Repo, creds: Credential, digest: string): Promise<void> {
  const insecure = new RegistryClient({ credentials: creds, insecure: true, certDir: "/nonexistent" });
  try {
    assert.equal((await insecure.getManifest(repo, "v1")).digest, digest);
  } finally {
    await insecure.close();
  }
}

for (const backend of backends) {
  describe(backend.name, () => {
    test("basic: credentials on every request; none or wrong ⇒ UNAUTHORIZED exit 4 naming the registry; logs redacted", async () => {
      const reg = await backend.start({ users: { bob: "bob-secret-password" } });
      const lines: string[] = [];
      const keychain: Keychain = { resolve: async (t) => (t.registry === reg.host ? { username: "bob", password: "bob-secret-password" } : undefined) };
      const c = new RegistryClient({ keychain, logger: (l) => lines.push(l) });
      const anon = new RegistryClient();
      const wrong = new RegistryClient({ credentials: { username: "bob", password: "nope-nope" } });
      try {
        const repo = { registry: reg.host, repository: "basic/img" };
        const img = randomImage([1000, 2000]);
        await c.checkAuth(reg.host);
        await pushToRegistry(c, repo, img, "v1");
        const got = await pullImage(c, repo, "v1");
        assert.deepEqual(got.get(img.layers[1]!.desc.digest), img.layers[1]!.blob);
        assert.deepEqual(await c.token(reg.host, [scopeOf("basic/img", "pull")]), { scheme: "basic" });
        assert.ok(lines.some((l) => l.startsWith("--> PUT ")) && lines.some((l) => /^<-- 201 PUT /.test(l)), lines.join("\n"));
        const all = lines.join("\n");
        assert.ok(!all.includes("bob-secret-password") && !all.includes(Buffer.from("bob:bob-secret-password").toString("base64")));
        assert.ok(!/_state=[^R&]/.test(all), "upload state is redacted");
        for (const cl of [anon, wrong]) {
          await assert.rejects(cl.getManifest(repo, "v1"), (e: TcraneError) => {
            assert.equal(e.code, "UNAUTHORIZED");
            assert.equal(e.exitCode, 4);
            assert.ok(e.message.includes(`authentication required by ${reg.host}`), e.message);
            assert.ok(!e.line.includes("nope-nope"));
            return true;
          });
        }
        await assert.rejects(anon.checkAuth(reg.host), (e: TcraneError) => e.code === "UNAUTHORIZED");
      } finally {
        await Promise.all([c.close(), anon.close(), wrong.close()]);
        await reg.stop();
      }
    });

    test("TLS + basic: rejected without the CA; trusted by caFile, by certs.d, or with insecure", async () => {
      const reg = await backend.start({ tls: true, users: { tina: "tina-tls-pw" } });
      const { dir, cleanup } = await tempDir("tcrane-certsd-");
      const creds = { username: "tina", password: "tina-tls-pw" };
      try {
        const repo = { registry: reg.host, repository: "tls/img" };
        const img = randomImage([800]);
        await assertRejectedWithoutCa(reg.host, creds, dir);
        await mkdir(join(dir, reg.host), { recursive: true });
        await copyFile(reg.pki!.caCertPath, join(dir, reg.host, "ca.crt"));
        const viaCertsD = new RegistryClient({ credentials: creds, certDir: dir });
        try {
          await pushToRegistry(viaCertsD, repo, img, "v1");
          const got = await pullImage(viaCertsD, repo, "v1");
          assert.deepEqual(got.get(img.layers[0]!.desc.digest), img.layers[0]!.blob);
        } finally {
          await viaCertsD.close();
        }
        await assertInsecureReads(repo, creds, img.manifestDesc.digest);
        const viaCaFile = new RegistryClient({ credentials: creds, caFile: reg.pki!.caCertPath, certDir: "/nonexistent" });
        const anon = new RegistryClient({ caFile: reg.pki!.caCertPath, certDir: "/nonexistent" });
        try {
          assert.equal((await viaCaFile.headManifest(repo, "v1"))?.digest, img.manifestDesc.digest);
          assert.deepEqual(await viaCaFile.listTags(repo), ["v1"]);
          // TLS alone is not auth: without credentials the registry still answers 401
          await assert.rejects(anon.getManifest(repo, "v1"), (e: TcraneError) => e.code === "UNAUTHORIZED" && e.exitCode === 4);
        } finally {
          await Promise.all([viaCaFile.close(), anon.close()]);
        }
      } finally {
        await cleanup();
        await reg.stop();
      }
    });
  });
}

describe("distribution only: Bearer token auth (the embedded registry has no token auth)", () => {
  test("bearer: one token request per repository and action set while copying an image; 401 ⇒ re-fetch; renewal", async () => {
    const ts = await startTokenServer({ users: { alice: "alice-pw", reader: "reader-pw" }, grants: { reader: [{ name: "team/*", actions: ["pull"] }] } });
    const reg = await startDistribution({ mode: "bearer", token: ts });
    const lines: string[] = [];
    const c = new RegistryClient({ credentials: { username: "alice", password: "alice-pw" }, logger: (l) => lines.push(l) });
    try {
      const src = { registry: reg.host, repository: "team/src" };
      const dst = { registry: reg.host, repository: "team/dst" };
      const img = randomImage([1000, 2000, 3000, 4000]);
      await c.checkAuth(reg.host, [scopeOf(src.repository, "push", "pull")]);
      await pushToRegistry(c, src, img, "v1");
      assert.equal(ts.counters.total, 1, "push of a whole image: one token");
      ts.counters.reset();

      // copy src → dst the way the engine does: read src, mount into dst
      const c2 = new RegistryClient({ credentials: { username: "alice", password: "alice-pw" } });
      try {
        const m = await c2.getManifest(src, "v1");
        await c2.checkAuth(reg.host, [scopeOf(dst.repository, "push", "pull")]);
        const results = await Promise.all(
          [img.configDesc, ...img.layers.map((l) => l.desc)].map(async (b) => ((await c2.headBlob(dst, b.digest)) !== undefined ? "exists" : c2.pushBlob(dst, b, async () => c2.fetchBlob(src, b), { mountFrom: src }))),
        );
        assert.deepEqual(results, ["mounted", "mounted", "mounted", "mounted", "mounted"]);
        await c2.putManifest(dst, "v1", m.bytes, m.mediaType);
        for (const [key, n] of ts.counters.byUserScope) assert.equal(n, 1, `token requests for ${key}`);
        assert.equal(c2.stats.tokenRequests, ts.counters.total);
        assert.ok(ts.counters.total <= 3, `${ts.counters.total} token requests`);
        const got = await pullImage(c2, dst, "v1");
        assert.deepEqual(got.get(img.layers[3]!.desc.digest), img.layers[3]!.blob);
      } finally {
        await c2.close();
      }

      // a registry-side 401 (invalid_token) drops the cached token and fetches a new one, once
      const c3 = new RegistryClient({ credentials: { username: "alice", password: "alice-pw" } });
      try {
        ts.setIssueExpired(true);
        const t = await c3.token(reg.host, [scopeOf(src.repository, "pull")]);
        assert.equal(t.scheme, "bearer");
        assert.ok(t.token && t.expiresIn! > 200);
        ts.setIssueExpired(false);
        ts.counters.reset();
        assert.equal((await c3.getManifest(src, "v1")).digest, img.manifestDesc.digest);
        assert.equal(ts.counters.total, 1);
      } finally {
        await c3.close();
      }

      // tokens are renewed before they expire
      ts.setTokenTtl(2);
      const c4 = new RegistryClient({ credentials: { username: "alice", password: "alice-pw" } });
      try {
        ts.counters.reset();
        await c4.getManifest(src, "v1");
        await c4.getManifest(src, "v1");
        assert.equal(ts.counters.total, 1);
        await new Promise((r) => setTimeout(r, 1700));
        await c4.getManifest(src, "v1");
        assert.equal(ts.counters.total, 2, "renewed at 80% of a 2 s lifetime");
      } finally {
        ts.setTokenTtl(300);
        await c4.close();
      }

      // insufficient scope: a pull-only user cannot push ⇒ exit 4, after one scope-merging retry
      const reader = new RegistryClient({ credentials: { username: "reader", password: "reader-pw" } });
      try {
        assert.equal((await reader.getManifest(src, "v1")).digest, img.manifestDesc.digest);
        await assert.rejects(reader.pushBlob(dst, img.configDesc, async () => (await import("node:stream")).Readable.from([img.config])), (e: TcraneError) => e.code === "UNAUTHORIZED" || e.code === "DENIED");
        await assert.rejects(reader.getManifest({ registry: reg.host, repository: "other/x" }, "v1"), (e: TcraneError) => e.exitCode === 4);
      } finally {
        await reader.close();
      }
      const all = lines.join("\n");
      assert.ok(!all.includes("alice-pw"));
      assert.ok(lines.some((l) => l.includes("/token?")), "token requests are logged");
    } finally {
      await c.close();
      await reg.stop();
      await ts.stop();
    }
  });

  test("bearer: identity token by OAuth2 POST, GET fallback on 404, registry token used as is, anonymous pull", async () => {
    for (const disablePost of [false, true]) {
      const ts = await startTokenServer({ users: { alice: "alice-pw" }, anonymous: [{ name: "public/*", actions: ["pull"] }], disablePost });
      const reg = await startDistribution({ mode: "bearer", token: ts });
      try {
        const repo = { registry: reg.host, repository: "public/img" };
        const img = randomImage([500]);
        const pusher = new RegistryClient({ credentials: { username: "alice", password: "alice-pw" } });
        await pushToRegistry(pusher, repo, img, "v1");
        await pusher.close();
        // a refresh token, as `docker login` stores it
        const url = new URL(ts.realm);
        url.searchParams.set("service", ts.service);
        url.searchParams.set("offline_token", "true");
        url.searchParams.set("client_id", "test");
        url.searchParams.set("scope", "repository:public/img:pull");
        const r = await request(url, { headers: { authorization: "Basic " + Buffer.from("alice:alice-pw").toString("base64") } });
        const body = (await r.body.json()) as { refresh_token?: string; token: string };
        assert.ok(body.refresh_token);
        ts.counters.reset();
        const c = new RegistryClient({ credentials: { username: "alice", password: disablePost ? "alice-pw" : undefined, identityToken: body.refresh_token }, logger: process.env.DBG ? console.log : undefined });
        try {
          assert.equal((await c.getManifest(repo, "v1")).digest, img.manifestDesc.digest);
          if (disablePost) assert.deepEqual([ts.counters.post, ts.counters.get], [1, 1], "POST 404 then GET");
          else assert.deepEqual([ts.counters.post, ts.counters.get], [1, 0]);
          assert.equal(ts.counters.log.at(-1)!.status, 200);
        } finally {
          await c.close();
        }
        ts.counters.reset();
        const rt = new RegistryClient({ credentials: { registryToken: body.token } });
        try {
          assert.equal((await rt.getManifest(repo, "v1")).digest, img.manifestDesc.digest);
          assert.equal(ts.counters.total, 0, "a registry token is sent as is");
        } finally {
          await rt.close();
        }
        const anon = new RegistryClient();
        try {
          assert.equal((await anon.getManifest(repo, "v1")).digest, img.manifestDesc.digest);
          await assert.rejects(anon.putManifest(repo, "v2", img.manifest, img.manifestDesc.mediaType), (e: TcraneError) => e.exitCode === 4);
        } finally {
          await anon.close();
        }
      } finally {
        await reg.stop();
        await ts.stop();
      }
    }
  });

  test("bearer: token servers answering only `token` or only `access_token` (ACR style)", async () => {
    for (const tokenFields of ["token", "access_token"] as const) {
      const ts = await startTokenServer({ users: { alice: "alice-pw" }, tokenFields });
      const reg = await startDistribution({ mode: "bearer", token: ts });
      const c = new RegistryClient({ credentials: { username: "alice", password: "alice-pw" } });
      try {
        const repo = { registry: reg.host, repository: "fields/img" };
        const img = randomImage([100]);
        await pushToRegistry(c, repo, img, "v1");
        assert.equal((await c.getManifest(repo, "v1")).digest, img.manifestDesc.digest, tokenFields);
        const t = await c.token(reg.host, [scopeOf("fields/img", "pull")]);
        assert.equal(t.scheme, "bearer");
        assert.ok(t.token && t.token.split(".").length === 3);
      } finally {
        await c.close();
        await reg.stop();
        await ts.stop();
      }
    }
  });

  test("TLS + bearer: rejected without the CA; an https token realm and the registry trusted via certs.d, or with insecure", async () => {
    const ts = await startTokenServer({ users: { alice: "alice-pw" }, tls: true });
    const reg = await startDistribution({ mode: "bearer", tls: true, token: ts });
    const { dir, cleanup } = await tempDir("tcrane-certsd-");
    try {
      const repo = { registry: reg.host, repository: "tls/img" };
      const img = randomImage([800]);
      const creds = { username: "alice", password: "alice-pw" };
      await assertRejectedWithoutCa(reg.host, creds, dir);
      // registry CA in certs.d/<host:port>/, token server CA in certs.d/<its host:port>/
      const tsHost = new URL(ts.realm).host;
      for (const [host, pem] of [[reg.host, reg.pki!.caCertPath], [tsHost, ts.pki!.caCertPath]] as const) {
        await mkdir(join(dir, host), { recursive: true });
        await copyFile(pem, join(dir, host, "ca.crt"));
      }
      const viaCertsD = new RegistryClient({ credentials: creds, certDir: dir });
      try {
        await pushToRegistry(viaCertsD, repo, img, "v1");
        assert.equal((await viaCertsD.getManifest(repo, "v1")).digest, img.manifestDesc.digest);
      } finally {
        await viaCertsD.close();
      }
      await assertInsecureReads(repo, creds, img.manifestDesc.digest);
    } finally {
      await cleanup();
      await reg.stop();
      await ts.stop();
    }
  });
});

test("TLS: a client certificate from certs.d (*.cert + *.key) is presented", async () => {
  await withTempDir(async (dir) => {
    const pki = await makePki(dir);
    const ossl = async (args: string[]) => {
      const r = await run("openssl", args, { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    };
    await ossl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=tcrane-client"]);
    await ossl(["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.cert", "-days", "2"]);
    const seen: string[] = [];
    const server = createServer(
      { key: readFileSync(pki.keyPath), cert: readFileSync(pki.certPath), ca: pki.caPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const peer = (req.socket as import("node:tls").TLSSocket).getPeerCertificate();
        seen.push(String(peer.subject?.CN ?? ""));
        res.writeHead(200, { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0" });
        res.end("{}");
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const certDir = join(dir, "certs.d");
      await mkdir(join(certDir, host), { recursive: true });
      await copyFile(pki.caCertPath, join(certDir, host, "ca.crt"));
      const without = new RegistryClient({ certDir, retries: 0 });
      await assert.rejects(without.checkAuth(host), (e: TcraneError) => e.code === "NETWORK");
      await without.close();
      await copyFile(join(dir, "client.cert"), join(certDir, host, "client.cert"));
      await copyFile(join(dir, "client.key"), join(certDir, host, "client.key"));
      const withCert = new RegistryClient({ certDir });
      await withCert.checkAuth(host);
      await withCert.close();
      assert.ok(seen.length >= 1 && seen.every((cn) => cn === "tcrane-client"), seen.join(","));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, "tcrane-mtls-");
});
