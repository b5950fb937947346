/**
 * The web page in a real browser: Debian's chromium (/usr/bin/chromium) driven by playwright-core
 * (which never downloads a browser). The page is loaded from `tcrane registry serve` (the real CLI,
 * memory store) holding a multi-arch image with a signature referrer and a 500-tag repository, and
 * from `tcrane browse` (the real CLI, the user's docker config.json as keychain) over the real
 * distribution registry with htpasswd auth. The tests follow links / → repository → tag → image →
 * layer and compare what is shown with the registry's own answers; check that a label
 * `<img src=x onerror=alert(1)>` renders as text; measure the 500-tag list's render time (reported,
 * not asserted); and check that the browser's requests to `tcrane browse` carry no credential and
 * that no response to the browser holds the password; and that with `registry serve --htpasswd` the
 * browser needs the registry's Basic credentials for the page too.
 *
 * Screenshots go to dist/test-screenshots/ (desktop light, phone width dark); with
 * TCRANE_UPDATE_SCREENSHOTS=1 the desktop one is also written to docs/ui.png (the README's).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { RegistryClient } from "../src/registry/client.js";
import { startBrowse } from "../src/ui/browse.js";
import { streamBytes } from "./fixtures/images.js";
import { startDistribution } from "./harness/distribution.js";
import { requireBinary, run, serveTcrane, tempDir, type Served } from "./harness/tools.js";
import { pushManyTags, pushMultiArch, tarEntries, XSS, type PushedFixture } from "./ui-fixtures.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHOTS = join(ROOT, "dist", "test-screenshots");

let browser: Browser;

before(async () => {
  requireBinary("chromium");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
});

const texts = (page: Page, sel: string) => page.locator(sel).allTextContents();
const attrs = (page: Page, sel: string, name: string) => page.locator(sel).evaluateAll((els, n) => els.map((e) => e.getAttribute(n) ?? ""), name);

/**
 * Walk the page from `/` to the fixture's repository, its tag, the arm64 image and a layer,
 * checking each view against what the registry itself answers through `client`.
 */
