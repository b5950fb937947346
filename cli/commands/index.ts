/**
 * The registered commands, loaded lazily: `tcrane copy …` imports only the copy command (and what it
 * needs), which keeps start-up short; `--help`, completion and unknown words load them all.
 * Register only commands that work: no stubs. Each module exports a yargs CommandModule as `default`.
 */
import type { CommandModule } from "yargs";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandModule<any, any>;
type Loader = () => Promise<{ default: AnyCommand }>;

/** First word (or alias) ⇒ module, in the order `--help` lists them. */
export const commandLoaders: Record<string, Loader> = {
  copy: () => import("./copy.js"),
  pull: () => import("./pull.js"),
  push: () => import("./push.js"),
  save: () => import("./save.js"),
  validate: () => import("./validate.js"),
  mirror: () => import("./mirror.js"),
  digest: () => import("./digest.js"),
  manifest: () => import("./manifest.js"),
  config: () => import("./config.js"),
  blob: () => import("./blob.js"),
  ls: () => import("./ls.js"),
  catalog: () => import("./catalog.js"),
  inspect: () => import("./inspect.js"),
  tag: () => import("./tag.js"),
  delete: () => import("./delete.js"),
  export: () => import("./export.js"),
  append: () => import("./append.js"),
  mutate: () => import("./mutate.js"),
  flatten: () => import("./flatten.js"),
  rebase: () => import("./rebase.js"),
  index: () => import("./index-cmd.js"),
  auth: () => import("./auth.js"),
  registry: () => import("./registry.js"),
  browse: () => import("./browse.js"),
  ref: () => import("./ref.js"),
  version: () => import("./version.js"),
};

/** Aliases ⇒ their command's word. */
const aliases: Record<string, string> = { cp: "copy" };

/** Load the command `argv` names, or every command when none is named. */
export async function loadCommands(argv: string[]): Promise<AnyCommand[]> {
  const word = argv.find((a) => !a.startsWith("-") && (Object.hasOwn(commandLoaders, a) || Object.hasOwn(aliases, a)));
  const names = word ? [aliases[word] ?? word] : Object.keys(commandLoaders);
  return Promise.all(names.map(async (n) => (await commandLoaders[n]!()).default));
}
