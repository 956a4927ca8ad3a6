// Kernel-side client for scenario 8 (bench/shards.ts), many connections at once:
//   node bench/shards-client.mjs rr HOST PORT CONNS MS      64 B ping-pong on each connection
//   node bench/shards-client.mjs bulk HOST PORT CONNS BYTES  upload BYTES on each connection
// Prints one JSON line: {rate,p50,p99} (transactions/s over all connections,
// latency µs) or {gbps} (all connections together).
import * as net from 'node:net';

const [mode, host, portText, connsText, argText] = process.argv.slice(2);
const port = Number(portText);
const conns = Number(connsText);
const arg = Number(argText);

function open() {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host, () => resolve(c));
    c.setNoDelay(true);
    c.once('error', reject);
  });
}

const sockets = await Promise.all(Array.from({ length: conns }, open)).catch((e) => {
  console.log(JSON.stringify({ error: e.code ?? e.message }));
  process.exit(1);
});

if (mode === 'rr') {
  const lat = new Float64Array(4_000_000);
  let n = 0;
  let live = conns;
  const payload = Buffer.alloc(64, 0x61);
  const t0 = performance.now();
  await new Promise((resolve) => {
    for (const c of sockets) {
      let got = 0;
      let sent = performance.now();
      c.on('data', (d) => {
        got += d.length;
        if (got < 64) return;
        got -= 64;
        const now = performance.now();
        if (n < lat.length) lat[n++] = now - sent;
        if (now - t0 >= arg) {
          c.destroy();
          if (--live === 0) resolve();
          return;
        }
        sent = now;
        c.write(payload);
      });
      c.write(payload);
    }
  });
  const secs = (performance.now() - t0) / 1000;
  const s = lat.slice(0, n).sort();
  const pct = (p) => s[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)] * 1000;
  console.log(JSON.stringify({ rate: n / secs, p50: pct(50), p99: pct(99) }));
} else {
  const block = Buffer.alloc(1 << 20, 0x5a);
  const t0 = performance.now();
  await Promise.all(
    sockets.map(
      (c) =>
        new Promise((resolve) => {
          let sent = 0;
          c.resume();
          c.on('end', resolve);
          c.on('error', resolve);
          const pump = () => {
            while (sent < arg) {
              const len = Math.min(block.length, arg - sent);
              sent += len;
              if (!c.write(len === block.length ? block : block.subarray(0, len))) return void c.once('drain', pump);
            }
            c.end();
          };
          pump();
        }),
    ),
  );
  const secs = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ gbps: (arg * conns * 8) / secs / 1e9 }));
}
process.exit(0);
