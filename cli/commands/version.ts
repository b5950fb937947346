/** `tcrane version`: print tcrane's version (also `--version`). */
import type { CommandModule } from "yargs";
import { version } from "../main.js";
import type { GlobalArgs } from "../globals.js";
import { printResult } from "../output.js";

const command: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "version",
  describe: "Print tcrane's version",
  builder: (y) => y.example("$0 version", "prints e.g. 0.1.0") as never,
  handler: (args) => printResult(args.json, { version: version(), node: process.version }, () => version()),
};
export default command;
