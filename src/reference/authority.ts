/**
 * Registry host checks, as go-containerregistry does them: a registry must be a valid RFC 3986
 * authority in the sense of Go's `url.Parse("//" + r).Host == r`, and its scheme (http or https) is
 * decided by ggcr's `Registry.Scheme()` rules.
 */

/** Characters Go's net/url accepts unescaped in a host (encodeHost mode). */
const HOST_CHAR = /^[A-Za-z0-9\-_.~$&'()*+,;=:[\]<>"!]$/;

/** Go `validOptionalPort`: empty, or ":" followed by digits only (an empty port is fine). */
function validOptionalPort(port: string): boolean {
  if (port === "") return true;
  if (port[0] !== ":") return false;
  return /^[0-9]*$/.test(port.slice(1));
}

/**
 * The reason `name` is not a valid registry authority, or undefined when it is one. Emulates
 * `url.Parse("//"+name).Host == name`: no userinfo, path, query, fragment, spaces or escapes; a
 * bracketed IPv6 host may be followed by `:port`; otherwise the text after the last ':' is digits.
 */
export function registryProblem(name: string): string | undefined {
  if (name === "") return undefined;
  const bad = `registries must be valid RFC 3986 URI authorities: ${name}`;
  // Go cuts the authority at '/', '?', '#' and treats '@' as userinfo: Host would then differ.
  if (/[/?#@%]/.test(name)) return bad;
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x80) continue; // Go leaves non-ASCII bytes alone in hosts
    if (!HOST_CHAR.test(ch)) return bad;
  }
  if (name.startsWith("[")) {
    const i = name.lastIndexOf("]");
    if (i < 0) return bad;
    if (!validOptionalPort(name.slice(i + 1))) return bad;
    return undefined;
  }
  const i = name.lastIndexOf(":");
  if (i >= 0 && !validOptionalPort(name.slice(i))) return bad;
  return undefined;
}

/** Parse a strict dotted-decimal IPv4 address (as Go's net.ParseIP: no leading zeros). */
function parseIPv4(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** True when the host part of `registry` (before the first ':') is an RFC 1918 IPv4 address. */
export function isRFC1918(registry: string): boolean {
  const ip = parseIPv4(registry.split(":")[0]!);
  if (!ip) return false;
  const [a, b] = ip as [number, number, number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

const RE_LOCAL = /^.*\.localhost(?::\d{1,5})?$/;
const RE_LOOPBACK = /^127\.0\.0\.1(?::\d{1,5})?$/;
const RE_IPV6_LOOPBACK = /^(::1|\[::1\](?::\d{1,5})?)$/;

/**
 * ggcr `Registry.Scheme()`: "http" when `insecure`, for RFC 1918 IPv4 hosts, `localhost:<port>`,
 * `*.localhost[:port]`, `127.0.0.1[:port]`, `::1` and `[::1][:port]`; "https" for everything else
 * (bare `localhost`, i.e. port 443, is https only).
 */
export function registryScheme(registry: string, insecure = false): "http" | "https" {
  if (insecure) return "http";
  if (isRFC1918(registry)) return "http";
  if (registry.startsWith("localhost:")) return "http";
  if (RE_LOCAL.test(registry)) return "http";
  if (RE_LOOPBACK.test(registry)) return "http";
  if (RE_IPV6_LOOPBACK.test(registry)) return "http";
  return "https";
}

/**
 * True when crane would fall back to plain HTTP for this registry: its scheme is "http", so the
 * ping tries https first and then http; otherwise only https is ever tried.
 */
export function allowsHttpFallback(registry: string, insecure = false): boolean {
  return registryScheme(registry, insecure) === "http";
}
