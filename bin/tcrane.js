#!/usr/bin/env node
// dist/cli/start.js sets the CLI's V8 flags as it loads (before anything else), then runs the esbuild
// bundle through its V8 code cache (dist/bundle/tcrane.cjs, built by `npm run build`: a faster
// start), or dist/cli/main.js when the bundle is missing or older than it (see cli/start.ts).
import { start } from "../dist/cli/start.js";

// When the command is done, exit: work abandoned after a failure (other blobs, connections still
// open) must not keep the process alive. stdout/stderr writes to pipes and files are synchronous here.
start(process.argv.slice(2)).then((code) => process.exit(code));
