#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

main(process.argv).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`supervise: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
