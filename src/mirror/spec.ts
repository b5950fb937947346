/**
 * The mirror spec: a YAML (or JSON: YAML is a superset) file naming what to mirror where, parsed and
 * validated up front; every problem names its place in the file (`mirror.yaml:12:5: mirrors[2].semver:
 * invalid range ">=banana"`). Example (testdata/mirror/example.yaml is the annotated version):
 *
 * ```yaml
 * defaults:                   # all optional
 *   jobs: 4                   # blobs in flight, shared by every image (CLI -j wins)
 *   imageJobs: 4              # images copied at once (CLI --image-jobs wins)
 *   retries: 4                # retries of a failed request (CLI --retries wins)
 *   platforms: all            # all | [linux/amd64, linux/arm64]
 *   referrers: false          # carry referrers and cosign tags
 *   target: registry.internal:5000/mirror   # used by entries that give neither target nor repository
 * mirrors:
 *   - source: docker.io/library/alpine      # a repository; `repo:tag` / `repo@digest` add that tag/digest
 *     target: registry.internal:5000/mirror # REGISTRY[/PREFIX] ⇒ registry.internal:5000/mirror/library/alpine
 *     # repository: registry.internal:5000/alpine   # or an explicit destination repository (not both)
 *     # targets: [reg-a:5000/mirror, reg-b:5000/mirror]   # or several targets: fan-out (one source read)
 *     tags: ["3.20", "3.19"]                 # explicit tags: always taken, never filtered
 *     digests: ["sha256:…"]                  # explicit digests: copied by digest, untagged
 *     allTags: false                         # list the source's tags and take them all (then filter)
 *     include: ["^3\\.\\d+$"]                # listed tags must match one of these (anchored) regexes
 *     exclude: ["-rc"]                       # …and none of these (anchored: "-rc" matches only "-rc")
 *     semver: ">=3.18 <4"                    # …and be a full semver version (`v` prefix allowed) in range
 *     newest: 3                              # …keep the newest N by semver
 *     platforms: [linux/amd64]               # overrides defaults.platforms
 *     referrers: true                        # overrides defaults.referrers
 * ```
 *
 * Tag selection of one entry: the explicit `tags` and `digests` (and a tag/digest in `source`),
 * plus, when any of `allTags`, `include`, `exclude`, `semver`, `newest` is given, the source's
 * listed tags that pass every filter given. Regexes are anchored like skopeo's images-by-tag-regex
 * (`^(?:re)$`). `semver` and `newest` use strict semver (`semver.valid`, `v1.2.3` allowed): a
 * two-part tag such as `3.20` or a word such as `latest` is NOT a version and is dropped by them
 * (nothing is coerced: `3.20` is not `3.20.0`); use `include` for two-part tags. Pre-releases
 * follow node-semver: they satisfy a range only when it names a pre-release of the same x.y.z;
 * `newest` ranks releases only (pre-releases too when a `semver` range admitted them).
 * An unquoted YAML tag such as `3.20` is taken as typed (`"3.20"`, not the number 3.2).
 */
import { readFile } from "node:fs/promises";
import semver from "semver";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLMap } from "yaml";
import { TcraneError, toTcraneError } from "../errors.js";
import { isDigest } from "../image/digest.js";
import { parsePlatform } from "../image/platform.js";
import type { Platform } from "../image/types.js";
import { parseReference, parseRegistry, parseRepository, type Repository } from "../reference/index.js";

/** Spec-wide settings; absent numbers mean "the CLI's or the engine's default". */
export interface MirrorDefaults {
  jobs?: number;
  imageJobs?: number;
  retries?: number;
  platforms: Platform[] | "all";
  referrers: boolean;
  target?: string;
}

/** One validated `mirrors[]` entry. */
export interface MirrorEntry {
  /** Position in `mirrors[]`. */
  index: number;
  /** `file:line:col` of the entry, for messages. */
  where: string;
  source: Repository;
  /** The first of `destinations`. */
  destination: Repository;
  /**
   * Every destination repository: one for `target` / `repository`, one per `targets` item (fan-out:
   * each blob is read from the source once and written to every destination that lacks it).
   */
  destinations: Repository[];
  tags: string[];
  digests: string[];
  allTags: boolean;
  include: RegExp[];
  exclude: RegExp[];
  /** A valid node-semver range. */
  semver?: string;
  newest?: number;
  platforms: Platform[] | "all";
  referrers: boolean;
}

/** A parsed, validated spec. */
export interface MirrorSpec {
  /** The file name used in messages. */
  file: string;
  defaults: MirrorDefaults;
  mirrors: MirrorEntry[];
}

/** One problem of a spec, with its place. */
export interface SpecIssue {
  line: number;
  col: number;
  path: string;
  message: string;
}

