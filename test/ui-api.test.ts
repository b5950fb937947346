/**
 * The web page's server side without a browser: the JSON API of `registry serve` (memory, --dir,
 * --from, --htpasswd, --no-ui) and of `tcrane browse` over the real distribution registry with
 * htpasswd auth (keychain from a docker config.json), checked against what the registry itself
 * answers; the page's assets are served with a strict CSP; no credential reaches the browser.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { DockerKeychain } from "../src/auth/keychain.js";
import { RegistryClient } from "../src/registry/client.js";
import { startRegistry } from "../src/server/index.js";
import { allowedHost, startBrowse } from "../src/ui/browse.js";
import type { LayerFiles, LayerInfo, ManifestView, TagSummary } from "../src/ui/views.js";
import { makeImage, makeLayer, pushBlobToRegistry, sha256, writeLayout } from "./fixtures/images.js";
import { startDistribution } from "./harness/distribution.js";
import { run, serveTcrane, tcrane, tempDir } from "./harness/tools.js";
import { platformName, pushMultiArch, tarEntries, XSS, type PushedFixture } from "./ui-fixtures.js";

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const r = await request(url, { headers });
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const r = await get(url, headers);
  assert.equal(r.status, 200, `${url}: ${r.text}`);
  return JSON.parse(r.text) as T;
}

const q = (params: Array<[string, string]>) => new URLSearchParams(params).toString();

/** The checks every source must pass for the pushed fixture, through the JSON API at `base`. */
async function checkFixture(base: string, f: PushedFixture, headers: Record<string, string> = {}): Promise<void> {
  const repos = await getJson<{ repositories: string[] }>(`${base}/ui/api/repositories`, headers);
  assert.ok(repos.repositories.includes(f.repo), JSON.stringify(repos));

  const tags = await getJson<{ tags: string[] }>(`${base}/ui/api/tags?${q([["repo", f.repo]])}`, headers);
  assert.deepEqual(tags.tags.sort(), [f.tag, f.sigTag, `sha256-${f.indexDigest.slice(7)}`].sort());

  const { summaries } = await getJson<{ summaries: TagSummary[] }>(`${base}/ui/api/summaries?${q([["repo", f.repo], ["tag", f.tag], ["tag", f.sigTag]])}`, headers);
  const row = summaries[0]!;
  assert.equal(row.tag, f.tag);
  assert.equal(row.digest, f.indexDigest);
  assert.equal(row.mediaType, "application/vnd.oci.image.index.v1+json");
  assert.deepEqual(row.platforms, ["linux/amd64", "linux/arm64"]);
  assert.equal(row.created, "2024-03-02T11:30:00Z", "the newest config's created");
  const expectedSize =
    f.index.manifest.length + f.images.reduce((a, i) => a + i.manifest.length + i.config.length + i.layers.reduce((b, l) => b + l.blob.length, 0), 0);
  assert.equal(row.size, expectedSize);
  assert.equal(summaries[1]!.digest, f.sigTagDigest);

  const index = await getJson<ManifestView>(`${base}/ui/api/manifest?${q([["repo", f.repo], ["ref", f.tag]])}`, headers);
  assert.equal(index.kind, "index");
  assert.equal(index.digest, f.indexDigest);
  assert.equal(index.totalSize, expectedSize);
  assert.deepEqual(
    index.manifests!.map((m) => [m.platform, m.digest]),
    f.images.map((i) => [platformName(i), i.manifestDesc.digest]),
  );
  assert.equal(index.referrers.length, 1, JSON.stringify(index.referrers));
  assert.equal(index.referrers[0]!.digest, f.signatureDigest);
  assert.equal(index.referrers[0]!.kind, "signature");
  assert.deepEqual(
    index.digestTags.map((t) => [t.tag, t.kind]).sort(),
    [
      [f.sigTag, "signature"],
      [`sha256-${f.indexDigest.slice(7)}`, "referrers"],
    ].sort(),
  );
  assert.deepEqual(JSON.parse(index.raw), JSON.parse(f.index.manifest.toString()));

  const img = f.images[1]!;
  const child = await getJson<ManifestView>(`${base}/ui/api/manifest?${q([["repo", f.repo], ["ref", img.manifestDesc.digest]])}`, headers);
  assert.equal(child.kind, "image");
  assert.deepEqual(
    child.layers!.map((l) => [l.digest, l.size, l.mediaType]),
    img.layers.map(({ desc: l }) => [l.digest, l.size, l.mediaType]),
  );
  assert.equal(child.configDescriptor!.digest, img.configDesc.digest);
  const c = child.config!;
  assert.equal(c.platform, "linux/arm64");
  assert.equal(c.user, "1000:1000");
  assert.deepEqual(c.entrypoint, ["/bin/app"]);
  assert.deepEqual(c.cmd, ["--serve", "--port=8080"]);
  assert.deepEqual(c.env, ["PATH=/usr/local/bin:/usr/bin", "ARCH=arm64"]);
  assert.equal(c.labels["evil.label"], XSS, "served as the registry's text; the page escapes it");
  assert.equal(child.annotations!["evil.annotation"], XSS);
  assert.deepEqual(
    c.history.map((h) => [h.empty, h.layer]),
    [
      [false, img.layers[0]!.desc.digest],
      [true, undefined],
      [false, img.layers[1]!.desc.digest],
    ],
  );

  const layer = img.layers[1]!;
  const files = await getJson<LayerFiles>(`${base}/ui/api/layer?${q([["repo", f.repo], ["digest", layer.desc.digest]])}`, headers);
  assert.equal(files.compression, "gzip");
  assert.deepEqual(
    files.entries.map((e) => e.path),
    await tarEntries(layer.blob),
  );
  assert.equal(files.truncated, false);

  const info = await getJson<LayerInfo>(`${base}/ui/api/blob-info?${q([["repo", f.repo], ["digest", layer.desc.digest], ["ref", img.manifestDesc.digest]])}`, headers);
  assert.deepEqual(info, { digest: layer.desc.digest, size: layer.blob.length, descriptor: { digest: layer.desc.digest, size: layer.blob.length, mediaType: img.layers[1]!.desc.mediaType } });
  const gone = await get(`${base}/ui/api/blob-info?${q([["repo", f.repo], ["digest", `sha256:${"0".repeat(64)}`]])}`, headers);
  assert.equal(gone.status, 404);

  const blob = await request(`${base}/ui/api/blob?${q([["repo", f.repo], ["digest", layer.desc.digest]])}`, { headers });
  assert.equal(blob.statusCode, 200);
  assert.match(String(blob.headers["content-disposition"]), /^attachment/);
  assert.equal(sha256(Buffer.from(await blob.body.arrayBuffer())), layer.desc.digest);

  const missing = await get(`${base}/ui/api/manifest?${q([["repo", f.repo], ["ref", "nope"]])}`, headers);
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.text).error, /./);
  const bad = await get(`${base}/ui/api/manifest?${q([["repo", "../etc"], ["ref", "x"]])}`, headers);
  assert.equal(bad.status, 400);
}

