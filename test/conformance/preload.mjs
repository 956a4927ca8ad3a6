/**
 * Loaded with `node --import` before each of node's own tests: `net`,
 * `node:net`, `dgram` and `node:dgram` resolve to ustack's drop-ins
 * (`ustack/net`, `ustack/dgram`, the package's own exports on the default
 * loopback stack), for `require` (a Module._load hook) and `import` (a
 * module.register resolve hook) alike. node's own modules (http, tls...)
 * keep node's net: they load it through node's internal require, which no
 * hook sees. ustack's own files keep node's modules too (they build on them).
 * The `import` hook is registered for ES module entry points only (below).
 *
 * Deliberately minimal: it exists to measure ustack/net and ustack/dgram
 * against node's tests. It adds no globals (node's test/common checks for
 * leaked ones at exit).
 */
import Module, { register } from 'node:module';

const net = await import('ustack/net');
const dgram = await import('ustack/dgram');
const netUrl = import.meta.resolve('ustack/net');
const dgramUrl = import.meta.resolve('ustack/dgram');
// Everything under the package's dist/ is ustack itself.
const ustackDir = new URL('.', new URL('..', netUrl)).href;

const redirect = { net: net.default, 'node:net': net.default, dgram: dgram.default, 'node:dgram': dgram.default };
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (Object.hasOwn(redirect, request)) return redirect[request];
  return load.call(this, request, parent, isMain);
};

// The import() hook runs on a loader thread, which costs a third of a second
// per process: registered when the entry point is an ES module (every
// selected CommonJS test uses require(), none import()s net or dgram).
if (/\.m[jt]s$/.test(process.argv[1] ?? '')) {
  register(new URL('./preload-hooks.mjs', import.meta.url), { data: { netUrl, dgramUrl, ustackDir } });
}
