import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TcraneError, VerificationError } from "../src/errors.js";
import { digestOf, isDigest, parseDigest, verifier, VerifyingStream, type VerifyOptions } from "../src/image/digest.js";

const H64 = "a".repeat(64);
const H128 = "b".repeat(128);

/** Push `chunks` through a verifying stream; resolve to the bytes that came out. */
async function pump(chunks: Buffer[], opts: VerifyOptions): Promise<{ out: Buffer; v: VerifyingStream }> {
  const v = new VerifyingStream(opts);
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    v,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return { out: Buffer.concat(out), v };
}

test("parseDigest: sha256 and sha512", () => {
  assert.deepEqual(parseDigest(`sha256:${H64}`), { algorithm: "sha256", hex: H64 });
  assert.deepEqual(parseDigest(`sha512:${H128}`), { algorithm: "sha512", hex: H128 });
  assert.equal(isDigest(`sha256:${H64}`), true);
  assert.equal(isDigest(`sha512:${H128}`), true);
});

test("parseDigest: bad forms throw INVALID_DIGEST naming the input", () => {
  const bad = [
    "",
    "sha256",
    ":abc",
    H64,
    `sha256:${H64.slice(1)}`,
    `sha256:${H64}0`,
    `sha256:${H64.toUpperCase()}`,
    `sha256:${"g".repeat(64)}`,
    `sha512:${H64}`,
    `sha384:${"c".repeat(96)}`,
    `md5:${"d".repeat(32)}`,
    `SHA256:${H64}`,
    ` sha256:${H64}`,
  ];
  for (const d of bad) {
    assert.throws(
      () => parseDigest(d),
      (e: unknown) => e instanceof TcraneError && e.code === "INVALID_DIGEST" && e.what === d && e.exitCode === 2,
      JSON.stringify(d),
    );
    assert.equal(isDigest(d), false, d);
  }
});

test("digestOf matches node:crypto for sha256 and sha512", () => {
  const data = randomBytes(1000);
  assert.equal(digestOf(data), `sha256:${createHash("sha256").update(data).digest("hex")}`);
  assert.equal(digestOf(data, "sha512"), `sha512:${createHash("sha512").update(data).digest("hex")}`);
  assert.equal(digestOf("{}"), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
});

test("VerifyingStream passes good data unchanged and records digest and size", async () => {
  const data = randomBytes(300_000);
  const chunks = [data.subarray(0, 1), data.subarray(1, 70_000), data.subarray(70_000)];
  const { out, v } = await pump(chunks, { digest: digestOf(data), size: data.length });
  assert.ok(out.equals(data));
  assert.equal(v.bytes, data.length);
  assert.equal(v.digest, digestOf(data));
  const s512 = await pump([data], { digest: digestOf(data, "sha512") });
  assert.equal(s512.v.digest, digestOf(data, "sha512"));
  const sizeOnly = await pump([data], { size: data.length });
  assert.equal(sizeOnly.v.digest, digestOf(data));
  const empty = await pump([], { digest: digestOf(""), size: 0 });
  assert.equal(empty.out.length, 0);
});

test("VerifyingStream fails on a digest mismatch", async () => {
  const data = Buffer.from("hello world");
  const wrong = digestOf("hello worle");
  await assert.rejects(pump([data], { digest: wrong, size: data.length, what: "blob x" }), (e: unknown) => {
    assert.ok(e instanceof VerificationError);
    assert.equal(e.code, "DIGEST_MISMATCH");
    assert.equal(e.expected, wrong);
    assert.equal(e.actual, digestOf(data));
    assert.equal(e.what, "blob x");
    assert.equal(e.exitCode, 1);
    return true;
  });
});

test("VerifyingStream fails on short data", async () => {
  const data = Buffer.from("short");
  await assert.rejects(pump([data], { digest: digestOf("short!"), size: 6 }), (e: unknown) => {
    assert.ok(e instanceof VerificationError);
    assert.equal(e.code, "SIZE_MISMATCH");
    assert.equal(e.expected, "6");
    assert.equal(e.actual, "5");
    return true;
  });
});

test("VerifyingStream fails on trailing data (more than size) as soon as it arrives", async () => {
  const data = Buffer.from("0123456789");
  const tail = Buffer.alloc(1 << 16);
  let after = 0;
  const source = Readable.from(
    (async function* () {
      yield data;
      yield Buffer.from("X");
      // the stream must fail before the source is drained
      for (let i = 0; i < 100; i++) {
        after++;
        yield tail;
      }
    })(),
  );
  const v = verifier({ digest: digestOf(data), size: data.length });
  await assert.rejects(
    pipeline(source, v, new Writable({ write: (_c, _e, cb) => cb() })),
    (e: unknown) => e instanceof VerificationError && e.code === "SIZE_MISMATCH" && /more than 10/.test(e.message),
  );
  assert.ok(after < 100, `source was drained (${after})`);
});

test("VerifyingStream rejects an invalid expected digest up front", () => {
  assert.throws(() => new VerifyingStream({ digest: "sha256:nope" }), { code: "INVALID_DIGEST" });
});
