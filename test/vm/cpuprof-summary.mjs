// Summarises a V8 .cpuprofile (node --cpu-prof) for the VM test's "account"
// scenario: self time by kind over a window of CLOCK_MONOTONIC seconds
// (/proc/uptime in the guest, which has no suspend: the same clock V8 stamps
// its samples with, in microseconds). Prints "@@PROF PATH ..." lines.
//   node cpuprof-summary.mjs PATH FILE.cpuprofile [FROM_S TO_S]
import { readFileSync } from 'node:fs';

const [path, file, from, to] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const t0 = from === undefined ? -Infinity : Number(from) * 1e6;
const t1 = to === undefined ? Infinity : Number(to) * 1e6;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
let t = prof.startTime;
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i];
  if (t < t0 || t > t1) continue;
  const dt = prof.timeDeltas[i + 1] ?? 0; // a sample stands for the time up to the next one
  const id = prof.samples[i];
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
}
// Kinds: the NIC's methods (V8 books the N-API call's native time to the
// JavaScript method that makes it); V8's own buckets; our compiled code by
// folder; node's internals.
const kindOf = (cf) => {
  const name = cf.functionName;
  if (/\/dist\/driver\/e1000-nic\.js$/.test(cf.url)) return 'E1000Nic methods (their N-API calls included)';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return 'V8/node native (program)';
  if (name === '(idle)') return 'idle';
  if (cf.url === '') return `other native (${name || 'anonymous'})`;
  const m = /\/dist\/([^/]+(?:\/[^/]+)?)\//.exec(cf.url);
  if (m && !m[1].endsWith('.js')) return `ustack ${m[1]}`;
  if (/\/dist\//.test(cf.url)) return 'ustack (top level)';
  if (cf.url.startsWith('node:')) return `node ${cf.url.replace(/^node:(internal\/)?/, '').split('/')[0]}`;
  return 'other JavaScript';
};
const kinds = new Map();
const fns = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  const k = kindOf(cf);
  kinds.set(k, (kinds.get(k) ?? 0) + us);
  const f = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')}:${cf.lineNumber + 1}`;
  fns.set(f, (fns.get(f) ?? 0) + us);
}
const pct = (us) => ((us / Math.max(1, total)) * 100).toFixed(1);
console.log(`@@PROF ${path} window ${(total / 1000).toFixed(0)} ms of samples`);
for (const [k, us] of [...kinds].sort((a, b) => b[1] - a[1])) console.log(`@@PROF ${path} kind ${pct(us)}% ${(us / 1000).toFixed(0)} ms ${k}`);
for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`@@PROF ${path} fn ${pct(us)}% ${f}`);