/** A spec that failed validation: MALFORMED (exit 2), listing every issue (the first in `message`). */
export class MirrorSpecError extends TcraneError {
  readonly issues: SpecIssue[];
  constructor(file: string, issues: SpecIssue[]) {
    const lines = issues.map((i) => `${file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ""}${i.message}`);
    super("MALFORMED", lines.join("\n"));
    this.name = "MirrorSpecError";
    this.issues = issues;
  }
}

/** True when the entry lists the source repository's tags (any of allTags/include/exclude/semver/newest). */
export function needsTagList(e: MirrorEntry): boolean {
  return e.allTags || e.include.length > 0 || e.exclude.length > 0 || e.semver !== undefined || e.newest !== undefined;
}

const DEFAULT_KEYS = new Set(["jobs", "imageJobs", "retries", "platforms", "referrers", "target"]);
const ENTRY_KEYS = new Set(["source", "target", "targets", "repository", "tags", "digests", "allTags", "include", "exclude", "semver", "newest", "platforms", "referrers"]);

/** Walks the YAML node tree collecting issues with line:col. */
class Checker {
  readonly issues: SpecIssue[] = [];
  constructor(
    private readonly doc: Document,
    readonly lc: LineCounter,
  ) {}

  issue(node: Node | null | undefined, path: string, message: string, offset?: number): void {
    const at = offset ?? node?.range?.[0] ?? 0;
    const { line, col } = this.lc.linePos(at);
    this.issues.push({ line, col, path, message });
  }

  deref(node: unknown): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return (node as Node | null) ?? null;
  }

  /** The pairs of a map, unknown keys reported. */
  fields(node: Node | null, path: string, allowed: Set<string>): Map<string, { key: Node; value: Node | null }> {
    const out = new Map<string, { key: Node; value: Node | null }>();
    if (!isMap(node)) {
      this.issue(node, path, "must be a mapping");
      return out;
    }
    for (const pair of (node as YAMLMap).items) {
      const key = this.deref(pair.key);
      const name = isScalar(key) ? String(key.value) : "";
      const where = path ? `${path}.${name}` : name;
      if (!allowed.has(name)) {
        this.issue(key, where, `unknown field (expected one of: ${[...allowed].join(", ")})`);
        continue;
      }
      out.set(name, { key: key!, value: this.deref(pair.value) });
    }
    return out;
  }

  /** A string as typed (a plain `3.20` stays "3.20"). */
  string(node: Node | null, path: string): string | undefined {
    if (!isScalar(node) || node.value === null || typeof node.value === "object") {
      this.issue(node, path, "must be a string");
      return undefined;
    }
    if (typeof node.value === "string") return node.value;
    return node.type === "PLAIN" && typeof node.source === "string" ? node.source : String(node.value);
  }

  strings(node: Node | null, path: string): string[] {
    if (isScalar(node) && node.value !== null) {
      const s = this.string(node, path);
      return s === undefined ? [] : [s];
    }
    if (!isSeq(node)) {
      this.issue(node, path, "must be a list of strings");
      return [];
    }
    const out: string[] = [];
    node.items.forEach((item, i) => {
      const s = this.string(this.deref(item), `${path}[${i}]`);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  boolean(node: Node | null, path: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === "boolean") return node.value;
    this.issue(node, path, "must be true or false");
    return undefined;
  }

  integer(node: Node | null, path: string, min: number): number | undefined {
    if (isScalar(node) && typeof node.value === "number" && Number.isInteger(node.value) && node.value >= min) return node.value;
    this.issue(node, path, `must be an integer ≥ ${min}`);
    return undefined;
  }

  platforms(node: Node | null, path: string): Platform[] | "all" | undefined {
    if (isScalar(node) && node.value === "all") return "all";
    const list = this.strings(node, path);
    const out: Platform[] = [];
    const items = isSeq(node) ? node.items.map((n) => this.deref(n)) : [node];
    list.forEach((s, i) => {
      try {
        out.push(parsePlatform(s));
      } catch (e) {
        this.issue(items[i] ?? node, isSeq(node) ? `${path}[${i}]` : path, `invalid platform "${s}": ${toTcraneError(e).message}`);
      }
    });
    if (isSeq(node) && node.items.length === 0) this.issue(node, path, 'must list at least one platform (or be "all")');
    return out;
  }

  regexes(node: Node | null, path: string): RegExp[] {
    const list = this.strings(node, path);
    const items = isSeq(node) ? node.items.map((n) => this.deref(n)) : [node];
    const out: RegExp[] = [];
    list.forEach((s, i) => {
      try {
        new RegExp(s);
        out.push(new RegExp(`^(?:${s})$`));
      } catch (e) {
        this.issue(items[i] ?? node, isSeq(node) ? `${path}[${i}]` : path, `invalid regular expression "${s}": ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, "")}`);
      }
    });
    return out;
  }
}

/** The destination repository for `source` under `target` (REGISTRY or REGISTRY/PREFIX). */
export function destinationUnder(source: Repository, target: string): Repository {
  const t = target.replace(/\/+$/, "");
  if (!t.includes("/")) {
    const registry = parseRegistry(t);
    return parseRepository(`${registry}/${source.repository}`);
  }
  const base = parseRepository(t);
  return parseRepository(`${base.registry}/${base.repository}/${source.repository}`);
}

/** Parse and validate spec text. `file` names it in messages. Throws MirrorSpecError (MALFORMED). */
export function parseSpec(text: string, file = "mirror.yaml"): MirrorSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const c = new Checker(doc, lc);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) c.issue(null, "", e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""), e.pos[0]);
    throw new MirrorSpecError(file, c.issues);
  }
  if (!isMap(c.deref(doc.contents))) {
    c.issue(c.deref(doc.contents), "", "the spec must be a mapping with a `mirrors` list (and optional `defaults`)");
    throw new MirrorSpecError(file, c.issues);
  }
  const top = c.fields(c.deref(doc.contents), "", new Set(["defaults", "mirrors"]));
  const defaults: MirrorDefaults = { platforms: "all", referrers: false };
  const d = top.get("defaults");
  if (d) {
    const f = c.fields(d.value ?? d.key, "defaults", DEFAULT_KEYS);
    for (const [k, { value }] of f) {
      const p = `defaults.${k}`;
      if (k === "jobs" || k === "imageJobs") defaults[k] = c.integer(value, p, 1);
      else if (k === "retries") defaults.retries = c.integer(value, p, 0);
      else if (k === "platforms") defaults.platforms = c.platforms(value, p) ?? "all";
      else if (k === "referrers") defaults.referrers = c.boolean(value, p) ?? false;
      else if (k === "target") defaults.target = checkTarget(c, value, p);
    }
  }
  const mirrors: MirrorEntry[] = [];
  const m = top.get("mirrors");
  if (!m) c.issue(c.deref(doc.contents), "mirrors", "missing: the list of repositories to mirror");
  else if (!isSeq(m.value) || m.value.items.length === 0) c.issue(m.value ?? m.key, "mirrors", "must be a non-empty list");
  else {
    m.value.items.forEach((item, i) => {
      const e = parseEntry(c, c.deref(item), i, file, defaults);
      if (e) mirrors.push(e);
    });
  }
  if (c.issues.length > 0) throw new MirrorSpecError(file, c.issues.sort((a, b) => a.line - b.line || a.col - b.col));
  return { file, defaults, mirrors };
}

