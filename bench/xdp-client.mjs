// Kernel-side client for the AF_XDP scenario, run inside the peer's network
// namespace (kernel sockets only):
//   ip netns exec NS node bench/xdp-client.mjs rr HOST PORT MS        TCP, one 64 B request outstanding
//   ip netns exec NS node bench/xdp-client.mjs bulk HOST PORT BYTES   TCP upload to a sink
//   ip netns exec NS node bench/xdp-client.mjs udp HOST PORT MS       UDP echo, 64 B, 32 in flight
//   ip netns exec NS node bench/xdp-client.mjs http HOST PORT MS      node:http GETs, 16 keep-alive connections (without wrk)
// Prints one JSON line: {rate,p50,p99} (µs), {gbps} or {rate}.
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';

const [mode, host, portText, arg] = process.argv.slice(2);
const port = Number(portText);
const fail = (e) => {
  console.log(JSON.stringify({ error: e.code ?? e.message }));
  process.exit(1);
};

if (mode === 'rr' || mode === 'bulk') {
  const c = net.connect(port, host);
  c.setNoDelay(true);
  c.on('error', fail);
  c.on('connect', () => (mode === 'rr' ? rr(c, Number(arg)) : bulk(c, Number(arg))));
} else if (mode === 'udp') {
  udp(Number(arg));
} else if (mode === 'http') {
  httpLoad(Number(arg));
}

function rr(c, ms) {
  const lat = new Float64Array(4_000_000);
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

function bulk(c, bytes) {
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

function udp(ms) {
  const s = dgram.createSocket('udp4');
  s.on('error', fail);
  const payload = Buffer.alloc(64, 0x62);
  let echoed = 0;
  let done = false;
  const t0 = performance.now();
  s.on('message', () => {
    echoed++;
    if (done) return;
    if (performance.now() - t0 >= ms) {
      done = true;
      console.log(JSON.stringify({ rate: echoed / ((performance.now() - t0) / 1000) }));
      s.close();
      return;
    }
    s.send(payload, port, host);
  });
  // 32 in flight; a lost datagram is replaced once a second so the window never empties.
  for (let i = 0; i < 32; i++) s.send(payload, port, host);
  const refill = setInterval(() => {
    if (done) return clearInterval(refill);
    for (let i = 0; i < 32; i++) s.send(payload, port, host);
  }, 1000);
}

function httpLoad(ms) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let n = 0;
  const t0 = performance.now();
  let live = 16;
  const one = () => {
    if (performance.now() - t0 >= ms) {
      if (--live === 0) {
        console.log(JSON.stringify({ rate: n / ((performance.now() - t0) / 1000) }));
        agent.destroy();
      }
      return;
    }
    http
      .get({ host, port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          n++;
          one();
        });
      })
      .on('error', fail);
  };
  for (let i = 0; i < 16; i++) one();
}
