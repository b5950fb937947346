/**
 * htpasswd Basic authentication for the embedded registry. Only bcrypt entries (`$2y$`, `$2a$`,
 * `$2b$`, what `htpasswd -B` writes and distribution accepts) are supported; they are verified with
 * bcryptjs (pure JS: Node has no bcrypt). Successful checks are remembered by a sha256 of the
 * credentials so bcrypt's deliberate slowness is paid once per client, not once per request.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import bcrypt from "bcryptjs";
import { TcraneError } from "../errors.js";

/** Checks `Authorization: Basic` headers against an htpasswd file. */
export class Htpasswd {
  private readonly ok = new Set<string>();
  private constructor(private readonly users: Map<string, string>) {}

  /** Read an htpasswd file. Throws MALFORMED for a non-bcrypt entry, NOT_FOUND when missing. */
  static async load(path: string): Promise<Htpasswd> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw new TcraneError("NOT_FOUND", "cannot read htpasswd file", { what: path, cause: err });
    }
    const users = new Map<string, string>();
    for (const [i, raw] of text.split(/\r?\n/).entries()) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const c = line.indexOf(":");
      const user = line.slice(0, c);
      const hash = line.slice(c + 1);
      if (c <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new TcraneError("MALFORMED", `line ${i + 1}: only bcrypt entries are supported (htpasswd -B)`, { what: path });
      }
      users.set(user, hash.replace(/^\$2y\$/, "$2b$"));
    }
    return new Htpasswd(users);
  }

  /** True when the Authorization header carries a known user and the right password. */
  async check(authorization: string | undefined): Promise<boolean> {
    const m = /^basic\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
    const c = decoded.indexOf(":");
    if (c <= 0) return false;
    const user = decoded.slice(0, c);
    const hash = this.users.get(user);
    if (!hash) return false;
    const key = createHash("sha256").update(decoded).digest("hex");
    if (this.ok.has(key)) return true;
    const good = await bcrypt.compare(decoded.slice(c + 1), hash);
    if (good) this.ok.add(key);
    return good;
  }
}