async function walk(page: Page, base: string, registry: string, client: RegistryClient, f: PushedFixture): Promise<void> {
  const repo = { registry, repository: f.repo };
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(base);
  await page.waitForSelector("ul.repos li a");
  const catalog = await client.catalog(registry);
  assert.deepEqual(await texts(page, "ul.repos li a"), catalog, "the repository list is the registry's catalog");
  assert.equal(await page.locator("#registry").textContent().then((t) => t?.startsWith(registry)), true);
  // the filter box
  await page.fill("input.filter", f.repo.slice(0, 4));
  assert.deepEqual(
    await texts(page, "ul.repos li a"),
    catalog.filter((r) => r.includes(f.repo.slice(0, 4))),
  );
  await page.click(`ul.repos li a:text-is("${f.repo}")`);

  // the repository: one row per tag, filled in from the manifests
  await page.waitForSelector('[data-state="done"]');
  const tags = await client.listTags(repo);
  assert.deepEqual((await attrs(page, "table.tags tbody tr", "data-tag")).sort(), [...tags].sort());
  const row = page.locator(`table.tags tbody tr[data-tag="${f.tag}"]`);
  const head = await client.headManifest(repo, f.tag);
  assert.equal(await row.locator(".c-digest code").getAttribute("title"), head!.digest);
  assert.equal(await row.locator(".c-mediaType span").getAttribute("data-media-type"), head!.mediaType);
  assert.deepEqual(await row.locator(".c-platforms .pill").allTextContents(), ["linux/amd64", "linux/arm64"]);
  assert.equal(await row.locator(".c-size span").getAttribute("title"), `${[...f.blobs.values()].reduce((a, b) => a + b, 0)} bytes`);
  assert.equal(await row.locator(".c-created time").getAttribute("datetime"), "2024-03-02T11:30:00Z");
  // sortable: by size, both ways
  await page.click('th[data-key="size"] button');
  const sizes = async () =>
    (await attrs(page, "table.tags tbody tr .c-size span", "title")).map((t) => Number(t.split(" ")[0]));
  const up = await sizes();
  assert.deepEqual(up, [...up].sort((a, b) => a - b));
  assert.equal(await page.getAttribute('th[data-key="size"]', "aria-sort"), "ascending");
  await page.click('th[data-key="size"] button');
  const down = await sizes();
  assert.deepEqual(down, [...up].sort((a, b) => b - a));

  // the tag: an index's platforms, its referrers and sha256-….sig tag, copy lines
  await row.locator(".c-tag a").click();
  await page.waitForSelector("table.platforms");
  const index = JSON.parse((await client.getManifest(repo, f.tag)).bytes.toString()) as { manifests: Array<{ digest: string }> };
  assert.deepEqual(await attrs(page, "table.platforms tbody tr", "data-digest"), index.manifests.map((m) => m.digest));
  assert.deepEqual(await texts(page, "table.platforms tbody tr td:first-child"), ["linux/amd64", "linux/arm64"]);
  const refs = await client.referrers(repo, f.indexDigest);
  assert.deepEqual(await attrs(page, "table.referrers tbody tr", "data-digest"), refs.manifests.map((m) => m.digest));
  assert.deepEqual(await texts(page, "table.referrers tbody tr td:first-child"), ["signature"]);
  assert.ok((await texts(page, "ul.digest-tags li code")).includes(f.sigTag));
  const pull = `docker pull ${registry}/${f.repo}@${head!.digest}`;
  assert.ok((await texts(page, ".copyline code")).includes(pull));
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(base).origin });
  await page.click(`.copyline button[data-copy="${pull}"]`);
  assert.equal(await page.evaluate<string>("navigator.clipboard.readText()"), pull, "the copy button copies the pull line");
  assert.ok((await texts(page, ".copyline code")).some((t) => t.startsWith(`tcrane copy ${registry}/${f.repo}@${head!.digest} `)));

  // the arm64 image: layers, config, labels (the XSS one as text), history with the empty layer
  await page.click(`table.platforms tbody tr:nth-child(2) a`);
  await page.waitForSelector("table.layers");
  const img = f.images[1]!;
  const manifest = JSON.parse((await client.getManifest(repo, img.manifestDesc.digest)).bytes.toString()) as { layers: Array<{ digest: string; mediaType: string }>; config: { digest: string } };
  assert.deepEqual(await attrs(page, "table.layers tbody tr", "data-digest"), manifest.layers.map((l) => l.digest));
  assert.deepEqual(await texts(page, "table.layers tbody tr td:nth-child(3)"), manifest.layers.map((l) => l.mediaType));
  const config = JSON.parse((await streamBytes(await client.fetchBlob(repo, { digest: manifest.config.digest }))).toString()) as {
    config: { Labels: Record<string, string>; Env: string[]; User: string };
  };
  const labelRows = await page.locator("table.labels tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(labelRows, Object.entries(config.config.Labels));
  assert.ok(labelRows.some(([, v]) => v === XSS), "the XSS label is shown as its text");
  assert.deepEqual(await texts(page, "ul.env li"), config.config.Env);
  const annotationValues = await texts(page, "table.annotations tbody tr td:nth-child(2)");
  assert.ok(annotationValues.includes(XSS));
  assert.equal(await page.locator("main img").count(), 0, "no <img> element was made from registry text");
  assert.equal(await page.locator("#main [onerror]").count(), 0);
  assert.deepEqual(dialogs, [], "no script ran from registry text");
  assert.deepEqual(await texts(page, "table.history tbody tr.empty td:last-child"), ["empty layer"]);
  assert.equal(await page.locator("table.history tbody tr").count(), 3);

  // a layer: its size as the registry reports it, and the files in it
  await page.click(`table.layers tbody tr:nth-child(2) a`);
  await page.waitForSelector("table.entries");
  const layer = img.layers[1]!;
  const size = await client.headBlob(repo, layer.desc.digest);
  assert.equal(await page.getAttribute(".layer-size", "title"), `${size} bytes`);
  assert.deepEqual(await texts(page, "dl.kv dd code"), [layer.desc.digest, manifest.layers[1]!.mediaType], "digest and the manifest's media type");
  assert.ok((await texts(page, ".copyline code"))[0]!.startsWith(`tcrane blob ${registry}/${f.repo}@${layer.desc.digest} > `));
  const blob = await streamBytes(await client.fetchBlob(repo, { digest: layer.desc.digest }));
  assert.deepEqual(await texts(page, "table.entries tbody tr td:nth-child(3)"), await tarEntries(blob));
  assert.deepEqual(dialogs, []);
}

async function newContext(opts: Parameters<Browser["newContext"]>[0] = {}): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1100, height: 860 }, ...opts });
}

