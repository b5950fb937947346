/**
 * The list of registered commands. Register only commands that work: no stubs.
 * Each module exports a yargs CommandModule as `default`.
 */
import type { CommandModule } from "yargs";

// One import line per command module, kept sorted.
// (commands are added here by their modules)
import append from "./append.js";
import auth from "./auth.js";
import blob from "./blob.js";
import catalog from "./catalog.js";
import config from "./config.js";
import copy from "./copy.js";
import del from "./delete.js";
import digest from "./digest.js";
import exportCmd from "./export.js";
import flatten from "./flatten.js";
import indexCmd from "./index-cmd.js";
import inspect from "./inspect.js";
import ls from "./ls.js";
import manifest from "./manifest.js";
import mirror from "./mirror.js";
import mutate from "./mutate.js";
import pull from "./pull.js";
import push from "./push.js";
import rebase from "./rebase.js";
import tag from "./tag.js";
import ref from "./ref.js";
import registry from "./registry.js";
import save from "./save.js";
import validate from "./validate.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [copy, pull, push, save, validate, digest, auth, ref, registry, blob, catalog, config, del, exportCmd, inspect, ls, manifest, mirror, tag, append, mutate, flatten, rebase, indexCmd];
