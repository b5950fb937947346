import { test } from "node:test";
import assert from "node:assert/strict";
import { TcraneError } from "../src/errors.js";
import {
  allowsHttpFallback,
  familiarName,
  parseReference,
  parseRegistry,
  parseRepository,
  registryScheme,
  scope,
  withDigest,
  withTag,
  type ParseOptions,
} from "../src/reference/index.js";
import { tcrane } from "./harness/tools.js";

const H = "0123456789abcdef".repeat(4); // 64 lower-case hex
const D = `sha256:${H}`;
const DH = "index.docker.io";

/** [input, registry, repository, tag | undefined, digest | undefined, implicitTag?] */
type Good = [string, string, string, string | undefined, string | undefined, boolean?];

const good: Good[] = [
  ["ubuntu", DH, "library/ubuntu", "latest", undefined, true],
  ["ubuntu:22.04", DH, "library/ubuntu", "22.04", undefined],
  ["library/ubuntu", DH, "library/ubuntu", "latest", undefined, true],
  ["docker.io/ubuntu", DH, "library/ubuntu", "latest", undefined, true],
  ["index.docker.io/ubuntu", DH, "library/ubuntu", "latest", undefined, true],
  ["docker.io/library/ubuntu:latest", DH, "library/ubuntu", "latest", undefined, false],
  ["index.docker.io/library/ubuntu:22.04", DH, "library/ubuntu", "22.04", undefined],
  ["docker.io/foo/bar", DH, "foo/bar", "latest", undefined, true],
  ["foo/bar", DH, "foo/bar", "latest", undefined, true],
  ["foo/bar/baz:1", DH, "foo/bar/baz", "1", undefined],
  ["a", DH, "library/a", "latest", undefined, true],
  ["0", DH, "library/0", "latest", undefined, true],
  // localhost: a registry only when followed by a path
  ["localhost", DH, "library/localhost", "latest", undefined, true],
  ["localhost:5000", DH, "library/localhost", "5000", undefined],
  ["registry.example.com:5000", DH, "library/registry.example.com", "5000", undefined],
  ["localhost/foo", "localhost", "foo", "latest", undefined, true],
  ["localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", undefined],
  ["a.b:5000/c", "a.b:5000", "c", "latest", undefined, true],
  ["a.b:5000/c:d", "a.b:5000", "c", "d", undefined],
  ["example.com:443/x", "example.com:443", "x", "latest", undefined, true],
  ["foo.localhost:8080/x", "foo.localhost:8080", "x", "latest", undefined, true],
  ["127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", undefined, true],
  ["10.0.0.1:5000/x:y", "10.0.0.1:5000", "x", "y", undefined],
  // IPv6 hosts
  ["[::1]:5000/a", "[::1]:5000", "a", "latest", undefined, true],
  ["[::1]:5000/a:t", "[::1]:5000", "a", "t", undefined],
  ["[::1]/a", "[::1]", "a", "latest", undefined, true],
  ["[2001:db8::1]:5000/ns/img:v1", "[2001:db8::1]:5000", "ns/img", "v1", undefined],
  // upper case: registry and tag fine
  ["Example.COM/foo", "Example.COM", "foo", "latest", undefined, true],
  ["Example.COM/foo:TAG", "Example.COM", "foo", "TAG", undefined],
  ["gcr.io/project/img:V1.0-RC_1", "gcr.io", "project/img", "V1.0-RC_1", undefined],
  ["gcr.io/google.com/project/img", "gcr.io", "google.com/project/img", "latest", undefined, true],
  ["example.com/a/b/c/d/e:1", "example.com", "a/b/c/d/e", "1", undefined],
  // ggcr validates only the character set of the repository
  ["example.com/a..b", "example.com", "a..b", "latest", undefined, true],
  ["example.com/-a", "example.com", "-a", "latest", undefined, true],
  ["example.com/a__b_c.d-e", "example.com", "a__b_c.d-e", "latest", undefined, true],
  // tags: no leading-character rule, up to 128
  ["ubuntu:-x", DH, "library/ubuntu", "-x", undefined],
  ["ubuntu:.x", DH, "library/ubuntu", ".x", undefined],
  [`ubuntu:${"t".repeat(128)}`, DH, "library/ubuntu", "t".repeat(128), undefined],
  // length: 255 repository characters is the limit
  [`example.com/${"a".repeat(255)}`, "example.com", "a".repeat(255), "latest", undefined, true],
  [`foo/${"a".repeat(251)}`, DH, `foo/${"a".repeat(251)}`, "latest", undefined, true],
  // digests
  [`ghcr.io/o/r@${D}`, "ghcr.io", "o/r", undefined, D],
  [`ubuntu@${D}`, DH, "library/ubuntu", undefined, D],
  [`r:t@${D}`, DH, "library/r", undefined, D],
  [`localhost:5000/a:t@${D}`, "localhost:5000", "a", undefined, D],
  [`docker.io/ubuntu:22.04@${D}`, DH, "library/ubuntu", undefined, D],
  [`[::1]:5000/a@${D}`, "[::1]:5000", "a", undefined, D],
];

