#!/usr/bin/env node
// The `ustack` command: compiled TypeScript lives in dist/ (built by `npm install`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ustack: ${err && err.message ? err.message : err}\n`);
    process.exitCode = 1;
  },
);
