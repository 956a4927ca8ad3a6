// Kernel-side client for the TAP scenario, run inside a network namespace:
//   ip netns exec NS node bench/tap-client.mjs rr HOST PORT MS
//   ip netns exec NS node bench/tap-client.mjs bulk HOST PORT BYTES
// Prints one JSON line: {rate,p50,p99} (µs) or {gbps}.
import * as net from 'node:net';

const [mode, host, portText, arg] = process.argv.slice(2);
const port = Number(portText);
const c = net.connect(port, host);
c.setNoDelay(true);
c.on('error', (e) => {
  console.log(JSON.stringify({ error: e.code ?? e.message }));
  process.exit(1);
});
c.on('connect', () => (mode === 'rr' ? rr(Number(arg)) : bulk(Number(arg))));

function rr(ms) {
  const lat = new Float64Array(2_000_000);
  const payload = Buffer.alloc(64, 0x61);
  let n = 0;
  let got = 0;
  const t0 = performance.now();
  let sent = t0;
  c.on('data', (d) => {
    got += d.length;
    if (got < 64) return;
    got -= 64;
    const now = performance.now();
    lat[n++] = now - sent;
    if (now - t0 >= ms || n === lat.length) {
      const s = lat.slice(0, n).sort();
      const pct = (p) => s[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)] * 1000;
      console.log(JSON.stringify({ rate: n / ((now - t0) / 1000), p50: pct(50), p99: pct(99) }));
      c.destroy();
      return;
    }
    sent = now;
    c.write(payload);
  });
  c.write(payload);
}

function bulk(bytes) {
  const block = Buffer.alloc(1 << 20, 0x5a);
  let sent = 0;
  const t0 = performance.now();
  c.resume();
  c.on('end', () => {
    const secs = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ gbps: (bytes * 8) / secs / 1e9 }));
    c.destroy();
  });
  const pump = () => {
    while (sent < bytes) {
      const len = Math.min(block.length, bytes - sent);
      sent += len;
      if (!c.write(len === block.length ? block : block.subarray(0, len))) return void c.once('drain', pump);
    }
    c.end();
  };
  pump();
}