/** [input, a fragment of the expected reason] */
const bad: Array<[string, RegExp]> = [
  ["", /must be specified/],
  ["Foo/bar", /repository can only contain/],
  ["example.com/Foo", /repository can only contain/],
  ["UBUNTU", /repository can only contain/],
  ["localhost:5000/A", /repository can only contain/],
  ["ubuntu:", /must specify a tag name after the colon/],
  ["example.com/x:", /must specify a tag name after the colon/],
  [`ubuntu:${"t".repeat(129)}`, /tag must be between 1 and 128/],
  ["ubuntu:ta g", /tag can only contain/],
  ["ubuntu:tag!", /tag can only contain/],
  ["ubuntu:t@g", /digest must be/],
  [`ubuntu@sha512:${H}${H}`, /digest must be "sha256:"/],
  [`ubuntu@sha256:${H.toUpperCase()}`, /digest must be "sha256:"/],
  ["ubuntu@sha256:abc", /digest must be "sha256:"/],
  [`ubuntu@md5:${H}`, /digest must be "sha256:"/],
  [`ubuntu@${D}@${D}`, /exactly one '@'/],
  [`ubuntu:t@${D}:x`, /digest must be/],
  [`example.com/${"a".repeat(256)}`, /repository must be between 1 and 255/],
  [`${"a".repeat(250)}`, /repository must be between 1 and 255/], // "library/" makes it 258
  ["example.com/", /repository must be between/],
  ["x y", /repository can only contain/],
  ["example.com/a b", /repository can only contain/],
  ["a b.com/c", /RFC 3986/],
  ["example.com:port/x", /RFC 3986/],
  ["example.com:50x0/x:1", /RFC 3986/],
  ["[::1:5000/a", /RFC 3986/],
  ["user@example.com/x", /digest must be|RFC 3986/],
  ["exa%41mple.com/x", /RFC 3986/],
  ["a:b:c", /repository can only contain/],
  ["http://example.com/x", /URL scheme/],
  ["https://example.com/x:1", /URL scheme/],
];

test("parseReference: valid references (table)", () => {
  for (const [input, registry, repository, tag, digest, implicit] of good) {
    const r = parseReference(input);
    const context = `${registry}/${repository}`;
    assert.deepEqual(
      { registry: r.registry, repository: r.repository, tag: r.tag, digest: r.digest, context: r.context, original: r.original },
      { registry, repository, tag, digest, context, original: input },
      input,
    );
    assert.equal(r.name, digest ? `${context}@${digest}` : `${context}:${tag}`, input);
    assert.equal(r.implicitTag, implicit ?? false, `${input} implicitTag`);
  }
});

test("parseReference: invalid references (table) throw INVALID_REFERENCE naming the input", () => {
  for (const [input, reason] of bad) {
    assert.throws(
      () => parseReference(input),
      (e: unknown) => {
        assert.ok(e instanceof TcraneError, input);
        assert.equal(e.code, "INVALID_REFERENCE", input);
        assert.equal(e.what, input);
        assert.equal(e.exitCode, 2);
        assert.match(e.message, reason, input);
        return true;
      },
      input,
    );
  }
});

