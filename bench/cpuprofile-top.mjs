// Summarises a V8 .cpuprofile: the top functions by self time (and the
// source location of each).   node bench/cpuprofile-top.mjs FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';

export function topSelf(file, n = 15) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map();
  const dt = p.timeDeltas;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]);
    const d = dt[i] ?? 0;
    total += d;
    const cf = node.callFrame;
    const url = (cf.url || '').replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
    const key = `${cf.functionName || '(anonymous)'}  ${url ? `${url}:${cf.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + d);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { total, rows: rows.map(([k, v]) => ({ fn: k, ms: v / 1000, pct: (100 * v) / total })) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { total, rows } = topSelf(process.argv[2], Number(process.argv[3] ?? 15));
  console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
  for (const r of rows) console.log(`${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms  ${r.fn}`);
}
