/**
 * `WWW-Authenticate` parsing (RFC 7235 challenges as registries send them) and token-scope helpers.
 *
 * Unlike distribution's `authchallenge` (which stops at the first empty quoted value), this parser
 * keeps empty values (`service=""`) as containerd does, understands several challenges in one header
 * line (`Basic realm="a", Bearer realm="b"`), and quoted strings with `\` escapes.
 */

/** One authentication challenge: lower-cased scheme and lower-cased parameter names. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parse one or several `WWW-Authenticate` header values into challenges, in order. Malformed input
 * ends the parse of that header line (what was parsed so far is kept).
 */
export function parseChallenges(headers: string | string[] | undefined): Challenge[] {
  if (headers === undefined) return [];
  const lines = Array.isArray(headers) ? headers : [headers];
  const out: Challenge[] = [];
  for (const line of lines) out.push(...parseLine(line));
  return out;
}

function parseLine(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = s.length;
  const skipWs = () => {
    while (i < n && (s[i] === " " || s[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipWs();
    while (i < n && s[i] === ",") {
      i++;
      skipWs();
    }
    if (i >= n) break;
    const start = i;
    const tok = readToken();
    if (!tok) break; // malformed
    skipWs();
    if (s[i] === "=" && current) {
      // key=value (also token68-ish values with trailing '=' are tolerated below)
      i++;
      skipWs();
      let value: string;
      if (s[i] === '"') {
        i++;
        let v = "";
        let closed = false;
        while (i < n) {
          const c = s[i]!;
          if (c === "\\" && i + 1 < n) {
            v += s[i + 1];
            i += 2;
          } else if (c === '"') {
            i++;
            closed = true;
            break;
          } else {
            v += c;
            i++;
          }
        }
        if (!closed) break;
        value = v;
      } else {
        const vs = i;
        while (i < n && s[i] !== "," && s[i] !== " " && s[i] !== "\t") i++;
        value = s.slice(vs, i);
      }
      current.params[tok.toLowerCase()] = value;
      skipWs();
      if (i < n && s[i] !== ",") {
        // junk after a value: stop this line
        break;
      }
      continue;
    }
    if (s[i] === "=" && !current) break; // parameter before any scheme
    // a new scheme
    i = start + tok.length;
    current = { scheme: tok.toLowerCase(), params: {} };
    out.push(current);
    skipWs();
    // token68 form (e.g. `Negotiate abc==`): a token followed by '='* and then end/comma
    const save = i;
    const t68 = /^[A-Za-z0-9\-._~+/]+=*/.exec(s.slice(i));
    if (t68) {
      const after = s.slice(i + t68[0].length).trimStart();
      if (t68[0].endsWith("=") && (after === "" || after.startsWith(","))) {
        current.params["token68"] = t68[0];
        i += t68[0].length;
        continue;
      }
    }
    i = save;
  }
  return out;
}

/** ggcr's pick: the first challenge whose scheme is basic or bearer, else the first one. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === "basic" || c.scheme === "bearer") ?? challenges[0];
}

/** Split a scope string of a challenge (space separated) into scopes. */
export function splitScopes(scope: string | undefined): string[] {
  return (scope ?? "").split(/\s+/).filter((s) => s !== "");
}

/** A parsed scope `type[(class)]:name:actions`; the name may hold `:port`, so split from both ends. */
export interface ParsedScope {
  type: string;
  name: string;
  actions: string[];
}

/** Parse a scope; undefined when it has no `type:…:actions` shape. */
export function parseScope(scope: string): ParsedScope | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(",").filter((a) => a !== ""),
  };
}

/** True when the scope set `have` grants everything `want` asks for (`*` grants all actions). */
export function scopesCover(have: string[], want: string[]): boolean {
  const grants = new Map<string, Set<string>>();
  for (const h of have) {
    const p = parseScope(h);
    if (!p) continue;
    const key = `${p.type}\u0000${p.name}`;
    const set = grants.get(key) ?? new Set<string>();
    for (const a of p.actions) set.add(a);
    grants.set(key, set);
  }
  for (const w of want) {
    const p = parseScope(w);
    if (!p) {
      if (!have.includes(w)) return false;
      continue;
    }
    const set = grants.get(`${p.type}\u0000${p.name}`);
    if (!set) return false;
    if (set.has("*")) continue;
    for (const a of p.actions) if (!set.has(a)) return false;
  }
  return true;
}

/**
 * Merge scopes: `add` first (some registries read only the first scope), then the others, without
 * duplicates. Used after a 401 that names a scope we lacked.
 */
export function mergeScopes(existing: string[], add: string[]): string[] {
  const out: string[] = [];
  for (const s of [...add, ...existing]) if (!out.includes(s)) out.push(s);
  return out;
}

/** A stable cache key for a scope set (order-independent). */
export function scopeKey(scopes: string[]): string {
  return [...new Set(scopes)].sort().join(" ");
}
