/**
 * Docker credential helpers (`docker-credential-<name> get|store|erase`): the server on stdin, JSON
 * `{"ServerURL","Username","Secret"}` on stdout. A helper whose output is exactly
 * `credentials not found in native keychain` has no credentials (not an error). Secrets never appear in
 * an error message.
 */
import { childProcess } from "../builtins.js";
import { TcraneError } from "../errors.js";
import { redactText, registerSecret } from "../redact.js";
import type { Credential } from "./types.js";
import type { Env } from "./config.js";

/** The helper's "no credentials" answer. */
export const NOT_FOUND_MESSAGE = "credentials not found in native keychain";
/** Username a helper returns when the secret is an identity (refresh) token. */
export const TOKEN_USERNAME = "<token>";

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(name: string, verb: string, input: string, env: Env): Promise<HelperResult> {
  const bin = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    let p;
    try {
      p = childProcess().spawn(bin, [verb], { env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
    } catch (e) {
      reject(e);
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => err.push(d));
    p.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") {
        reject(new TcraneError("CREDENTIAL_HELPER", `${bin}: executable file not found in $PATH`, { what: `credential helper ${name}` }));
      } else {
        reject(new TcraneError("CREDENTIAL_HELPER", `${bin}: ${e.code ?? e.message}`, { what: `credential helper ${name}`, cause: e }));
      }
    });
    p.stdin.on("error", () => undefined); // a helper that exits without reading stdin
    p.on("close", (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
    p.stdin.end(input);
  });
}

function failure(name: string, verb: string, r: HelperResult, secrets: (string | undefined)[] = []): TcraneError {
  let text = (r.stdout.trim() || r.stderr.trim()).split("\n")[0] ?? "";
  for (const s of secrets) if (s) text = text.split(s).join("REDACTED");
  if (text.length > 200) text = text.slice(0, 200) + "…";
  const detail = text ? `: ${redactText(text)}` : "";
  return new TcraneError("CREDENTIAL_HELPER", `docker-credential-${name} ${verb} failed (exit ${r.code})${detail}`, {
    what: `credential helper ${name}`,
  });
}

/** `get`: the credential for `server`, or undefined when the helper has none. */
export async function helperGet(name: string, server: string, env: Env = process.env): Promise<Credential | undefined> {
  const r = await exec(name, "get", server, env);
  if (r.stdout.trim() === NOT_FOUND_MESSAGE) return undefined;
  if (r.code !== 0) throw failure(name, "get", r);
  let v: { Username?: unknown; Secret?: unknown };
  try {
    v = JSON.parse(r.stdout) as typeof v;
  } catch {
    throw new TcraneError("CREDENTIAL_HELPER", `docker-credential-${name} get: output is not JSON`, { what: `credential helper ${name}` });
  }
  const username = typeof v.Username === "string" ? v.Username : "";
  const secret = typeof v.Secret === "string" ? v.Secret : "";
  registerSecret(secret);
  if (username === TOKEN_USERNAME) return secret ? { identityToken: secret } : undefined;
  if (!username && !secret) return undefined;
  const c: Credential = {};
  if (username) c.username = username;
  if (secret) c.password = secret;
  return c;
}

/** `store`: save `username`/`secret` for `server` (identity tokens use the `<token>` username). */
export async function helperStore(name: string, server: string, username: string, secret: string, env: Env = process.env): Promise<void> {
  registerSecret(secret);
  const r = await exec(name, "store", JSON.stringify({ ServerURL: server, Username: username, Secret: secret }), env);
  if (r.code !== 0) throw failure(name, "store", r, [secret]);
}

/** `erase`: forget `server`. Returns false when the helper had nothing for it. */
export async function helperErase(name: string, server: string, env: Env = process.env): Promise<boolean> {
  const r = await exec(name, "erase", server, env);
  if (r.stdout.trim() === NOT_FOUND_MESSAGE) return false;
  if (r.code !== 0) throw failure(name, "erase", r);
  return true;
}
