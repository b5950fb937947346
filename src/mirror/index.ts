/**
 * Scripted mirroring (`tcrane mirror SPEC`): a YAML spec parsed and validated up front, expanded into
 * (source, destination) pairs, run through the one engine with shared limits. `selectImages` gives
 * the source references a spec selects (for `save --from SPEC`).
 */
export { parseSpec, loadSpec, destinationUnder, needsTagList, MirrorSpecError } from "./spec.js";
export type { MirrorSpec, MirrorEntry, MirrorDefaults, SpecIssue } from "./spec.js";
export { planMirror, selectImages, filterTags, entryItems, tagVersion } from "./plan.js";
export type { Plan, PlanItem, PlanTarget, PlanFailure, PlanOptions } from "./plan.js";
export { parseShard, shardOf, shardKey, owns, formatShard } from "./shard.js";
export type { Shard, ShardBy } from "./shard.js";
export { readReport, mergeReports } from "./report.js";
export type { ShardReport, MergedReport, MergedShard } from "./report.js";
export { mirror, DEFAULT_IMAGE_JOBS } from "./run.js";
export type { MirrorOptions, MirrorReport, MirrorCounts, ImageOutcome, ImageStatus, RateLimitInfo } from "./run.js";
