/**
 * Shards: `--shard I/N` runs one deterministic part of a spec, so N processes started at once (a
 * Kubernetes Indexed Job, a CI matrix) together mirror everything the spec selects, each item once.
 *
 * The part an item belongs to is a pure function of its key and N (rendezvous, or highest random
 * weight, hashing: the shard whose sha256(key, shard) is highest wins), never of the item's position:
 * adding a repository to the spec moves nothing else, and going from N to N+1 shards moves only the
 * ≈ 1/(N+1) of the keys the new shard wins. Whatever the timing, whatever is already mirrored, every
 * process computes the same owner for every key.
 *
 * Keys: by default (`repo`) the source repository (`registry/repository`): all tags of a repository,
 * in every entry that names it, go to one shard, so that shard's copies share its layers (skipped or
 * mounted, not uploaded by N processes at once) and lists its tags alone. `tag` keys by the source
 * image (`registry/repository:tag` or `@digest`) to split one very large repository.
 */
import { createHash } from "node:crypto";
import { TcraneError } from "../errors.js";

/** What the shard key of an item is. */
export type ShardBy = "repo" | "tag";

/** One shard of a run: `index` from 0 to `count - 1`. */
export interface Shard {
  index: number;
  count: number;
  by: ShardBy;
}

/** Parse `I/N` (0 ≤ I < N). Throws USAGE naming the flag. */
export function parseShard(text: string, by: ShardBy = "repo"): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new TcraneError("USAGE", `--shard "${text}": expected I/N, e.g. 0/4 (I from 0 to N-1)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > 65536) throw new TcraneError("USAGE", `--shard "${text}": N must be from 1 to 65536`);
  if (index >= count) throw new TcraneError("USAGE", `--shard "${text}": I must be from 0 to ${count - 1}`);
  return { index, count, by };
}

/** The score of `key` for shard `i`: the first 48 bits of sha256("i\nkey"). */
function weight(key: string, i: number): number {
  return createHash("sha256").update(`${i}\n${key}`).digest().readUIntBE(0, 6);
}

/** The shard (0 … count-1) that owns `key`: the highest weight wins, the lower index on a tie. */
export function shardOf(key: string, count: number): number {
  let best = 0;
  let bestWeight = -1;
  for (let i = 0; i < count; i++) {
    const w = weight(key, i);
    if (w > bestWeight) {
      best = i;
      bestWeight = w;
    }
  }
  return best;
}

/** The shard key of an item: its source repository (`repo`) or its source image (`tag`). */
export function shardKey(source: { context: string; name: string }, by: ShardBy): string {
  return by === "repo" ? source.context : source.name;
}

/** True when `shard` (absent: the whole run) owns the item whose source is `source`. */
export function owns(shard: Shard | undefined, source: { context: string; name: string }): boolean {
  return !shard || shard.count === 1 || shardOf(shardKey(source, shard.by), shard.count) === shard.index;
}

/** `I/N`, for messages and reports. */
export function formatShard(s: Shard): string {
  return `${s.index}/${s.count}`;
}
