/**
 * crane's looking, housekeeping and export operations as library functions (the CLI's `manifest`,
 * `config`, `blob`, `ls`, `catalog`, `tag`, `delete`, `inspect` and `export` are thin over these).
 */
export * from "./look.js";
export * from "./inspect.js";
export * from "./export.js";