function checkTarget(c: Checker, node: Node | null, path: string): string | undefined {
  const s = c.string(node, path);
  if (s === undefined) return undefined;
  try {
    destinationUnder(parseRepository("example/probe"), s);
    return s;
  } catch (e) {
    c.issue(node, path, `invalid target "${s}": ${toTcraneError(e).message} (expected REGISTRY or REGISTRY/PREFIX)`);
    return undefined;
  }
}

function parseEntry(c: Checker, node: Node | null, i: number, file: string, defaults: MirrorDefaults): MirrorEntry | undefined {
  const path = `mirrors[${i}]`;
  const before = c.issues.length;
  const f = c.fields(node, path, ENTRY_KEYS);
  if (!isMap(node)) return undefined;
  const get = (k: string) => f.get(k)?.value ?? null;
  const { line, col } = c.lc.linePos(node.range?.[0] ?? 0);
  const e: MirrorEntry = {
    index: i,
    where: `${file}:${line}:${col}`,
    source: { registry: "", repository: "", context: "" },
    destination: { registry: "", repository: "", context: "" },
    destinations: [],
    tags: [],
    digests: [],
    allTags: false,
    include: [],
    exclude: [],
    platforms: defaults.platforms,
    referrers: defaults.referrers,
  };
  if (f.has("tags")) {
    const items = isSeq(get("tags")) ? (get("tags") as unknown as { items: unknown[] }).items.map((n) => c.deref(n)) : [get("tags")];
    c.strings(get("tags"), `${path}.tags`).forEach((t, j) => {
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(t)) c.issue(items[j] ?? get("tags"), `${path}.tags[${j}]`, `invalid tag "${t}"`);
      else e.tags.push(t);
    });
  }
  if (f.has("digests")) {
    const items = isSeq(get("digests")) ? (get("digests") as unknown as { items: unknown[] }).items.map((n) => c.deref(n)) : [get("digests")];
    c.strings(get("digests"), `${path}.digests`).forEach((d, j) => {
      if (!isDigest(d)) c.issue(items[j] ?? get("digests"), `${path}.digests[${j}]`, `invalid digest "${d}"`);
      else e.digests.push(d);
    });
  }
  if (!f.has("source")) c.issue(node, `${path}.source`, "missing: the repository to mirror from");
  else {
    const s = c.string(get("source"), `${path}.source`);
    if (s !== undefined) {
      try {
        const ref = parseReference(s);
        e.source = { registry: ref.registry, repository: ref.repository, context: ref.context };
        if (ref.digest) e.digests.push(ref.digest);
        else if (!ref.implicitTag && ref.tag) e.tags.push(ref.tag);
      } catch (err) {
        c.issue(get("source"), `${path}.source`, `invalid reference "${s}": ${toTcraneError(err).message}`);
      }
    }
  }
  if (f.has("allTags")) e.allTags = c.boolean(get("allTags"), `${path}.allTags`) ?? false;
  if (f.has("include")) e.include = c.regexes(get("include"), `${path}.include`);
  if (f.has("exclude")) e.exclude = c.regexes(get("exclude"), `${path}.exclude`);
  if (f.has("semver")) {
    const r = c.string(get("semver"), `${path}.semver`);
    if (r !== undefined) {
      if (semver.validRange(r) === null) c.issue(get("semver"), `${path}.semver`, `invalid range "${r}"`);
      else e.semver = r;
    }
  }
  if (f.has("newest")) e.newest = c.integer(get("newest"), `${path}.newest`, 1);
  if (f.has("platforms")) e.platforms = c.platforms(get("platforms"), `${path}.platforms`) ?? defaults.platforms;
  if (f.has("referrers")) e.referrers = c.boolean(get("referrers"), `${path}.referrers`) ?? defaults.referrers;

  const given = ["target", "targets", "repository"].filter((k) => f.has(k));
  if (given.length > 1) c.issue(f.get(given[1]!)!.key, `${path}.${given[1]}`, `give either ${given[0]} or ${given[1]}, not both`);
  else if (given[0] === "repository") {
    const s = c.string(get("repository"), `${path}.repository`);
    if (s !== undefined) {
      try {
        e.destinations = [parseRepository(s)];
      } catch (err) {
        c.issue(get("repository"), `${path}.repository`, `invalid repository "${s}": ${toTcraneError(err).message}`);
      }
    }
  } else if (given[0] === "targets") {
    const node = get("targets");
    if (!isSeq(node) || node.items.length === 0) c.issue(node ?? f.get("targets")!.key, `${path}.targets`, "must be a non-empty list of targets (REGISTRY[/PREFIX])");
    else {
      node.items.forEach((n, j) => {
        const item = c.deref(n);
        const t = checkTarget(c, item, `${path}.targets[${j}]`);
        if (t === undefined || !e.source.registry) return;
        const d = destinationUnder(e.source, t);
        if (e.destinations.some((x) => x.context === d.context)) c.issue(item, `${path}.targets[${j}]`, `names ${d.context} twice`);
        else e.destinations.push(d);
      });
    }
  } else {
    const hasTarget = given[0] === "target";
    const t = hasTarget ? checkTarget(c, get("target"), `${path}.target`) : defaults.target;
    if (!hasTarget && t === undefined) c.issue(node, path, "missing: target (REGISTRY[/PREFIX]), targets or repository (and no defaults.target)");
    if (t !== undefined && e.source.registry) e.destinations = [destinationUnder(e.source, t)];
  }
  if (e.destinations[0]) e.destination = e.destinations[0];
  if (c.issues.length === before && e.tags.length === 0 && e.digests.length === 0 && !needsTagList(e)) {
    c.issue(node, path, "selects nothing: give tags, digests, allTags, include, exclude, semver or newest (or a tag in source)");
  }
  if (c.issues.length === before && e.destinations.some((d) => d.context === e.source.context)) {
    c.issue(f.get("target")?.value ?? f.get("targets")?.value ?? f.get("repository")?.value ?? node, path, `source and destination are the same repository (${e.source.context})`);
  }
  e.tags = [...new Set(e.tags)];
  e.digests = [...new Set(e.digests)];
  return c.issues.length === before ? e : undefined;
}

/** Read and validate a spec file (`-` reads stdin). Errors name `file:line:col`. */
export async function loadSpec(path: string): Promise<MirrorSpec> {
  let text: string;
  try {
    if (path === "-") {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      text = Buffer.concat(chunks).toString("utf8");
    } else text = await readFile(path, "utf8");
  } catch (e) {
    const err = toTcraneError(e);
    throw new TcraneError(err.code, err.message, { what: path, cause: e });
  }
  return parseSpec(text, path === "-" ? "<stdin>" : path);
}
