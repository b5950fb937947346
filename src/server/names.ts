/**
 * The grammars the server checks before touching storage: repository names (distribution
 * path-component grammar, ≤ 255 characters), tags, digests, and `repo:tag` image names as found in
 * OCI layout annotations.
 */
import { isDigest } from "../image/digest.js";
import { E } from "./errors.js";

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** True when `name` is a valid repository name (so it can never escape a storage directory). */
export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && NAME_RE.test(name);
}

/** Throw 400 NAME_INVALID unless `name` is a valid repository name. */
export function checkName(name: string): string {
  if (!isValidName(name)) throw E.nameInvalid(name);
  return name;
}

/** True when `tag` is a valid tag. */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** A manifest reference from a URL: a digest or a tag. Throws DIGEST_INVALID / TAG_INVALID. */
export function parseManifestRef(ref: string): { digest?: string; tag?: string } {
  if (ref.includes(":")) {
    if (!isDigest(ref)) throw E.digestInvalid("invalid digest", { digest: ref });
    return { digest: ref };
  }
  if (!isValidTag(ref)) throw E.tagInvalid(ref);
  return { tag: ref };
}

/** Throw 400 DIGEST_INVALID unless `d` is a supported digest. */
export function checkDigest(d: string | null | undefined): string {
  if (!d || !isDigest(d)) throw E.digestInvalid("invalid digest", { digest: d ?? "" });
  return d;
}

/**
 * Split an image name `repo:tag` (as in `io.containerd.image.name` or a RepoTag) into repository
 * and tag. With `stripDomain`, a leading registry host (`docker.io/`, `ghcr.io/`, `localhost:5000/`)
 * is dropped, and `library/` too for Docker Hub, so `docker.io/library/busybox:1` is served as
 * `busybox:1`. Undefined when the name has no valid repository or tag.
 */
export function splitImageName(name: string, stripDomain: boolean): { repo: string; tag: string } | undefined {
  let n = name.split("@")[0]!;
  const slash = n.lastIndexOf("/");
  const colon = n.lastIndexOf(":");
  let tag = "latest";
  if (colon > slash) {
    tag = n.slice(colon + 1);
    n = n.slice(0, colon);
  }
  if (stripDomain) {
    const i = n.indexOf("/");
    if (i > 0) {
      const first = n.slice(0, i);
      if (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase()) {
        n = n.slice(i + 1);
        if (/^(index\.)?docker\.io$/.test(first) && n.startsWith("library/") && n.split("/").length === 2) n = n.slice(8);
      }
    }
  }
  if (!isValidName(n) || !isValidTag(tag)) return undefined;
  return { repo: n, tag };
}
