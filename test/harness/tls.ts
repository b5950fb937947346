/**
 * A test CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
 */
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { run } from "./tools.js";

export interface TestPki {
  caCertPath: string;
  caKeyPath: string;
  certPath: string;
  keyPath: string;
  caPem: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run("openssl", args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** Create a CA and a server certificate (SAN localhost, 127.0.0.1, ::1) in `dir`. */
export async function makePki(dir: string, cn = "localhost"): Promise<TestPki> {
  await openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=tcrane test CA"], dir);
  await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${cn}`], dir);
  const ext = join(dir, "san.ext");
  await (await import("node:fs/promises")).writeFile(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
  await openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"], dir);
  return {
    caCertPath: join(dir, "ca.crt"),
    caKeyPath: join(dir, "ca.key"),
    certPath: join(dir, "server.crt"),
    keyPath: join(dir, "server.key"),
    caPem: await readFile(join(dir, "ca.crt"), "utf8"),
  };
}
