/**
 * A real token server (docker "token authentication specification") for the real distribution registry
 * in Bearer mode. It signs JWTs with a key whose self-signed certificate is the registry's
 * `rootcertbundle`, identifies the key by its libtrust key ID (`kid`, the form distribution 2.8 looks up)
 * or by an `x5c` chain, and serves both the GET token endpoint (Basic to the realm) and the OAuth2 POST
 * (password and refresh_token grants). Users, grants and the token TTL are adjustable while running, and
 * counters let tests assert token reuse.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createHash, createPrivateKey, randomBytes, randomUUID, X509Certificate, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SignJWT } from "jose";
import { run, tempDir } from "./tools.js";
import { makePki, type TestPki } from "./tls.js";

/** One grant: actions allowed on resources of `type` whose name matches `name` (`*` = any characters). */
export interface Grant {
  /** Resource type, default `repository` (use `registry` with name `catalog` for the catalog). */
  type?: string;
  /** Name pattern: `*` matches any run of characters (`team/*`, `*`). */
  name: string;
  /** Actions granted (`pull`, `push`, `delete`, `*`); `*` grants every requested action. */
  actions: string[];
}

/** Every grant a user gets when none is configured: everything. */
export const FULL_ACCESS: Grant[] = [
  { type: "repository", name: "*", actions: ["*"] },
  { type: "registry", name: "*", actions: ["*"] },
];

export interface TokenServerOptions {
  /** user -> password. */
  users?: Record<string, string>;
  /** user -> grants; users without an entry get FULL_ACCESS. */
  grants?: Record<string, Grant[]>;
  /** Grants for requests without credentials; default none (anonymous tokens carry no access). */
  anonymous?: Grant[];
  /** Token lifetime in seconds (`expires_in`), default 300. */
  ttlSeconds?: number;
  /** `service` (the JWT audience), default `tcrane-test-registry`. */
  service?: string;
  /** `iss`, default `tcrane-test-issuer`. */
  issuer?: string;
  /** Signature algorithm, default ES256. */
  alg?: "ES256" | "RS256";
  /** How the JWT names its key: `kid` (libtrust key ID, default) or `x5c` (certificate chain). */
  keyRef?: "kid" | "x5c";
  /** Serve the realm over https with a test CA (see `pki`). */
  tls?: boolean;
  /** Which token fields the JSON carries: both (default), only `token`, only `access_token`. */
  tokenFields?: "both" | "token" | "access_token";
  /** Answer POST with 404 (a token server without OAuth2, clients must fall back to GET). */
  disablePost?: boolean;
}

/** One request the token server answered. */
export interface TokenRequestRecord {
  method: "GET" | "POST";
  /** User name, `anonymous`, or the user a refresh token belongs to. */
  user: string;
  /** Scopes requested, in request order. */
  scopes: string[];
  grantType?: string;
  status: number;
}

/** Request counters, for asserting token reuse. */
export interface TokenCounters {
  total: number;
  get: number;
  post: number;
  /** Requests refused (401/400/404). */
  refused: number;
  /** Key `"<user> <sorted scopes joined by space>"` -> number of requests. */
  byUserScope: Map<string, number>;
  /** Every request, in order. */
  log: TokenRequestRecord[];
  /** How many requests `user` made for exactly this scope set (order does not matter). */
  count(user: string, scopes?: string[]): number;
  /** Zero everything. */
  reset(): void;
}

export interface TokenServer {
  /** Token endpoint URL, for `WWW-Authenticate: Bearer realm=…` (http(s)://127.0.0.1:port/token). */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the signing certificate: the registry's `rootcertbundle`. */
  rootCertBundlePath: string;
  /** libtrust key ID of the signing key. */
  keyId: string;
  /** Test PKI when `tls: true` (trust `pki.caPem`). */
  pki?: TestPki;
  counters: TokenCounters;
  /** Replace the users (user -> password). */
  setUsers(users: Record<string, string>): void;
  /** Set the grants of `user` (`null` = anonymous). */
  setGrant(user: string | null, grants: Grant[]): void;
  /** Change the lifetime of tokens issued from now on. */
  setTokenTtl(seconds: number): void;
  /** Forget every refresh token issued so far (they then get 401). */
  revokeRefreshTokens(): void;
  /**
   * While on, issued JWTs are already expired for the registry (exp 120 s in the past, beyond
   * distribution's 60 s leeway) although `expires_in` still says the TTL: the registry answers
   * 401 `error="invalid_token"`, which tests a client's re-fetch on 401.
   */
  setIssueExpired(on: boolean): void;
  stop(): Promise<void>;
}

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** libtrust key ID: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in ':'-joined blocks of 4. */
export function libtrustKeyId(spkiDer: Buffer): string {
  const bytes = createHash("sha256").update(spkiDer).digest().subarray(0, 30);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.match(/.{1,4}/g)!.join(":");
}

