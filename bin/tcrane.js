#!/usr/bin/env node
import { statSync } from "node:fs";
import v8 from "node:v8";

// Keep V8's young generation at its initial size: chunks of finished blobs (socket reads, file
// reads) are then freed by frequent cheap scavenges instead of piling up between rare ones (peak
// RSS of a 1 GiB copy 5–15 MiB lower, no slower). Set here, before anything else is loaded, and only
// for the CLI: library users keep their own process settings.
v8.setFlagsFromString("--semi-space-growth-factor=1");
// undici parses HTTP with llhttp compiled to WebAssembly. V8 first compiles it with its baseline
// compiler, then, once the parser is hot (a few dozen responses), recompiles it with TurboFan on a
// background thread: ~80 ms of CPU, and the process cannot exit until that compile is done (a mount
// copy took 0.24 s instead of 0.17 s). Parsing is per response (bodies pass by length), so the faster
// code never pays for that compile in a CLI run; the budget is raised so that only runs of ~10^4 responses or more tier up.
v8.setFlagsFromString("--wasm-tiering-budget=1000000000");

// Run the esbuild bundle (dist/bundle, built by `npm run build`: a faster start) unless it is missing
// or older than dist/cli/main.js (tsc rebuilt the CLI since: the bundle is stale), else dist/cli.
const cli = new URL("../dist/cli/main.js", import.meta.url);
const bundle = new URL("../dist/bundle/main.js", import.meta.url);
const b = statSync(bundle, { throwIfNoEntry: false });
const c = b && statSync(cli, { throwIfNoEntry: false });
const { main } = await import((b && (!c || b.mtimeMs >= c.mtimeMs) ? bundle : cli).href);
// When the command is done, exit: work abandoned after a failure (other blobs, connections still
// open) must not keep the process alive. stdout/stderr writes to pipes and files are synchronous here.
main(process.argv.slice(2)).then((code) => process.exit(code));
