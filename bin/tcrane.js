#!/usr/bin/env node
import { main } from "../dist/cli/main.js";
// When the command is done, exit: work abandoned after a failure (other blobs, connections still
// open) must not keep the process alive. stdout/stderr writes to pipes and files are synchronous here.
main(process.argv.slice(2)).then((code) => process.exit(code));