/** [input, options, expected name or an error pattern] */
const strictCases: Array<[string, ParseOptions, string | RegExp]> = [
  ["ubuntu:1", { strict: true }, /registry to be explicitly defined/],
  ["gcr.io/a/b", { strict: true }, /strict validation requires a tag/],
  ["gcr.io/a/b:t", { strict: true }, "gcr.io/a/b:t"],
  ["index.docker.io/foo:t", { strict: true }, /missing 'library'/],
  ["index.docker.io/library/foo:t", { strict: true }, "index.docker.io/library/foo:t"],
  ["docker.io/library/ubuntu:1", { strict: true }, "index.docker.io/library/ubuntu:1"],
  [`gcr.io/a/b@${D}`, { strict: true }, `gcr.io/a/b@${D}`],
  [`ubuntu@${D}`, { strict: true }, /registry to be explicitly defined/],
  ["localhost/testimage:t", { strict: true }, "localhost/testimage:t"],
  ["ubuntu", { defaultRegistry: "gcr.io" }, "gcr.io/ubuntu:latest"],
  ["docker.io/ubuntu", { defaultRegistry: "gcr.io" }, "index.docker.io/library/ubuntu:latest"],
  ["example.com/x", { defaultRegistry: "gcr.io" }, "example.com/x:latest"],
  [`ubuntu:1@${D}`, { defaultRegistry: "gcr.io" }, `gcr.io/ubuntu@${D}`],
  [`ubuntu@${D}`, { defaultRegistry: "myregistry" }, `myregistry/ubuntu@${D}`],
  ["ubuntu", { defaultTag: "stable" }, "index.docker.io/library/ubuntu:stable"],
  ["ubuntu:1", { defaultTag: "stable" }, "index.docker.io/library/ubuntu:1"],
];

test("parseReference: strict mode, defaultRegistry, defaultTag", () => {
  for (const [input, opts, want] of strictCases) {
    if (typeof want === "string") {
      assert.equal(parseReference(input, opts).name, want, `${input} ${JSON.stringify(opts)}`);
    } else {
      assert.throws(() => parseReference(input, opts), want, `${input} ${JSON.stringify(opts)}`);
    }
  }
  assert.equal(parseReference("ubuntu", { defaultTag: "stable" }).implicitTag, true);
});

/** [registry, insecure, scheme] */
const schemeCases: Array<[string, boolean, "http" | "https"]> = [
  ["localhost:5000", false, "http"],
  ["localhost", false, "https"],
  ["127.0.0.1", false, "http"],
  ["127.0.0.1:1234", false, "http"],
  ["127.0.0.1.evil.com", false, "https"],
  ["my127.0.0.1registry.io", false, "https"],
  ["::1", false, "http"],
  ["[::1]:5000", false, "http"],
  ["[2001:db8::1]:5000", false, "https"],
  ["10.2.3.4:5000", false, "http"],
  ["10.256.0.0:5000", false, "https"],
  ["172.16.3.4:3000", false, "http"],
  ["172.31.255.255", false, "http"],
  ["172.15.0.1", false, "https"],
  ["172.32.0.1", false, "https"],
  ["192.168.3.4", false, "http"],
  ["192.169.3.4", false, "https"],
  ["8.8.8.8", false, "https"],
  ["foo.localhost:8080", false, "http"],
  ["foo.svc.localhost", false, "http"],
  ["foo.svc.local:1234", false, "https"],
  ["example.com", false, "https"],
  ["index.docker.io", false, "https"],
  ["example.com", true, "http"],
];

test("registryScheme and allowsHttpFallback follow ggcr Registry.Scheme()", () => {
  for (const [registry, insecure, scheme] of schemeCases) {
    assert.equal(registryScheme(registry, insecure), scheme, `${registry} insecure=${insecure}`);
    assert.equal(allowsHttpFallback(registry, insecure), scheme === "http", registry);
  }
});

test("parseReference: a password typed as userinfo never appears in the error", () => {
  for (const input of ["user:s3cretpw@example.com/x", "user:s3cretpw@localhost:5000/x:1", "u:s3cretpw@h.io/x@y@z", "u:s3cretpw@myhost:5000"]) {
    assert.throws(
      () => parseReference(input),
      (e: unknown) => e instanceof TcraneError && e.code === "INVALID_REFERENCE" && !`${e.what} ${e.message}`.includes("s3cretpw") && e.what!.includes("REDACTED"),
      input,
    );
  }
  // a tag followed by a bad digest is not mistaken for userinfo
  assert.throws(() => parseReference("r:t@sha256:abc"), (e: unknown) => e instanceof TcraneError && e.what === "r:t@sha256:abc");
});

test("parseRepository: REPO arguments", () => {
  assert.deepEqual(parseRepository("ubuntu"), { registry: DH, repository: "library/ubuntu", context: `${DH}/library/ubuntu` });
  assert.deepEqual(parseRepository("localhost:5000/a/b"), { registry: "localhost:5000", repository: "a/b", context: "localhost:5000/a/b" });
  assert.throws(() => parseRepository("ubuntu:latest"), { code: "INVALID_REFERENCE", what: "ubuntu:latest" });
  assert.throws(() => parseRepository("localhost:5000"), /repository can only contain/);
  assert.throws(() => parseRepository("ubuntu", { strict: true }), /explicitly defined/);
});

