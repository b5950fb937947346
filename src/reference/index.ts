/**
 * Image references, parsed exactly as crane's `name.ParseReference` does (go-containerregistry
 * pkg/name): weak validation by default, strict on request, `docker.io` → `index.docker.io`,
 * implicit `library/` and `latest`, digest references that drop a tag. See formats.md §a.
 */
import { TcraneError } from "../errors.js";
import { isDigest } from "../image/digest.js";
import { registryProblem } from "./authority.js";

export { registryScheme, allowsHttpFallback, isRFC1918 } from "./authority.js";

/** Docker Hub as ggcr names it. */
export const DEFAULT_REGISTRY = "index.docker.io";
/** The tag used when none is given. */
export const DEFAULT_TAG = "latest";
const DOCKER_HUB_ALIAS = "docker.io";
const DEFAULT_NAMESPACE = "library";

const REPOSITORY_CHARS = /^[a-z0-9_\-./]*$/;
const TAG_CHARS = /^[A-Za-z0-9_\-.]*$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const REPO_CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789_-./";
const TAG_CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A parsed image reference (ggcr `name.Reference`). */
export interface Reference {
  /** Registry host[:port]: "index.docker.io", "localhost:5000", "[::1]:5000". */
  registry: string;
  /** ggcr RepositoryStr(): "library/ubuntu". */
  repository: string;
  /** The tag; undefined for digest references. */
  tag?: string;
  /** The digest of a digest reference. */
  digest?: string;
  /** registry/repository. */
  context: string;
  /** ggcr Name(): registry/repository:tag or registry/repository@digest. */
  name: string;
  /** The string as typed (ggcr String()). */
  original: string;
  /** True when the tag was defaulted ("latest" or `defaultTag`). */
  implicitTag: boolean;
}

/** Options of the parsers, after ggcr's name.Option. */
export interface ParseOptions {
  /** ggcr StrictValidation: registry and tag required, no implicit `library/`. */
  strict?: boolean;
  /** Registry used when the reference names none (default index.docker.io). */
  defaultRegistry?: string;
  /** Tag used when the reference names none (default latest). */
  defaultTag?: string;
}

/** A parsed repository (ggcr `name.Repository`). */
export interface Repository {
  registry: string;
  repository: string;
  context: string;
}

/** Internal: an error of the name grammar, turned into INVALID_REFERENCE by the public parsers. */
class BadName extends Error {}

function checkElement(kind: string, value: string, chars: RegExp, charset: string, min: number, max: number): void {
  const n = [...value].length;
  if (n < min || n > max) throw new BadName(`${kind} must be between ${min} and ${max} characters in length: ${value}`);
  if (!chars.test(value)) throw new BadName(`${kind} can only contain the characters \`${charset}\`: ${value}`);
}

function checkRepository(repo: string): void {
  checkElement("repository", repo, REPOSITORY_CHARS, REPO_CHARSET, 1, 255);
}

function checkTag(tag: string): void {
  checkElement("tag", tag, TAG_CHARS, TAG_CHARSET, 1, 128);
}

function checkDigest(digest: string): void {
  if (!SHA256_DIGEST.test(digest)) {
    throw new BadName(`digest must be "sha256:" followed by 64 lower-case hex characters: ${digest}`);
  }
}

/** ggcr NewRegistry: validate the authority, apply the default and the docker.io alias. */
function newRegistry(name: string, opts: ParseOptions): string {
  if (opts.strict && name === "") throw new BadName("strict validation requires the registry to be explicitly defined");
  const problem = registryProblem(name);
  if (problem) throw new BadName(problem);
  if (name === "") name = opts.defaultRegistry ?? DEFAULT_REGISTRY;
  if (name === DOCKER_HUB_ALIAS) name = DEFAULT_REGISTRY;
  return name;
}

/** ggcr NewRepository. */
function newRepository(name: string, opts: ParseOptions): Repository {
  if (name.length === 0) throw new BadName("a repository name must be specified");
  let registry = "";
  let repo = name;
  const slash = name.indexOf("/");
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (first === "localhost" || first.includes(".") || first.includes(":")) {
      registry = first;
      repo = name.slice(slash + 1);
    }
  }
  checkRepository(repo);
  const reg = newRegistry(registry, opts);
  let repository = repo;
  if (!repo.includes("/") && reg === DEFAULT_REGISTRY) {
    if (opts.strict) {
      throw new BadName(`strict validation requires the full repository path (missing '${DEFAULT_NAMESPACE}')`);
    }
    repository = `${DEFAULT_NAMESPACE}/${repo}`;
    checkRepository(repository);
  }
  return { registry: reg, repository, context: `${reg}/${repository}` };
}

/** ggcr NewTag. */
function newTag(s: string, opts: ParseOptions): Reference {
  let base = s;
  let tag = "";
  let hasColonTag = false;
  const parts = s.split(":");
  // A last part containing "/" is a registry port, not a tag.
  if (parts.length > 1 && !parts[parts.length - 1]!.includes("/")) {
    tag = parts[parts.length - 1]!;
    base = parts.slice(0, -1).join(":");
    hasColonTag = true;
  }
  if (hasColonTag && tag === "") throw new BadName(`${s} must specify a tag name after the colon`);
  if (opts.strict && tag === "") throw new BadName("strict validation requires a tag (or a digest)");
  if (tag !== "") checkTag(tag);
  const repo = newRepository(base, opts);
  const implicitTag = tag === "";
  const t = implicitTag ? (opts.defaultTag ?? DEFAULT_TAG) : tag;
  return { ...repo, tag: t, name: `${repo.context}:${t}`, original: s, implicitTag };
}

