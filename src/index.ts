/**
 * tcrane's library entry: everything the CLI does is reachable from here with types.
 */
export * from "./reference/index.js";
export * from "./image/mediatypes.js";
export * from "./image/manifest.js";
export * from "./image/platform.js";
export * from "./image/compression.js";