test("registry serve: the page and its API at /, the distribution API unchanged at /v2/", async () => {
  const reg = await startRegistry();
  const client = new RegistryClient();
  try {
    const f = await pushMultiArch(client, reg.host);
    const page = await get(`${reg.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(page.text, /<script src="ui\/app\.js" defer><\/script>/);
    assert.match(String(page.headers["content-security-policy"]), /script-src 'self'/);
    assert.doesNotMatch(page.text, /https?:\/\//, "no CDN, fonts or analytics");
    for (const [name, type] of [
      ["app.js", /javascript/],
      ["app.css", /css/],
      ["icon.svg", /svg/],
    ] as const) {
      const a = await get(`${reg.url}/ui/${name}`);
      assert.equal(a.status, 200, name);
      assert.match(String(a.headers["content-type"]), type);
      assert.doesNotMatch(a.text, /https?:\/\/(?!www\.w3\.org)/, `${name} loads nothing from elsewhere`);
    }
    assert.equal((await get(`${reg.url}/ui/nope.js`)).status, 404);
    const js = await get(`${reg.url}/ui/app.js`);
    const css = await get(`${reg.url}/ui/app.css`);
    const kib = (Buffer.byteLength(js.text) + Buffer.byteLength(css.text)) / 1024;
    assert.ok(kib < 64, `JS and CSS together stay well under 100 KiB (${kib.toFixed(1)} KiB)`);
    assert.doesNotMatch(js.text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, "registry text never becomes markup");
    const info = await getJson<{ registry: string; mode: string }>(`${reg.url}/ui/api/info`);
    assert.deepEqual(info, { registry: reg.host, mode: "serve" });
    const post = await request(`${reg.url}/ui/api/repositories`, { method: "POST", body: "x" });
    assert.equal(post.statusCode, 405);
    await post.body.dump();
    // the distribution API is untouched
    const v2 = await get(`${reg.url}/v2/`);
    assert.equal(v2.status, 200);
    assert.equal(v2.text, "{}");
    const cat = await getJson<{ repositories: string[] }>(`${reg.url}/v2/_catalog`);
    assert.deepEqual(cat.repositories, [f.repo]);
    await checkFixture(reg.url, f);

    // a layer listing stops at `max`; a blob that is not a tar says so
    const many = await makeLayer({ files: [1, 2, 3].map((i) => ({ name: `dir/f${i}.txt`, data: `file ${i}` })) });
    await pushBlobToRegistry(client, { registry: reg.host, repository: f.repo }, many.desc, many.blob);
    const two = await getJson<LayerFiles>(`${reg.url}/ui/api/layer?${q([["repo", f.repo], ["digest", many.desc.digest], ["max", "2"]])}`);
    assert.deepEqual([two.entries.map((e) => e.path), two.truncated], [["dir/f1.txt", "dir/f2.txt"], true]);
    const sig = await getJson<ManifestView>(`${reg.url}/ui/api/manifest?${q([["repo", f.repo], ["ref", f.signatureDigest]])}`);
    assert.equal(sig.artifactType, "application/vnd.dev.cosign.artifact.sig.v1+json");
    assert.equal(sig.subject!.digest, f.indexDigest);
    assert.equal(sig.config, undefined, "an empty config is not an image config");
    const notTar = await get(`${reg.url}/ui/api/layer?${q([["repo", f.repo], ["digest", sig.layers![0]!.digest]])}`);
    assert.equal(notTar.status, 502);
    assert.match(JSON.parse(notTar.text).error, /not a tar layer/);
  } finally {
    await client.close();
    await reg.close();
  }
});

test("registry serve --dir and --from: the page reads the same stores", async () => {
  const { dir, cleanup } = await tempDir("tcrane-ui-");
  try {
    const reg = await startRegistry({ dir: join(dir, "layout") });
    const client = new RegistryClient();
    let f: PushedFixture;
    try {
      f = await pushMultiArch(client, reg.host, "team/svc", "2.0");
      await checkFixture(reg.url, f);
    } finally {
      await client.close();
      await reg.close();
    }
    // the layout the --dir store wrote, served read-only as a bundle
    const ro = await startRegistry({ from: join(dir, "layout") });
    try {
      const repos = await getJson<{ repositories: string[] }>(`${ro.url}/ui/api/repositories`);
      assert.ok(repos.repositories.length >= 1, JSON.stringify(repos));
    } finally {
      await ro.close();
    }
    const bundleDir = join(dir, "bundle");
    const img = await makeImage({ layers: [1000] });
    await writeLayout(bundleDir, [{ node: img, annotations: { "io.containerd.image.name": "docker.io/library/busybox:1.36" } }]);
    const from = await startRegistry({ from: bundleDir });
    try {
      const repos = await getJson<{ repositories: string[] }>(`${from.url}/ui/api/repositories`);
      assert.deepEqual(repos.repositories, ["busybox"]);
      const { summaries } = await getJson<{ summaries: TagSummary[] }>(`${from.url}/ui/api/summaries?${q([["repo", "busybox"], ["tag", "1.36"]])}`);
      assert.equal(summaries[0]!.digest, img.manifestDesc.digest);
      assert.equal(summaries[0]!.size, img.manifest.length + img.config.length + img.layers[0]!.blob.length);
      assert.deepEqual(summaries[0]!.platforms, ["linux/amd64"]);
      assert.equal(summaries[0]!.created, "2024-01-01T00:00:00Z");
    } finally {
      await from.close();
    }
  } finally {
    await cleanup();
  }
});

test("registry serve --htpasswd: the page is behind the same Basic auth; ui: false turns the page off", async () => {
  const { dir, cleanup } = await tempDir("tcrane-ui-");
  const reg = await (async () => {
    const r = await run("htpasswd", ["-Bbn", "alice", "s3cret"]);
    assert.equal(r.code, 0, r.stderr);
    await writeFile(join(dir, "htpasswd"), r.stdout);
    return startRegistry({ htpasswd: join(dir, "htpasswd") });
  })();
  const off = await startRegistry({ ui: false });
  try {
    for (const path of ["/", "/ui/app.js", "/ui/api/repositories"]) {
      const r = await get(`${reg.url}${path}`);
      assert.equal(r.status, 401, path);
      assert.match(String(r.headers["www-authenticate"]), /^Basic realm=/);
      const wrong = await get(`${reg.url}${path}`, { authorization: `Basic ${Buffer.from("alice:nope").toString("base64")}` });
      assert.equal(wrong.status, 401, path);
    }
    const auth = { authorization: `Basic ${Buffer.from("alice:s3cret").toString("base64")}` };
    assert.equal((await get(`${reg.url}/`, auth)).status, 200);
    assert.deepEqual(await getJson(`${reg.url}/ui/api/repositories`, auth), { repositories: [] });

    for (const path of ["/", "/ui/app.js", "/ui/api/repositories"]) assert.equal((await get(`${off.url}${path}`)).status, 404, path);
    assert.equal((await get(`${off.url}/v2/`)).status, 200);
  } finally {
    await reg.close();
    await off.close();
    await cleanup();
  }
});

test("browse over distribution with htpasswd: the keychain's credentials stay in tcrane; catalog pages are followed", async () => {
  const password = "browse-pw-9f3c1";
  const dist = await startDistribution({ mode: "basic", users: { bob: password } });
  const { dir, cleanup } = await tempDir("tcrane-ui-");
  const auth = Buffer.from(`bob:${password}`).toString("base64");
  await mkdir(join(dir, "docker"));
  await writeFile(join(dir, "docker", "config.json"), JSON.stringify({ auths: { [dist.host]: { auth } } }));
  const client = new RegistryClient({ keychain: new DockerKeychain({ env: { DOCKER_CONFIG: join(dir, "docker"), HOME: dir } }) });
  // a page of 2 repositories per catalog request: 4 repositories need 2+ pages
  const b = await startBrowse({ registry: dist.host, client, pageSize: 2 });
  try {
    const f = await pushMultiArch(client, dist.host, "demo/app", "v1");
    for (const extra of ["aaa", "zzz/last", "mid"]) await pushMultiArch(client, dist.host, extra, "1");
    const info = await getJson<{ registry: string; mode: string }>(`${b.url}ui/api/info`);
    assert.deepEqual(info, { registry: dist.host, mode: "browse" });
    const repos = await getJson<{ repositories: string[] }>(`${b.url}ui/api/repositories`);
    assert.deepEqual(repos.repositories, ["aaa", "demo/app", "mid", "zzz/last"]);
    assert.match(dist.logs(), /_catalog\?last=/, "the registry was asked for a second page");
    await checkFixture(b.url.replace(/\/$/, ""), f);

    // nothing the browser can reach carries the password or the Basic credential
    for (const path of ["", "ui/app.js", "ui/api/info", "ui/api/repositories", `ui/api/manifest?${q([["repo", f.repo], ["ref", f.tag]])}`]) {
      const r = await get(`${b.url}${path}`);
      const all = r.text + JSON.stringify(r.headers);
      assert.ok(!all.includes(password) && !all.includes(auth), path);
    }
    // another Host header (DNS rebinding) is refused
    const rebound = await get(`${b.url}ui/api/repositories`, { host: `evil.example:${new URL(b.url).port}` });
    assert.equal(rebound.status, 421);

    // without credentials the registry refuses, and the page says so (403, never a 401 prompt)
    const anon = new RegistryClient();
    const b2 = await startBrowse({ registry: dist.host, client: anon });
    try {
      const r = await get(`${b2.url}ui/api/repositories`);
      assert.equal(r.status, 403, r.text);
      assert.equal(r.headers["www-authenticate"], undefined);
      assert.match(JSON.parse(r.text).error, /tcrane auth login/);
    } finally {
      await b2.close();
      await anon.close();
    }
  } finally {
    await b.close();
    await client.close();
    await dist.stop();
    await cleanup();
  }
});

test("browse's Host check: its own address and localhost at its port; on a wildcard address any IP literal, never a name", () => {
  const table: Array<[host: string, listening: string, wildcard: boolean, ok: boolean]> = [
    ["127.0.0.1:8080", "127.0.0.1:8080", false, true],
    ["LOCALHOST:8080", "127.0.0.1:8080", false, true],
    ["[::1]:8080", "127.0.0.1:8080", false, true],
    ["evil.example:8080", "127.0.0.1:8080", false, false],
    ["127.0.0.5:8080", "127.0.0.1:8080", false, false],
    ["localhost:9090", "127.0.0.1:8080", false, false],
    ["", "127.0.0.1:8080", false, false],
    ["192.0.2.7:8080", "0.0.0.0:8080", true, true],
    ["[2001:db8::7]:8080", "[::]:8080", true, true],
    ["localhost:8080", "0.0.0.0:8080", true, true],
    ["evil.example:8080", "0.0.0.0:8080", true, false],
    ["myhost.lan:8080", "0.0.0.0:8080", true, false],
    ["192.0.2.7:9090", "0.0.0.0:8080", true, false],
    ["192.0.2.7", "0.0.0.0:8080", true, false],
  ];
  for (const [host, listening, wildcard, ok] of table) assert.equal(allowedHost(host, listening, wildcard), ok, `${host} at ${listening}${wildcard ? " (wildcard)" : ""}`);
});

test("the command line: tcrane browse prints the page's URL (at a repository), bad input exits 2; registry serve --no-ui", async () => {
  const reg = await startRegistry();
  const client = new RegistryClient();
  try {
    await pushMultiArch(client, reg.host, "demo/app", "v1");
    const b = await serveTcrane(["browse", `${reg.host}/demo/app:v1`]);
    try {
      const url = new URL(b.line);
      assert.equal(url.hostname, "127.0.0.1");
      assert.equal(url.hash, "#repo=demo%2Fapp");
      assert.match(b.stderr(), /browsing 127\.0\.0\.1:\d+ at http:\/\/127\.0\.0\.1:\d+\/#repo=demo%2Fapp/);
      assert.deepEqual(await getJson(`${url.origin}/ui/api/info`), { registry: reg.host, mode: "browse" });
      const tags = await getJson<{ tags: string[] }>(`${url.origin}/ui/api/tags?repo=demo%2Fapp`);
      assert.ok(tags.tags.includes("v1"));
    } finally {
      assert.equal(await b.stop(), 0);
    }
  } finally {
    await client.close();
    await reg.close();
  }
  const bad = await tcrane(["browse", "Not A Registry!"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^tcrane: .+\n$/);
  const addr = await tcrane(["browse", "localhost:5000", "--address", "nonsense"]);
  assert.equal(addr.code, 2, addr.stderr);
  assert.match(addr.stderr, /^tcrane: nonsense: address must be HOST:PORT/);

  const off = await serveTcrane(["registry", "serve", "--no-ui"]);
  try {
    assert.equal((await get(`http://${off.line}/`)).status, 404);
    assert.equal((await get(`http://${off.line}/v2/`)).status, 200);
    assert.doesNotMatch(off.stderr(), /web page/);
  } finally {
    assert.equal(await off.stop(), 0);
  }
  const on = await serveTcrane(["registry", "serve"]);
  try {
    assert.equal((await get(`http://${on.line}/`)).status, 200);
    assert.match(on.stderr(), new RegExp(`web page at http://${on.line.replace(/\./g, "\\.")}/`));
  } finally {
    assert.equal(await on.stop(), 0);
  }
});
