#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

/**
 * Resolves once everything written to `stream` so far has left the process.
 * A pipe's writes are asynchronous: exiting right after a large write (`ctl
 * status --json | jq` with hundreds of workers) would cut the output at the
 * pipe's 64 KiB. A reader that went away (EPIPE) counts as flushed.
 */
function flushed(stream) {
  return new Promise((resolve) => {
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}

async function exit(code) {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

main(process.argv).then(exit, (error) => {
  process.stderr.write(`supervise: internal error: ${error && error.stack ? error.stack : error}\n`);
  return exit(1);
});