/** Parse one scope `type[(class)]:name:actions` (the name may contain a `:port`). */
export function parseScope(s: string): { type: string; name: string; actions: string[] } | undefined {
  const first = s.indexOf(":");
  const last = s.lastIndexOf(":");
  if (first < 0 || last === first) return undefined;
  const type = s.slice(0, first).replace(/\(.*\)$/, "");
  return { type, name: s.slice(first + 1, last), actions: s.slice(last + 1).split(",").filter(Boolean) };
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp("^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
  return re.test(name);
}

/** The access entries granted for the requested scopes (actions = requested ∩ granted). */
function grantAccess(grants: Grant[], scopes: string[]): { type: string; name: string; actions: string[] }[] {
  const out: { type: string; name: string; actions: string[] }[] = [];
  for (const s of scopes) {
    const sc = parseScope(s);
    if (!sc) continue;
    const allowed = new Set<string>();
    for (const g of grants) {
      if ((g.type ?? "repository") !== sc.type || !globMatch(g.name, sc.name)) continue;
      for (const a of sc.actions) if (g.actions.includes("*") || g.actions.includes(a)) allowed.add(a);
    }
    const actions = sc.actions.filter((a) => allowed.has(a));
    if (actions.length) out.push({ type: sc.type, name: sc.name, actions });
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Start a token server on a free loopback port. */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const { dir, cleanup } = await tempDir("tcrane-token-");
  const alg = opts.alg ?? "ES256";
  const keyArgs = alg === "ES256" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] : ["-newkey", "rsa:2048"];
  const r = await run(
    "openssl",
    ["req", "-x509", ...keyArgs, "-nodes", "-keyout", "token.key", "-out", "token.crt", "-days", "2", "-subj", "/CN=tcrane test token signer"],
    { cwd: dir },
  );
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  const rootCertBundlePath = join(dir, "token.crt");
  const certPem = await readFile(rootCertBundlePath, "utf8");
  const key: KeyObject = createPrivateKey(await readFile(join(dir, "token.key")));
  const cert = new X509Certificate(certPem);
  const keyId = libtrustKeyId(cert.publicKey.export({ type: "spki", format: "der" }) as Buffer);
  const x5c = [cert.raw.toString("base64")];

  const service = opts.service ?? "tcrane-test-registry";
  const issuer = opts.issuer ?? "tcrane-test-issuer";
  let users: Record<string, string> = { ...(opts.users ?? {}) };
  const grants = new Map<string, Grant[]>(Object.entries(opts.grants ?? {}));
  let anonymous: Grant[] = opts.anonymous ?? [];
  let ttl = opts.ttlSeconds ?? 300;
  let issueExpired = false;
  const refreshTokens = new Map<string, string>(); // token -> user

  const counters: TokenCounters = {
    total: 0,
    get: 0,
    post: 0,
    refused: 0,
    byUserScope: new Map(),
    log: [],
    count(user, scopes = []) {
      return this.byUserScope.get(`${user} ${[...scopes].sort().join(" ")}`) ?? 0;
    },
    reset() {
      this.total = this.get = this.post = this.refused = 0;
      this.byUserScope.clear();
      this.log.length = 0;
    },
  };

  const record = (method: "GET" | "POST", user: string, scopes: string[], status: number, grantType?: string) => {
    counters.total++;
    if (method === "GET") counters.get++;
    else counters.post++;
    if (status !== 200) counters.refused++;
    const k = `${user} ${[...scopes].sort().join(" ")}`;
    counters.byUserScope.set(k, (counters.byUserScope.get(k) ?? 0) + 1);
    counters.log.push({ method, user, scopes, grantType, status });
  };

  const issue = async (user: string | null, scopes: string[], offline: boolean) => {
    const access = grantAccess(user === null ? anonymous : (grants.get(user) ?? FULL_ACCESS), scopes);
    const now = Math.floor(Date.now() / 1000);
    const exp = issueExpired ? now - 120 : now + ttl;
    const header = opts.keyRef === "x5c" ? { alg, typ: "JWT", x5c } : { alg, typ: "JWT", kid: keyId };
    const jwt = await new SignJWT({ access })
      .setProtectedHeader(header)
      .setIssuer(issuer)
      .setSubject(user ?? "")
      .setAudience(service)
      .setIssuedAt(now)
      .setNotBefore(issueExpired ? now - 300 : now - 1)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key);
    const body: Record<string, unknown> = { expires_in: ttl, issued_at: new Date(now * 1000).toISOString() };
    if (opts.tokenFields !== "access_token") body.token = jwt;
    if (opts.tokenFields !== "token") body.access_token = jwt;
    if (offline && user !== null) {
      const rt = randomBytes(24).toString("base64url");
      refreshTokens.set(rt, user);
      body.refresh_token = rt;
    }
    return body;
  };

  const unauthorized = (res: ServerResponse, why: string) =>
    send(res, 401, { errors: [{ code: "UNAUTHORIZED", message: why }] }, { "www-authenticate": `Basic realm="tcrane-token"` });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== "/token") return send(res, 404, { error: "not found" });
    if (req.method === "GET") {
      const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
      const auth = req.headers.authorization;
      let user: string | null = null;
      if (auth) {
        const m = /^Basic\s+(\S+)$/i.exec(auth);
        const decoded = m ? Buffer.from(m[1]!, "base64").toString("utf8") : "";
        const i = decoded.indexOf(":");
        const u = i > 0 ? decoded.slice(0, i) : "";
        if (!m || i <= 0 || !(u in users) || users[u] !== decoded.slice(i + 1)) {
          record("GET", u || "invalid", scopes, 401);
          return unauthorized(res, "invalid username or password");
        }
        user = u;
      }
      if (url.searchParams.has("service") && url.searchParams.get("service") !== service && url.searchParams.get("service") !== "") {
        record("GET", user ?? "anonymous", scopes, 400);
        return send(res, 400, { error: "invalid_request", error_description: "unknown service" });
      }
      const offline = url.searchParams.get("offline_token") === "true";
      const body = await issue(user, scopes, offline);
      record("GET", user ?? "anonymous", scopes, 200);
      return send(res, 200, body);
    }
    if (req.method === "POST") {
      const form = new URLSearchParams(await readBody(req));
      const scopes = form.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
      const grantType = form.get("grant_type") ?? "";
      if (opts.disablePost) {
        record("POST", "anonymous", scopes, 404, grantType);
        return send(res, 404, { error: "not found" });
      }
      let user: string;
      if (grantType === "password") {
        const u = form.get("username") ?? "";
        if (!(u in users) || users[u] !== (form.get("password") ?? "")) {
          record("POST", u || "invalid", scopes, 401, grantType);
          return unauthorized(res, "invalid username or password");
        }
        user = u;
      } else if (grantType === "refresh_token") {
        const owner = refreshTokens.get(form.get("refresh_token") ?? "");
        if (!owner) {
          record("POST", "invalid", scopes, 401, grantType);
          return unauthorized(res, "invalid refresh token");
        }
        user = owner;
      } else {
        record("POST", "anonymous", scopes, 400, grantType);
        return send(res, 400, { error: "unsupported_grant_type" });
      }
      const body = await issue(user, scopes, form.get("access_type") === "offline");
      record("POST", user, scopes, 200, grantType);
      return send(res, 200, body);
    }
    send(res, 405, { error: "method not allowed" });
  };

  let pki: TestPki | undefined;
  let server: Server;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err) => send(res, 500, { error: String(err) }));
  };
  if (opts.tls) {
    pki = await makePki(join(dir));
    server = createHttpsServer({ cert: await readFile(pki.certPath), key: await readFile(pki.keyPath) }, listener);
  } else {
    server = createServer(listener);
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;

  return {
    realm: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundlePath,
    keyId,
    pki,
    counters,
    setUsers(u) {
      users = { ...u };
    },
    setGrant(user, g) {
      if (user === null) anonymous = g;
      else grants.set(user, g);
    },
    setTokenTtl(seconds) {
      ttl = seconds;
    },
    revokeRefreshTokens() {
      refreshTokens.clear();
    },
    setIssueExpired(on) {
      issueExpired = on;
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cleanup();
    },
  };
}
