import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { startDistribution, type Distribution } from "./harness/distribution.js";
import { libtrustKeyId, parseScope, startTokenServer, type TokenServer } from "./harness/token-server.js";
import { sha256 } from "./fixtures/images.js";

const basic = (u: string, p: string) => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

async function getToken(ts: TokenServer, scopes: string[], auth?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const u = new URL(ts.realm);
  u.searchParams.set("service", ts.service);
  for (const s of scopes) u.searchParams.append("scope", s);
  const r = await request(u, { headers: auth ? { authorization: auth } : {} });
  return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
}

function parseChallenge(h: string | string[] | undefined): Record<string, string> {
  const s = String(h);
  assert.match(s, /^Bearer /);
  const out: Record<string, string> = {};
  for (const m of s.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** POST + PUT a small blob by hand; returns the status of the POST (or of the PUT when the POST worked). */
async function pushBlob(reg: Distribution, repo: string, token: string): Promise<number> {
  const data = Buffer.from(`blob for ${repo} ${Date.now()}`);
  const digest = sha256(data);
  const post = await request(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  await post.body.dump();
  if (post.statusCode !== 202) return post.statusCode;
  const loc = new URL(String(post.headers.location), reg.url);
  loc.searchParams.set("digest", digest);
  const put = await request(loc, {
    method: "PUT",
    body: data,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream", "content-length": String(data.length) },
  });
  await put.body.dump();
  return put.statusCode;
}

async function withBoth<T>(
  opts: Parameters<typeof startTokenServer>[0],
  fn: (ts: TokenServer, reg: Distribution) => Promise<T>,
): Promise<T> {
  const ts = await startTokenServer(opts);
  let reg: Distribution | undefined;
  try {
    reg = await startDistribution({ mode: "bearer", token: ts });
    return await fn(ts, reg);
  } finally {
    await reg?.stop();
    await ts.stop();
  }
}

test("token server: libtrust key id and scope parsing", () => {
  const id = libtrustKeyId(Buffer.from("abc"));
  assert.match(id, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  assert.deepEqual(parseScope("repository:localhost:5000/a/b:push,pull"), { type: "repository", name: "localhost:5000/a/b", actions: ["push", "pull"] });
  assert.deepEqual(parseScope("registry:catalog:*"), { type: "registry", name: "catalog", actions: ["*"] });
  assert.deepEqual(parseScope("repository(plugin):x:pull"), { type: "repository", name: "x", actions: ["pull"] });
  assert.equal(parseScope("nonsense"), undefined);
});

for (const variant of [
  { alg: "ES256", keyRef: "kid" },
  { alg: "RS256", keyRef: "x5c" },
] as const) {
  test(`token server (${variant.alg}, ${variant.keyRef}): challenge → token → 200 from the real registry`, async () => {
    await withBoth({ users: { alice: "alice-pw" }, ...variant }, async (ts, reg) => {
      const ping = await request(`${reg.url}/v2/`);
      await ping.body.dump();
      assert.equal(ping.statusCode, 401);
      const ch = parseChallenge(ping.headers["www-authenticate"]);
      assert.equal(ch.realm, ts.realm);
      assert.equal(ch.service, ts.service);

      const t = await getToken(ts, [], basic("alice", "alice-pw"));
      assert.equal(t.status, 200);
      assert.equal(typeof t.body.token, "string");
      assert.equal(t.body.token, t.body.access_token);
      assert.equal(t.body.expires_in, 300);
      assert.ok(!Number.isNaN(Date.parse(String(t.body.issued_at))));
      const ok = await request(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${t.body.token}` } });
      await ok.body.dump();
      assert.equal(ok.statusCode, 200, reg.logs().slice(-2000));

      // a repository: the challenge names the scope; with the token a missing tag is a 404, not a 401
      const noTok = await request(`${reg.url}/v2/team/app/manifests/latest`);
      await noTok.body.dump();
      assert.equal(noTok.statusCode, 401);
      const scope = parseChallenge(noTok.headers["www-authenticate"]).scope!;
      assert.equal(scope, "repository:team/app:pull");
      const t2 = await getToken(ts, [scope], basic("alice", "alice-pw"));
      const m = await request(`${reg.url}/v2/team/app/manifests/latest`, { headers: { authorization: `Bearer ${t2.body.token}` } });
      await m.body.dump();
      assert.equal(m.statusCode, 404);
      assert.equal(await pushBlob(reg, "team/app", String((await getToken(ts, ["repository:team/app:push,pull"], basic("alice", "alice-pw"))).body.token)), 201);
      assert.equal(ts.counters.count("alice", [scope]), 1);
      assert.equal(ts.counters.get, 3);
    });
  });
}

test("token server: wrong password ⇒ 401, pull-only user cannot push, anonymous grants", async () => {
  await withBoth(
    { users: { alice: "alice-pw", reader: "reader-pw" }, grants: { reader: [{ name: "team/*", actions: ["pull"] }] } },
    async (ts, reg) => {
      const bad = await getToken(ts, ["repository:team/app:pull"], basic("alice", "wrong"));
      assert.equal(bad.status, 401);
      assert.equal(bad.body.token, undefined);
      const unknown = await getToken(ts, [], basic("mallory", "x"));
      assert.equal(unknown.status, 401);
      assert.equal(ts.counters.refused, 2);

      // the reader asks for push,pull and gets only pull
      const rt = await getToken(ts, ["repository:team/app:push,pull"], basic("reader", "reader-pw"));
      assert.equal(rt.status, 200);
      const payload = JSON.parse(Buffer.from(String(rt.body.token).split(".")[1]!, "base64url").toString());
      assert.deepEqual(payload.access, [{ type: "repository", name: "team/app", actions: ["pull"] }]);
      assert.equal(payload.aud, ts.service);
      assert.equal(payload.iss, ts.issuer);
      assert.equal(payload.sub, "reader");
      const status = await pushBlob(reg, "team/app", String(rt.body.token));
      assert.ok(status === 401 || status === 403, `push by a pull-only user answered ${status}`);
      // but the reader can pull
      const m = await request(`${reg.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${rt.body.token}` } });
      await m.body.dump();
      assert.equal(m.statusCode, 404); // NAME_UNKNOWN: authorized, repository empty

      // anonymous: no grants by default ⇒ the token carries no access ⇒ 401; grant pull ⇒ allowed
      const anon = await getToken(ts, ["repository:pub/x:pull"]);
      assert.equal(anon.status, 200);
      const a1 = await request(`${reg.url}/v2/pub/x/tags/list`, { headers: { authorization: `Bearer ${anon.body.token}` } });
      await a1.body.dump();
      assert.equal(a1.statusCode, 401);
      ts.setGrant(null, [{ name: "pub/*", actions: ["pull"] }]);
      const anon2 = await getToken(ts, ["repository:pub/x:pull"]);
      const a2 = await request(`${reg.url}/v2/pub/x/tags/list`, { headers: { authorization: `Bearer ${anon2.body.token}` } });
      await a2.body.dump();
      assert.equal(a2.statusCode, 404);
      assert.equal(ts.counters.count("anonymous", ["repository:pub/x:pull"]), 2);

      // tokens issued "already expired" are refused by the registry with error="invalid_token"
      ts.setIssueExpired(true);
      const stale = await getToken(ts, [], basic("alice", "alice-pw"));
      assert.equal(stale.body.expires_in, 300);
      const s1 = await request(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${stale.body.token}` } });
      await s1.body.dump();
      assert.equal(s1.statusCode, 401);
      assert.match(String(s1.headers["www-authenticate"]), /error="invalid_token"/);
      ts.setIssueExpired(false);
      const fresh = await getToken(ts, [], basic("alice", "alice-pw"));
      const s2 = await request(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${fresh.body.token}` } });
      await s2.body.dump();
      assert.equal(s2.statusCode, 200);
    },
  );
});

test("token server: OAuth2 POST password and refresh_token grants, TTL", async () => {
  const ts = await startTokenServer({ users: { alice: "alice-pw" }, ttlSeconds: 2 });
  try {
    const post = async (form: Record<string, string>) => {
      const r = await request(ts.realm, { method: "POST", body: new URLSearchParams(form).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
      return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
    };
    const pw = await post({ grant_type: "password", username: "alice", password: "alice-pw", service: ts.service, scope: "repository:a:pull repository:b:pull", access_type: "offline", client_id: "t" });
    assert.equal(pw.status, 200);
    assert.equal(pw.body.expires_in, 2);
    assert.equal(typeof pw.body.refresh_token, "string");
    const claims = JSON.parse(Buffer.from(String(pw.body.access_token).split(".")[1]!, "base64url").toString());
    assert.equal(claims.exp - claims.iat, 2);
    assert.equal(claims.access.length, 2);
    const noOffline = await post({ grant_type: "password", username: "alice", password: "alice-pw", service: ts.service });
    assert.equal(noOffline.body.refresh_token, undefined);
    assert.equal((await post({ grant_type: "password", username: "alice", password: "nope" })).status, 401);
    const rf = await post({ grant_type: "refresh_token", refresh_token: String(pw.body.refresh_token), service: ts.service, scope: "repository:a:pull" });
    assert.equal(rf.status, 200);
    assert.equal(JSON.parse(Buffer.from(String(rf.body.token).split(".")[1]!, "base64url").toString()).sub, "alice");
    ts.revokeRefreshTokens();
    assert.equal((await post({ grant_type: "refresh_token", refresh_token: String(pw.body.refresh_token) })).status, 401);
    assert.equal(ts.counters.post, 5);
    assert.equal(ts.counters.log[3]!.grantType, "refresh_token");
    ts.setTokenTtl(60);
    assert.equal((await getToken(ts, [], basic("alice", "alice-pw"))).body.expires_in, 60);
  } finally {
    await ts.stop();
  }
});

test("token server: https realm, single token field, POST disabled", async () => {
  const ts = await startTokenServer({ users: { alice: "alice-pw" }, tls: true, tokenFields: "access_token", disablePost: true });
  try {
    assert.match(ts.realm, /^https:\/\/127\.0\.0\.1:\d+\/token$/);
    const { Agent } = await import("undici");
    const dispatcher = new Agent({ connect: { ca: ts.pki!.caPem } });
    try {
      const r = await request(`${ts.realm}?service=${ts.service}`, { dispatcher, headers: { authorization: basic("alice", "alice-pw") } });
      const body = (await r.body.json()) as Record<string, unknown>;
      assert.equal(r.statusCode, 200);
      assert.equal(body.token, undefined);
      assert.equal(typeof body.access_token, "string");
      const p = await request(ts.realm, { dispatcher, method: "POST", body: "grant_type=password&username=alice&password=alice-pw", headers: { "content-type": "application/x-www-form-urlencoded" } });
      await p.body.dump();
      assert.equal(p.statusCode, 404);
    } finally {
      await dispatcher.close();
    }
    // without the CA the realm is not trusted
    await assert.rejects(request(ts.realm));
  } finally {
    await ts.stop();
  }
});