test("registry serve: the page in chromium, from / to a layer, the XSS label as text, 500 tags", async (t) => {
  const served = await serveTcrane(["registry", "serve"]);
  const host = served.line;
  const client = new RegistryClient();
  const context = await newContext();
  try {
    const f = await pushMultiArch(client, host);
    await pushManyTags(client, host, "many/tags", 500);
    const page = await context.newPage();
    await walk(page, `http://${host}/`, host, client, f);

    // the 500-tag repository: every row filled; the render time as the page measured it
    await page.goto(`http://${host}/#repo=many%2Ftags`);
    await page.waitForSelector('[data-state="done"]', { timeout: 60000 });
    assert.equal(await page.locator("table.tags tbody tr").count(), 500);
    assert.equal(await page.locator("table.tags tbody tr .c-digest code").count(), 500);
    const ms = await page.evaluate(() => performance.getEntriesByName("tcrane:tags").at(-1)!.duration);
    t.diagnostic(`500-tag list: ${ms.toFixed(0)} ms from navigation to every row filled (tags, summaries, render)`);
    console.log(`# ui: 500-tag list rendered in ${ms.toFixed(0)} ms`);
    // sort by tag (the sort chosen earlier was by size), then descending, on 500 rows
    await page.click('th[data-key="tag"] button');
    assert.equal(await page.getAttribute('th[data-key="tag"]', "aria-sort"), "ascending");
    assert.equal(await page.locator("table.tags tbody tr").first().getAttribute("data-tag"), "t000");
    await page.click('th[data-key="tag"] button');
    assert.equal(await page.locator("table.tags tbody tr").first().getAttribute("data-tag"), "t499");

    // screenshots: the multi-arch tag at desktop width (light), and phone width in dark mode
    await page.goto(`http://${host}/#repo=${encodeURIComponent(f.repo)}&ref=${f.tag}`);
    await page.waitForSelector("table.referrers");
    await page.screenshot({ path: join(SHOTS, "ui.png") });
    const phone = await newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark", deviceScaleFactor: 1 });
    try {
      const p = await phone.newPage();
      await p.goto(`http://${host}/#repo=${encodeURIComponent(f.repo)}&ref=${f.images[1]!.manifestDesc.digest}`);
      await p.waitForSelector("table.labels");
      const bg = await p.evaluate<string>("getComputedStyle(document.body).backgroundColor");
      assert.equal(bg, "rgb(13, 17, 23)", "dark mode follows prefers-color-scheme");
      const overflow = await p.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
      assert.ok(overflow <= 0, `the page fits a phone's width (${overflow}px too wide); wide tables scroll inside their box`);
      await p.screenshot({ path: join(SHOTS, "ui-phone-dark.png") });
      await p.goto(`http://${host}/#repo=many%2Ftags`);
      await p.waitForSelector('[data-state="done"]', { timeout: 60000 });
      await p.screenshot({ path: join(SHOTS, "ui-phone-dark-tags.png") });
      for (const [hash, ready] of [
        ["", "ul.repos"],
        [`repo=${encodeURIComponent(f.repo)}`, '[data-state="done"]'],
        [`repo=${encodeURIComponent(f.repo)}&ref=${f.tag}`, "table.referrers"],
        [`repo=${encodeURIComponent(f.repo)}&ref=${f.images[0]!.manifestDesc.digest}&layer=${f.images[0]!.layers[0]!.desc.digest}`, "table.entries"],
      ] as const) {
        await p.goto(`http://${host}/#${hash}`);
        await p.waitForSelector(ready);
        const wide = await p.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
        assert.ok(wide <= 0, `#${hash} fits a phone's width (${wide}px too wide)`);
      }
    } finally {
      await phone.close();
    }
    if (process.env.TCRANE_UPDATE_SCREENSHOTS === "1") {
      await mkdir(join(ROOT, "docs"), { recursive: true });
      await copyFile(join(SHOTS, "ui.png"), join(ROOT, "docs", "ui.png"));
    }
  } finally {
    await context.close();
    await client.close();
    assert.equal(await served.stop(), 0);
  }
});