/** ggcr NewDigest: exactly one "@"; a tag before it is dropped. */
function newDigest(s: string, opts: ParseOptions): Reference {
  const parts = s.split("@");
  if (parts.length !== 2) {
    throw new BadName(`a digest must contain exactly one '@' separator (e.g. registry/repository@digest) saw: ${s}`);
  }
  const base = parts[0]!;
  const digest = parts[1]!;
  checkDigest(digest);
  let repo: Repository;
  try {
    // ggcr re-parses tag.Repository.Name(); using the parsed repository directly is the same
    // except that a defaultRegistry without '.' or ':' is not mistaken for a Docker Hub path.
    const t = newTag(base, opts);
    repo = { registry: t.registry, repository: t.repository, context: t.context };
  } catch {
    repo = newRepository(base, opts); // not a tag reference (strict without tag): a plain repository
  }
  return { ...repo, digest, name: `${repo.context}@${digest}`, original: s, implicitTag: false };
}

/** `user:password@` typed in front of a host (not `name:tag@sha256:…`): never echo the password. */
const USERINFO =
  /^[^/@:\s]+:([^/@\s]+)@(?=(?:(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|localhost|\[[0-9A-Fa-f:]+\])(?::\d*)?|[A-Za-z0-9-]+:\d+)(?:\/|$))/;

function invalid(s: string, message: string): TcraneError {
  const password = USERINFO.exec(s)?.[1];
  const scrub = (t: string) => (password ? t.split(password).join("REDACTED") : t);
  return new TcraneError("INVALID_REFERENCE", scrub(message), { what: scrub(s) });
}

/**
 * Parse an image reference as crane does (`name.ParseReference`): try a tag reference, then a
 * digest reference. Throws TcraneError INVALID_REFERENCE (what = the input) with ggcr's reason.
 */
export function parseReference(s: string, opts: ParseOptions = {}): Reference {
  if (s.startsWith("http://") || s.startsWith("https://")) {
    throw invalid(
      s,
      "image reference must not contain a URL scheme (http:// or https://); to use plain HTTP, use --insecure",
    );
  }
  let tagErr: unknown;
  try {
    return newTag(s, opts);
  } catch (e) {
    tagErr = e;
  }
  try {
    return newDigest(s, opts);
  } catch (digestErr) {
    // Report the more relevant of the two reasons: the digest one when the input has an '@'.
    const e = s.includes("@") ? digestErr : tagErr;
    if (e instanceof BadName) throw invalid(s, e.message);
    throw e;
  }
}

/** Parse a repository name (ggcr `name.NewRepository`): the `REPO` argument of `ls`. */
export function parseRepository(s: string, opts: ParseOptions = {}): Repository {
  try {
    return newRepository(s, opts);
  } catch (e) {
    if (e instanceof BadName) throw invalid(s, e.message);
    throw e;
  }
}

/** Parse a registry name (ggcr `name.NewRegistry`): `catalog REGISTRY`, `push --to REGISTRY`. */
export function parseRegistry(s: string, opts: ParseOptions = {}): string {
  try {
    return newRegistry(s, opts);
  } catch (e) {
    if (e instanceof BadName) throw invalid(s, e.message);
    throw e;
  }
}

/** A token scope for a repository: `repository:<repo>:pull,push`. */
export function scope(repository: string, actions: string[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

/** The registry-wide catalog scope. */
export const CATALOG_SCOPE = "registry:catalog:*";

/** The same repository with another tag (validated); the digest is dropped. */
export function withTag(ref: Reference | Repository, tag: string): Reference {
  try {
    checkTag(tag);
  } catch (e) {
    throw invalid(`${ref.context}:${tag}`, (e as Error).message);
  }
  const name = `${ref.context}:${tag}`;
  return { registry: ref.registry, repository: ref.repository, context: ref.context, tag, name, original: name, implicitTag: false };
}

/** The same repository with a digest (sha256 or sha512, validated); the tag is dropped. */
export function withDigest(ref: Reference | Repository, digest: string): Reference {
  if (!isDigest(digest)) throw invalid(`${ref.context}@${digest}`, `invalid digest: ${digest}`);
  const name = `${ref.context}@${digest}`;
  return { registry: ref.registry, repository: ref.repository, context: ref.context, digest, name, original: name, implicitTag: false };
}

/**
 * Docker's short form for display and RepoTags: Docker Hub's registry and `library/` are dropped
 * (`ubuntu:latest`, `foo/bar:1`), other registries stay (`example.com/x:1`).
 */
export function familiarName(ref: Reference): string {
  let repo = ref.context;
  if (ref.registry === DEFAULT_REGISTRY) {
    repo = ref.repository;
    const rest = repo.slice(DEFAULT_NAMESPACE.length + 1);
    if (repo.startsWith(`${DEFAULT_NAMESPACE}/`) && !rest.includes("/")) repo = rest;
  }
  if (ref.digest) return `${repo}@${ref.digest}`;
  return `${repo}:${ref.tag ?? DEFAULT_TAG}`;
}

/** True when `s` parses as a reference (no exception). */
export function isReference(s: string, opts: ParseOptions = {}): boolean {
  try {
    parseReference(s, opts);
    return true;
  } catch {
    return false;
  }
}
