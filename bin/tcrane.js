#!/usr/bin/env node
import { main } from "../dist/cli/main.js";
// After a failure, work still in flight (other blobs, open connections) is abandoned: exit now
// rather than wait for it. On success the process ends by itself when everything is closed.
main(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exit(code);
});
