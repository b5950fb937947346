/**
 * Parsing of crane's list-valued flags for the editing commands: string slices (repeatable and
 * comma-separated, as cobra's StringSlice) and key=value maps (cobra's StringToString).
 */
import { TcraneError } from "../errors.js";

/** Normalize a repeatable flag value (yargs gives a string or an array) to an array. */
export function many(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/**
 * cobra StringSlice: every occurrence split on commas (`-f a.tar,b.tar -f c.tar`). A value that is
 * a JSON array of strings (`--entrypoint '["/bin/sh","-c"]'`) is taken as is.
 */
export function stringSlice(v: string | string[] | undefined): string[] {
  const out: string[] = [];
  for (const s of many(v)) {
    const t = s.trim();
    if (t.startsWith("[")) {
      try {
        const j = JSON.parse(t) as unknown;
        if (Array.isArray(j) && j.every((x) => typeof x === "string")) {
          out.push(...(j as string[]));
          continue;
        }
      } catch {
        /* not JSON: split on commas */
      }
    }
    out.push(...s.split(",").filter((x) => x !== ""));
  }
  return out;
}

/**
 * cobra StringToString: `k=v` pairs, repeatable, several per occurrence separated by commas when
 * every piece has an `=` (so a value may itself hold commas). `allowEmpty` false ⇒ an empty value
 * is an error (crane's labels and annotations).
 */
export function keyValues(v: string | string[] | undefined, flag: string, allowEmpty = true): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of many(v)) {
    const pieces = s.split(",");
    const pairs = pieces.every((p) => p.includes("=")) ? pieces : [s];
    for (const p of pairs) {
      const i = p.indexOf("=");
      if (i <= 0) throw new TcraneError("USAGE", `--${flag} takes KEY=VALUE, got "${p}"`);
      const key = p.slice(0, i);
      const value = p.slice(i + 1);
      if (!allowEmpty && value === "") throw new TcraneError("USAGE", `--${flag} ${key}: the value is empty`);
      out[key] = value;
    }
  }
  return out;
}
