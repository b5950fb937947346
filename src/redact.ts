/**
 * The one redaction helper used by every log, verbose line and error message.
 * Authorization headers, tokens, passwords, `auth` fields and URL userinfo are never printed.
 */

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-registry-auth)$/i;
const SECRET_QUERY = /^(password|token|access_token|refresh_token|secret|client_secret|x-amz-signature|x-amz-credential|x-amz-security-token|sig|signature|x-goog-signature|x-goog-credential|_state)$/i;
const SECRET_JSON_KEY = /^(auth|password|secret|token|access_token|refresh_token|identitytoken|registrytoken|identity_token|registry_token)$/i;

/** Secrets registered at run time (passwords from flags, tokens fetched): scrubbed from any text. */
const knownSecrets = new Set<string>();

/** Register a secret value so that `redactText` removes it wherever it appears. Ignores short values. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) {
    knownSecrets.add(value);
    // also its base64 forms, which appear in Basic headers and config files
    knownSecrets.add(Buffer.from(value).toString("base64"));
  }
}

/** Remove userinfo and secret query parameters from a URL string. Non-URLs are returned scrubbed. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return redactText(String(url));
  }
  if (u.username || u.password) {
    u.username = "";
    u.password = "";
  }
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_QUERY.test(key)) u.searchParams.set(key, "REDACTED");
  }
  return redactText(u.toString());
}

/** Copy of headers with secret values replaced. Accepts a plain object or undici's header record. */
export function redactHeaders(
  headers: Record<string, string | string[] | undefined> | undefined,
): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (SECRET_HEADER.test(k)) {
      const scheme = typeof v === "string" ? v.split(" ")[0] : "";
      out[k] = scheme && scheme !== v ? `${scheme} REDACTED` : "REDACTED";
    } else if (k.toLowerCase() === "location" && typeof v === "string") {
      out[k] = redactUrl(v);
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Deep copy of a JSON-like value with secret fields replaced. */
export function redactJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_JSON_KEY.test(k) && typeof v === "string" && v !== "" ? "REDACTED" : redactJson(v);
    }
    return out;
  }
  return typeof value === "string" ? redactText(value) : value;
}

/** Scrub free text: Authorization values, Basic/Bearer credentials, URL userinfo and known secrets. */
export function redactText(text: string): string {
  let out = text
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{4,}/g, "$1 REDACTED")
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]*:[^/\s@]*@/gi, "$1")
    .replace(/("(?:auth|password|secret|token|access_token|refresh_token|identitytoken|registrytoken)"\s*:\s*)"[^"]*"/gi, '$1"REDACTED"');
  for (const s of knownSecrets) {
    if (out.includes(s)) out = out.split(s).join("REDACTED");
  }
  return out;
}
