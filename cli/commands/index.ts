/**
 * The list of registered commands. Register only commands that work: no stubs.
 * Each module exports a yargs CommandModule as `default`.
 */
import type { CommandModule } from "yargs";

// One import line per command module, kept sorted.
// (commands are added here by their modules)

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [];
