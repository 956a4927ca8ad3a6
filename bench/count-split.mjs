#!/usr/bin/env node
/**
 * Splits bench/count.sh's instructions per unit by function and by
 * component: the difference of two callgrind runs (N and 2N units), JIT code
 * named from node's --perf-basic-prof map of each run.
 *
 *   node bench/count-split.mjs UNITS cg.N perf-N.map cg.2N perf-2N.map [TOP]
 *
 * bench/count.sh runs it when COUNT_SPLIT=1.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [unitsArg, cgA, mapA, cgB, mapB, topArg] = process.argv.slice(2);
if (cgB === undefined) {
  console.error('usage: count-split.mjs UNITS cg.N perf-N.map cg.2N perf-2N.map [TOP]');
  process.exit(2);
}
const units = Number(unitsArg);
const top = Number(topArg ?? 40);

/** Sorted [start, end, name] ranges of a perf map; a later entry for the same range wins. */
function loadMap(file) {
  const ranges = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push([parseInt(m[1], 16), parseInt(m[1], 16) + parseInt(m[2], 16), m[3]]);
  }
  // Last entry written wins (code space reused after GC): keep the order, search backwards.
  return ranges;
}

function nameAt(ranges, addr) {
  for (let i = ranges.length - 1; i >= 0; i--) {
    const r = ranges[i];
    if (addr >= r[0] && addr < r[1]) return r[2];
  }
  return 'JIT ???';
}

/** Self cost per function name (JIT addresses resolved) of one callgrind file. */
function selfCosts(cg, map) {
  const ranges = loadMap(map);
  const out = execFileSync('callgrind_annotate', ['--threshold=100', cg], { maxBuffer: 1 << 28 }).toString();
  const costs = new Map();
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$/.exec(line);
    if (!m || m[2].startsWith('PROGRAM TOTALS')) continue;
    const ir = Number(m[1].replaceAll(',', ''));
    let name = m[2];
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]$/.exec(name);
    if (jit) name = nameAt(ranges, parseInt(jit[1], 16));
    costs.set(name, (costs.get(name) ?? 0) + ir);
  }
  return costs;
}

const COMPONENTS = [
  ['TCP', /\/src\/stack\/tcp\//],
  ['checksum (JS)', /\/src\/wire\/checksum/],
  ['wire codecs', /\/src\/wire\//],
  ['IP/Ethernet', /\/src\/stack\/iface\/|\/src\/stack\/net-stack/],
  ['driver (MemoryNic)', /\/src\/driver\//],
  ['socket layer', /\/src\/socket\//],
  ['timers', /\/src\/time\//],
  ['harness', /\/test\/helpers\/|\/bench\//],
  ['node streams', /node:internal\/streams|node:stream/],
  ['node tick queue', /node:internal\/process\/task_queues|node:internal\/async_hooks|RunMicrotasks|processTicksAndRejections/],
  ['N-API', /napi_|Napi::|v8impl|node::.*napi/i],
  ['GC', /Heap::|Scavenger|MarkCompact|Sweeper|Marking|Evacuat|ConcurrentMarking|MinorMC|Heap\w*::|GCTracer|RememberedSet|SlotSet|PageMarking/],
  ['JIT compiler', /v8::internal::compiler::|Turbofan|Maglev|interpreter::|Parser|Scanner|Compiler::|Deoptimiz/],
  ['memcpy/memmove', /memcpy|memmove|__memcpy|__memmove/],
  ['addon kernels', /ustack|copy_sum|ones_sum|bytes::/i],
  ['V8 builtins/ICs', /^Builtin:|Builtins_|^Stub:|^BytecodeHandler:/],
  ['other JS', /^(JS|LazyCompile|Function|Script|Eval):/],
];

function component(name) {
  for (const [c, re] of COMPONENTS) if (re.test(name)) return c;
  return 'other native';
}

const a = selfCosts(cgA, mapA);
const b = selfCosts(cgB, mapB);
const diff = new Map();
for (const [k, v] of b) diff.set(k, v - (a.get(k) ?? 0));
for (const [k, v] of a) if (!b.has(k)) diff.set(k, -v);

const byComp = new Map();
let total = 0;
for (const [k, v] of diff) {
  total += v;
  const c = component(k);
  byComp.set(c, (byComp.get(c) ?? 0) + v);
}
const fmt = (v) => Math.round(v / units).toLocaleString('en-US');
console.log(`instructions per unit: ${fmt(total)}`);
console.log('\nby component:');
for (const [c, v] of [...byComp].sort((x, y) => y[1] - x[1])) console.log(`${fmt(v).padStart(14)}  ${c}`);
console.log(`\ntop ${top} functions (self):`);
const short = (n) => n.replace(/file:\/\/\S*\/(src|bench|test)\//, '$1/').slice(0, 140);
for (const [k, v] of [...diff].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  console.log(`${fmt(v).padStart(14)}  ${component(k).padEnd(18)} ${short(k)}`);
}
