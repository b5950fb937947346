/**
 * The mirror spec: parsing, validation with file:line:col, destinations, and tag filters (no network).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseSpec, loadSpec, MirrorSpecError, destinationUnder, filterTags, entryItems, tagVersion } from "../src/mirror/index.js";
import { parseRepository } from "../src/reference/index.js";

const testdata = fileURLToPath(new URL("../../testdata/mirror/", import.meta.url));

function specError(text: string, file = "mirror.yaml"): MirrorSpecError {
  try {
    parseSpec(text, file);
  } catch (e) {
    assert.ok(e instanceof MirrorSpecError, `expected MirrorSpecError, got ${String(e)}`);
    assert.equal(e.code, "MALFORMED");
    assert.equal(e.exitCode, 2);
    return e;
  }
  assert.fail("spec was accepted");
}

test("the documented example parses: destinations re-rooted, tags taken as typed, defaults applied", async () => {
  const s = await loadSpec(join(testdata, "example.yaml"));
  assert.equal(s.mirrors.length, 6);
  const [a, b, c, d, e, f] = s.mirrors;
  assert.equal(a!.source.context, "index.docker.io/library/alpine");
  assert.equal(a!.destination.context, "registry.internal:5000/mirror/library/alpine");
  assert.deepEqual(a!.tags, ["3.20", "3.19"]);
  assert.equal(b!.destination.context, "registry.internal:5000/base/alpine");
  assert.equal(b!.semver, ">=3.18 <4");
  assert.equal(b!.newest, 3);
  assert.deepEqual(b!.platforms, [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" }]);
  assert.equal(c!.referrers, true);
  assert.ok(c!.include[0]!.test("1.2") && !c!.include[0]!.test("1.2.3"), "include is anchored");
  assert.ok(c!.exclude[0]!.test("1.3-rc1"));
  assert.deepEqual(d!.tags, ["v2.1.0"], "a tag in source is shorthand for tags");
  assert.equal(d!.digests.length, 1);
  assert.equal(d!.destination.context, "registry.internal:5000/mirror/example/tool", "defaults.target");
  assert.equal(e!.allTags, true);
  assert.deepEqual(
    f!.destinations.map((x) => x.context),
    ["registry-eu.internal:5000/hub/library/busybox", "registry-us.internal:5000/hub/library/busybox"],
    "targets: fan-out to every target, each re-rooted",
  );
  assert.equal(s.defaults.jobs, 4);
  assert.equal(s.defaults.imageJobs, 4);
  assert.equal(s.defaults.retries, 4);
});

test("an unquoted 3.20 is the tag 3.20, not the number 3.2; JSON specs work", () => {
  const y = parseSpec("mirrors:\n  - source: alpine\n    repository: r.example:5000/a\n    tags: [3.20, 010, 3.1e2]\n");
  assert.deepEqual(y.mirrors[0]!.tags, ["3.20", "010", "3.1e2"]);
  const j = parseSpec(JSON.stringify({ mirrors: [{ source: "alpine", target: "r.example:5000", tags: ["3.20"] }] }), "m.json");
  assert.equal(j.mirrors[0]!.destination.context, "r.example:5000/library/alpine");
});

test("every spec error names file:line:col and the field path", async () => {
  const e = await loadSpec(join(testdata, "bad.yaml")).then(
    () => assert.fail("accepted"),
    (err: unknown) => err as MirrorSpecError,
  );
  const lines = e.message.split("\n");
  assert.deepEqual(
    e.issues.map((i) => `${i.line}:${i.col} ${i.path}`),
    ["2:9 defaults.jobs", "3:15 defaults.platforms[0]", "7:13 mirrors[0].semver", "8:13 mirrors[1].source", "11:15 mirrors[1].include[0]", "12:5 mirrors[1].colour", "13:5 mirrors[2]"],
  );
  assert.ok(lines[2]!.endsWith('bad.yaml:7:13: mirrors[0].semver: invalid range ">=banana"'), lines[2]);
  assert.match(lines[4]!, /include\[0\]: invalid regular expression "\(unclosed"/);
  assert.match(lines[5]!, /colour: unknown field/);
  assert.match(lines[6]!, /mirrors\[2\]: selects nothing/);
});

test("structural errors: syntax, missing fields, wrong types, conflicting destinations", () => {
  assert.match(specError("mirrors:\n  - {source: a\n").message, /^mirror\.yaml:\d+:\d+: /);
  assert.equal(specError("- a\n- b\n").message, "mirror.yaml:1:1: the spec must be a mapping with a `mirrors` list (and optional `defaults`)");
  assert.equal(specError("defaults: {jobs: 2}\n").message, "mirror.yaml:1:1: mirrors: missing: the list of repositories to mirror");
  assert.equal(specError("mirrors: []\n").message, "mirror.yaml:1:10: mirrors: must be a non-empty list");
  const m = specError("mirrors:\n  - source: a\n    tags: [x]\n").message;
  assert.equal(m, "mirror.yaml:2:5: mirrors[0]: missing: target (REGISTRY[/PREFIX]), targets or repository (and no defaults.target)");
  assert.equal(
    specError("mirrors:\n  - source: a\n    tags: [x]\n    target: r:5000\n    repository: r:5000/a\n").message,
    "mirror.yaml:5:5: mirrors[0].repository: give either target or repository, not both",
  );
  assert.equal(specError("mirrors:\n  - source: a\n    target: r:5000\n    newest: 0\n").message, "mirror.yaml:4:13: mirrors[0].newest: must be an integer ≥ 1");
  assert.equal(specError("mirrors:\n  - source: a\n    target: r:5000\n    allTags: yes please\n").message, "mirror.yaml:4:14: mirrors[0].allTags: must be true or false");
  assert.equal(specError("mirrors:\n  - source: a\n    target: r:5000\n    digests: [sha256:abc]\n").message, 'mirror.yaml:4:15: mirrors[0].digests[0]: invalid digest "sha256:abc"');
  assert.equal(specError("mirrors:\n  - source: r:5000/a\n    repository: r:5000/a\n    tags: [x]\n").message, "mirror.yaml:3:17: mirrors[0]: source and destination are the same repository (r:5000/a)");
  assert.equal(specError("mirrors:\n  - source: a\n    target: r:5000\n    tags: [\"bad tag\"]\n").message, 'mirror.yaml:4:12: mirrors[0].tags[0]: invalid tag "bad tag"');
});

test("destinationUnder: REGISTRY keeps the repository path, REGISTRY/PREFIX prefixes it", () => {
  const src = parseRepository("docker.io/library/alpine");
  assert.equal(destinationUnder(src, "registry.internal:5000/mirror").context, "registry.internal:5000/mirror/library/alpine");
  assert.equal(destinationUnder(src, "registry.internal:5000/mirror/").context, "registry.internal:5000/mirror/library/alpine");
  assert.equal(destinationUnder(src, "localhost:5000").context, "localhost:5000/library/alpine");
  assert.equal(destinationUnder(parseRepository("ghcr.io/o/app"), "r.example/a/b").context, "r.example/a/b/o/app");
});

const TAGS = ["1.0.0", "1.1.0", "1.2.0", "v1.3.0", "2.0.0-rc1", "2.0.0", "3.20", "3.19", "latest", "stable", "10.0.0", "2.1.0-beta"];
const f = (o: { include?: RegExp[]; exclude?: RegExp[]; semver?: string; newest?: number }) =>
  filterTags({ include: o.include ?? [], exclude: o.exclude ?? [], semver: o.semver, newest: o.newest }, TAGS);

test("tag filters: anchored regexes, strict semver (v prefix yes, two-part no), newest N, combined", () => {
  assert.deepEqual(f({ include: [/^(?:1\..*)$/] }), ["1.0.0", "1.1.0", "1.2.0"]);
  assert.deepEqual(f({ include: [/^(?:\d+\.\d+)$/] }), ["3.20", "3.19"], "include is how two-part tags are picked");
  assert.deepEqual(f({ exclude: [/^(?:.*-.*)$/, /^(?:\D.*)$/] }), ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "3.20", "3.19", "10.0.0"]);
  assert.deepEqual(f({ semver: ">=1.1 <3" }), ["1.1.0", "1.2.0", "v1.3.0", "2.0.0"], "pre-releases and 3.20 are out");
  assert.deepEqual(f({ semver: ">=2.0.0-rc0 <3" }), ["2.0.0-rc1", "2.0.0"], "a range naming a pre-release of 2.0.0 admits it");
  assert.deepEqual(f({ newest: 3 }), ["v1.3.0", "2.0.0", "10.0.0"], "newest by semver, list order kept; non-versions dropped");
  assert.deepEqual(f({ semver: "<2", newest: 2, exclude: [/^(?:v.*)$/] }), ["1.1.0", "1.2.0"]);
  assert.equal(tagVersion("3.20"), null);
  assert.equal(tagVersion("v1.2.3"), "1.2.3");
});

test("entryItems: explicit tags first and unfiltered, then listed ones, digests by digest", () => {
  const s = parseSpec(
    "mirrors:\n  - source: r.example/a:latest\n    target: m.example\n    tags: [\"3.20\"]\n    semver: '>=2'\n    digests: [sha256:" + "a".repeat(64) + "]\n",
  );
  const items = entryItems(s.mirrors[0]!, TAGS);
  assert.deepEqual(
    items.map((i) => `${i.source.name} -> ${i.destination.name}`),
    [
      "r.example/a:3.20 -> m.example/a:3.20",
      "r.example/a:latest -> m.example/a:latest",
      "r.example/a:2.0.0 -> m.example/a:2.0.0",
      "r.example/a:10.0.0 -> m.example/a:10.0.0",
      `r.example/a@sha256:${"a".repeat(64)} -> m.example/a@sha256:${"a".repeat(64)}`,
    ],
  );
});
