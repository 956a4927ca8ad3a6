#!/usr/bin/env node
// The package's `install` script: builds the native addon with node-gyp.
//
// A machine without a C++ toolchain still gets a working install: loopback,
// Stack.pair and MemoryNic run in JavaScript alone; TAP, e1000, virtio-net, AF_XDP
// NICs and worker shards need the addon. So a failed build prints one message saying what is
// missing and how to build it later, and the install succeeds — unless
// USTACK_ADDON_REQUIRED=1 (the project's own CI and `npm run build`), which
// makes it fail.
//
// node-gyp: the one npm puts on PATH for install scripts (npm bundles it),
// else npm_config_node_gyp, else this package's devDependency.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function nodeGypCommand() {
  const probe = spawnSync('node-gyp', ['--version'], { stdio: 'ignore' });
  if (!probe.error && probe.status === 0) return ['node-gyp'];
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(local)) return [process.execPath, local];
  return null;
}

const cmd = nodeGypCommand();
let why;
if (cmd === null) {
  why = 'node-gyp was not found (npm bundles it for install scripts; or: npm install -g node-gyp)';
} else {
  const r = spawnSync(cmd[0], [...cmd.slice(1), 'rebuild'], { cwd: root, stdio: 'inherit' });
  if (r.error) why = `node-gyp could not run: ${r.error.message}`;
  else if (r.status !== 0) why = `node-gyp rebuild failed (exit code ${r.status ?? r.signal}; its output is above)`;
}

if (why !== undefined) {
  process.stderr.write(
    `\nustack: the native addon was not built: ${why}.\n` +
      'ustack: TAP, e1000, virtio-net and AF_XDP NICs and worker shards need it; loopback, Stack.pair and MemoryNic work without it.\n' +
      'ustack: to build it, install python3, make and a C++17 compiler (Debian: apt-get install python3 make g++),\n' +
      `ustack: then run \`npm rebuild ustack\` (or \`npx node-gyp rebuild\` in ${root}).\n\n`,
  );
  process.exitCode = process.env.USTACK_ADDON_REQUIRED === '1' ? 1 : 0;
}
