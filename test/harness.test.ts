import { test } from "node:test";
import assert from "node:assert/strict";
import { request, Agent } from "undici";
import { startDistribution } from "./harness/distribution.js";

test("harness: the real distribution registry starts anonymous and with TLS", async () => {
  const reg = await startDistribution();
  try {
    const r = await request(`${reg.url}/v2/`);
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  } finally {
    await reg.stop();
  }
  const tls = await startDistribution({ mode: "tls" });
  try {
    const r = await request(`${tls.url}/v2/`, { dispatcher: new Agent({ connect: { ca: tls.pki!.caPem } }) });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  } finally {
    await tls.stop();
  }
});

test("harness: htpasswd mode answers 401 with a Basic challenge", async () => {
  const reg = await startDistribution({ mode: "basic" });
  try {
    const r = await request(`${reg.url}/v2/`);
    assert.equal(r.statusCode, 401);
    assert.match(String(r.headers["www-authenticate"]), /^Basic realm=/);
    await r.body.dump();
    const ok = await request(`${reg.url}/v2/`, { headers: { authorization: "Basic " + Buffer.from("tcrane:tcrane-password").toString("base64") } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
  } finally {
    await reg.stop();
  }
});