test("tcrane browse over distribution with htpasswd: the same page; the browser never sees a credential", async () => {
  const password = "ui-browse-pw-7d21";
  const dist = await startDistribution({ mode: "basic", users: { carol: password } });
  const { dir, cleanup } = await tempDir("tcrane-ui-browser-");
  const basic = Buffer.from(`carol:${password}`).toString("base64");
  const client = new RegistryClient({ credentials: { username: "carol", password } });
  let served: Served | undefined;
  const context = await newContext();
  try {
    const f = await pushMultiArch(client, dist.host, "shop/web", "3.1");
    await pushMultiArch(client, dist.host, "shop/api", "1.0");
    // the user's keychain: a docker config.json
    await mkdir(join(dir, "docker"));
    await writeFile(join(dir, "docker", "config.json"), JSON.stringify({ auths: { [dist.host]: { auth: basic } } }));
    served = await serveTcrane(["browse", dist.host], { ...process.env, DOCKER_CONFIG: join(dir, "docker"), HOME: dir });
    const url = new URL(served.line);
    assert.equal(url.hostname, "127.0.0.1");

    const page = await context.newPage();
    const requests: Array<{ url: string; headers: Record<string, string> }> = [];
    const bodies: Array<{ url: string; text: string; headers: Record<string, string> }> = [];
    const pending: Array<Promise<void>> = [];
    page.on("request", (r) => requests.push({ url: r.url(), headers: r.headers() }));
    page.on("response", (r) => {
      pending.push(
        r.body().then(
          (b) => void bodies.push({ url: r.url(), text: b.toString("latin1"), headers: r.headers() }),
          () => undefined,
        ),
      );
    });
    await walk(page, served.line, dist.host, client, f);
    await Promise.all(pending);

    assert.ok(requests.length > 10, `${requests.length} requests seen`);
    for (const r of requests) {
      assert.equal(new URL(r.url).host, url.host, `the page asks only tcrane browse: ${r.url}`);
      const h = Object.keys(r.headers).map((k) => k.toLowerCase());
      assert.ok(!h.includes("authorization") && !h.includes("cookie"), `no credential in the request to ${r.url}: ${h.join(", ")}`);
    }
    assert.ok(bodies.length > 10);
    for (const b of bodies) {
      const all = b.text + JSON.stringify(b.headers);
      for (const secret of [password, basic, "Bearer "]) assert.ok(!all.includes(secret), `${b.url} holds no credential or token`);
    }
    assert.doesNotMatch(served.stderr(), new RegExp(password));

    // without credentials: the registry refuses, the page says so (no browser password prompt) and
    // still offers to open a repository by name
    const anon = new RegistryClient();
    const b = await startBrowse({ registry: dist.host, client: anon });
    try {
      const p = await context.newPage();
      await p.goto(b.url);
      await p.waitForSelector("p.error");
      assert.match((await p.textContent("p.error"))!, /catalog could not be listed: .*tcrane auth login/);
      await p.fill("#goto", f.repo);
      await p.click("form button");
      await p.waitForSelector('main[data-route="repository"] p.error');
      assert.match((await p.textContent("main p.error"))!, /tcrane auth login/);
    } finally {
      await b.close();
      await anon.close();
    }
  } finally {
    await context.close();
    if (served) assert.equal(await served.stop(), 0);
    await client.close();
    await dist.stop();
    await cleanup();
  }
});

test("registry serve --htpasswd: the browser needs the registry's Basic credentials for the page too", async () => {
  const { dir, cleanup } = await tempDir("tcrane-ui-browser-");
  let served: Served | undefined;
  try {
    const r = await run("htpasswd", ["-Bbn", "dave", "pw-dave-1"]);
    assert.equal(r.code, 0, r.stderr);
    await writeFile(join(dir, "htpasswd"), r.stdout);
    served = await serveTcrane(["registry", "serve", "--htpasswd", join(dir, "htpasswd")]);
    const host = served.line;
    const client = new RegistryClient({ credentials: { username: "dave", password: "pw-dave-1" } });
    let tags: string[];
    try {
      await pushMultiArch(client, host, "private/app", "1");
      tags = await client.listTags({ registry: host, repository: "private/app" });
    } finally {
      await client.close();
    }
    const anon = await newContext();
    try {
      // chromium with no one to ask for a password gives the navigation up (or shows the 401)
      const outcome = await (await anon.newPage()).goto(`http://${host}/`).then(
        (res) => `status ${res!.status()}`,
        (err: Error) => err.message,
      );
      assert.match(outcome, /status 401|ERR_INVALID_AUTH_CREDENTIALS/);
    } finally {
      await anon.close();
    }
    const authed = await newContext({ httpCredentials: { username: "dave", password: "pw-dave-1" } });
    try {
      const page = await authed.newPage();
      await page.goto(`http://${host}/`);
      await page.waitForSelector("ul.repos li a");
      assert.deepEqual(await texts(page, "ul.repos li a"), ["private/app"]);
      await page.click("ul.repos li a");
      await page.waitForSelector('[data-state="done"]');
      assert.deepEqual((await attrs(page, "table.tags tbody tr", "data-tag")).sort(), tags.sort());
      assert.equal(await page.locator("table.tags td .error").count(), 0, "the page's API calls carried the browser's Basic credentials");
    } finally {
      await authed.close();
    }
  } finally {
    if (served) assert.equal(await served.stop(), 0);
    await cleanup();
  }
});