test("parseRegistry: docker.io alias and authority check", () => {
  assert.equal(parseRegistry("docker.io"), DH);
  assert.equal(parseRegistry("localhost:5000"), "localhost:5000");
  assert.equal(parseRegistry(""), DH);
  assert.throws(() => parseRegistry("a b"), { code: "INVALID_REFERENCE" });
  assert.throws(() => parseRegistry("gcr?com"), /RFC 3986/);
});

test("scope, withTag, withDigest", () => {
  assert.equal(scope("library/ubuntu", ["pull", "push"]), "repository:library/ubuntu:pull,push");
  const r = parseReference(`localhost:5000/a:t@${D}`);
  const t = withTag(r, "v2");
  assert.deepEqual([t.name, t.tag, t.digest, t.implicitTag], ["localhost:5000/a:v2", "v2", undefined, false]);
  assert.throws(() => withTag(r, "bad tag"), { code: "INVALID_REFERENCE" });
  const sha512 = `sha512:${H}${H}`;
  const d = withDigest(parseReference("ubuntu:1"), sha512);
  assert.deepEqual([d.name, d.tag, d.digest], [`${DH}/library/ubuntu@${sha512}`, undefined, sha512]);
  assert.throws(() => withDigest(r, "sha256:xyz"), { code: "INVALID_REFERENCE" });
});

test("familiarName: docker-style short names", () => {
  const cases: Array<[string, string]> = [
    ["ubuntu", "ubuntu:latest"],
    ["docker.io/library/ubuntu:22.04", "ubuntu:22.04"],
    ["index.docker.io/foo/bar:1", "foo/bar:1"],
    ["docker.io/library/a/b", "library/a/b:latest"],
    ["example.com/x:1", "example.com/x:1"],
    ["localhost:5000/a/b", "localhost:5000/a/b:latest"],
    [`ubuntu:1@${D}`, `ubuntu@${D}`],
  ];
  for (const [input, want] of cases) assert.equal(familiarName(parseReference(input)), want, input);
});

test("CLI: tcrane ref --json prints exactly the six fields", async () => {
  const r = await tcrane(["ref", "--json", `localhost:5000/a/b:t@${D}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    registry: "localhost:5000",
    repository: "a/b",
    tag: null,
    digest: D,
    name: `localhost:5000/a/b@${D}`,
    context: "localhost:5000/a/b",
  });
  const j = await tcrane(["ref", "ubuntu", "--json"]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(Object.keys(JSON.parse(j.stdout)), ["registry", "repository", "tag", "digest", "name", "context"]);
  assert.equal(JSON.parse(j.stdout).name, "index.docker.io/library/ubuntu:latest");
  const dk = await tcrane(["ref", "--json", "docker://ghcr.io/o/r:1"]);
  assert.equal(dk.code, 0, dk.stderr);
  assert.equal(JSON.parse(dk.stdout).name, "ghcr.io/o/r:1");
});

test("CLI: tcrane ref text form is one key: value per line", async () => {
  const r = await tcrane(["ref", "localhost:5000/x"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.every((l) => /^[a-z]+: \S/.test(l)), r.stdout);
  assert.ok(lines.includes("registry: localhost:5000"));
  assert.ok(lines.includes("name: localhost:5000/x:latest"));
  assert.ok(lines.includes("scheme: http"));
});

test("CLI: an invalid reference exits 2 with one line naming the input", async () => {
  const r = await tcrane(["ref", "Foo/bar"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^tcrane: Foo\/bar: repository can only contain/);
  const p = await tcrane(["ref", "user:s3cretpw@example.com/x"]);
  assert.equal(p.code, 2);
  assert.doesNotMatch(p.stderr, /s3cretpw/);
  const s = await tcrane(["ref", "--strict", "ubuntu:1"]);
  assert.equal(s.code, 2);
  assert.match(s.stderr, /^tcrane: ubuntu:1: strict validation requires the registry/);
});

test("CLI: tcrane ref --help shows an example", async () => {
  const r = await tcrane(["ref", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Examples:/);
  assert.match(r.stdout, /tcrane ref ubuntu/);
  assert.match(r.stdout, /--strict/);
});

test("parseReference: at least 80 table cases", () => {
  assert.ok(good.length + bad.length + strictCases.length + schemeCases.length >= 80);
});
