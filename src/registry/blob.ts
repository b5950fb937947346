/**
 * Blob reads: a streamed GET verified by VerifyingStream, redirects followed by hand (no
 * Authorization to another host), and an interrupted download resumed with `Range: bytes=<n>-` from
 * the byte where it broke (up to `retries` times); the whole blob is still hashed and checked.
 * A blob the registry does not have (404) is fetched from the descriptor's `urls`, as ggcr does for
 * foreign layers: in order, without credentials (they belong to the registry's host only).
 */
import { Readable, pipeline } from "node:stream";
import { TcraneError, VerificationError, toTcraneError } from "../errors.js";
import { parseDigest, verifier } from "../image/digest.js";
import { redactUrl } from "../redact.js";
import { scope } from "../reference/index.js";
import { abortError, backoffDelay, isRetryableError, sleep, type BackoffOptions } from "./retry.js";
import { discard, header, type Response, type Transport } from "./transport.js";

/** A repository on a registry (a parsed Reference satisfies it). */
export interface Repo {
  registry: string;
  repository: string;
}

/** URL of `/v2/<repo>/<suffix>` on the registry (pings first to learn the scheme). */
export async function repoUrl(t: Transport, repo: Repo, suffix: string, signal?: AbortSignal): Promise<URL> {
  const base = await t.base(repo.registry, signal);
  return new URL(`/v2/${repo.repository}/${suffix}`, base);
}

/** Pull scopes of a repository. */
export function pullScopes(repo: Repo): string[] {
  return [scope(repo.repository, ["pull"])];
}

/** Push scopes of a repository. */
export function pushScopes(repo: Repo): string[] {
  return [scope(repo.repository, ["push", "pull"])];
}

/** Parse `Content-Range: bytes <start>-<end>/<total>`; undefined when absent or malformed. */
export function parseContentRange(v: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec((v ?? "").trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

/** HEAD a blob: its size, or undefined when the registry says 404. */
export async function headBlob(t: Transport, repo: Repo, digest: string, signal?: AbortSignal): Promise<number | undefined> {
  parseDigest(digest);
  const url = await repoUrl(t, repo, `blobs/${digest}`, signal);
  const res = await t.send({ method: "HEAD", url, registry: repo.registry, scopes: pullScopes(repo), ok: [200, 404], redirect: true, signal });
  await res.body.dump();
  if (res.status === 404) return undefined;
  const len = header(res.headers, "content-length");
  return len !== undefined && /^\d+$/.test(len) ? Number(len) : 0;
}

/** Web addresses a descriptor offers for its content (http and https only). */
function foreignUrls(desc: { urls?: string[] }): URL[] {
  const out: URL[] = [];
  for (const u of desc.urls ?? []) {
    try {
      const url = new URL(u);
      if (url.protocol === "http:" || url.protocol === "https:") out.push(url);
    } catch {
      /* not a URL: skipped */
    }
  }
  return out;
}

/**
 * The first GET of a blob: from the registry, then, when it answers 404, from each of the
 * descriptor's `urls` in turn (the last error wins when none answers). `asked` is the URL that
 * answered before any redirect, for resumes.
 */
async function firstResponse(t: Transport, repo: Repo, desc: { digest: string; urls?: string[] }, url: URL, signal?: AbortSignal): Promise<Response & { asked: URL }> {
  const send = async (u: URL) => ({ ...(await t.send({ method: "GET", url: u, registry: repo.registry, scopes: pullScopes(repo), ok: [200], redirect: true, signal })), asked: u });
  const urls = foreignUrls(desc);
  try {
    return await send(url);
  } catch (err) {
    if (!urls.length || !(err instanceof TcraneError && err.code === "NOT_FOUND")) throw err;
    let last: unknown = err;
    for (const u of urls) {
      try {
        return await send(u);
      } catch (e) {
        if (signal?.aborted) throw e;
        last = e;
      }
    }
    throw last;
  }
}

/**
 * GET a blob as a verified stream. Throws before returning on HTTP errors (404 ⇒ NOT_FOUND); errors
 * after that (mismatch, network failure after all resumes) arrive as the stream's 'error'.
 */
export async function fetchBlob(
  t: Transport,
  repo: Repo,
  desc: { digest: string; size?: number; urls?: string[] },
  opts: { signal?: AbortSignal; retries: number; backoff?: BackoffOptions; verify?: boolean },
): Promise<Readable> {
  parseDigest(desc.digest);
  const signal = opts.signal;
  const scopes = pullScopes(repo);
  const what = `${repo.registry}/${repo.repository}@${desc.digest}`;
  const first = await firstResponse(t, repo, desc, await repoUrl(t, repo, `blobs/${desc.digest}`, signal), signal);
  const url = first.asked; // where resumes go (the registry, or the foreign URL that answered)
  const len = header(first.headers, "content-length");
  if (desc.size !== undefined && len !== undefined && /^\d+$/.test(len) && Number(len) !== desc.size) {
    discard(first.body);
    throw new VerificationError("SIZE_MISMATCH", what, String(desc.size), len);
  }
  let received = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    let res: Response = first;
    let skip = 0;
    let resumes = 0;
    try {
      for (;;) {
        try {
          for await (const c of res.body) {
            let b = c as Buffer;
            if (skip > 0) {
              if (b.length <= skip) {
                skip -= b.length;
                continue;
              }
              b = b.subarray(skip);
              skip = 0;
            }
            received += b.length;
            yield b;
          }
          return;
        } catch (err) {
          discard(res.body);
          if (signal?.aborted) throw abortError(signal, err);
          if (!isRetryableError(err) || resumes >= opts.retries) {
            const e = toTcraneError(err);
            throw new TcraneError("NETWORK", `${e.message} after ${received} bytes${resumes ? ` and ${resumes} resumes` : ""}`, {
              what: `GET ${redactUrl(url)}`,
              cause: err,
            });
          }
          if (desc.size !== undefined && received >= desc.size) return; // everything arrived; the verifier decides
          await sleep(backoffDelay(resumes, undefined, opts.backoff), signal);
          resumes++;
          t.stats.resumes++;
          const r = await t.send({
            method: "GET",
            url,
            registry: repo.registry,
            scopes,
            headers: { range: `bytes=${received}-` },
            ok: [200, 206],
            redirect: true,
            signal,
          });
          if (r.status === 206) {
            const cr = parseContentRange(header(r.headers, "content-range"));
            if (cr && cr.start !== received) {
              discard(r.body);
              throw new TcraneError("REGISTRY", `resume asked for byte ${received}, server sent from ${cr.start}`, { what: `GET ${redactUrl(url)}` });
            }
            skip = 0;
          } else {
            skip = received; // the server ignored Range: drop what we already have
          }
          res = r;
        }
      }
    } finally {
      discard(res.body);
    }
  }
  const body = Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 });
  // Destroyed before anyone read it, the generator never started and its finally never runs: free
  // the response all the same, or its connection stays busy and closing the client never ends.
  body.once("close", () => discard(first.body));
  if (opts.verify === false) return body; // the caller verifies (the transfer engine does)
  const v = verifier(desc, what);
  pipeline(body, v, () => undefined);
  return v;
}
