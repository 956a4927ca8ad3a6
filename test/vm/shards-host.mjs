// The host's side of the VM test's shards-virtio scenario (run.mjs): echo
// clients from the host kernel to `ustack echo --workers 2` in the guest,
// each client's worker predicted as the owner steers a new flow (the
// Toeplitz hash of its 4-tuple, Microsoft's RSS key, through the owner's
// 128-entry indirection table), and a tcpdump of the RST and FIN segments
// the guest sends (the wire judges a reset, as test/interop/shards-tap does).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const RSS_KEY = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
  0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** The RSS Toeplitz hash (the bitwise definition) of `data`. */
function toeplitz(data) {
  let result = 0;
  for (let i = 0; i < data.length; i++) {
    for (let b = 0; b < 8; b++) {
      if ((data[i] & (0x80 >>> b)) === 0) continue;
      const bit = i * 8 + b;
      const byte = bit >>> 3;
      const shift = bit & 7;
      const hi = ((RSS_KEY[byte] << 24) | (RSS_KEY[byte + 1] << 16) | (RSS_KEY[byte + 2] << 8) | RSS_KEY[byte + 3]) >>> 0;
      const window = shift === 0 ? hi : ((hi << shift) | (RSS_KEY[byte + 4] >>> (8 - shift))) >>> 0;
      result = (result ^ window) >>> 0;
    }
  }
  return result;
}

const ipv4 = (s) => s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);

/** The worker place the owner steers a new flow from host:sport to guest:dport to. */
export function placeOf(reta, host, guest, sport, dport) {
  const d = Buffer.alloc(12);
  d.writeUInt32BE(ipv4(host), 0);
  d.writeUInt32BE(ipv4(guest), 4);
  d.writeUInt16BE(sport, 8);
  d.writeUInt16BE(dport, 10);
  return reta[toeplitz(d) & 127];
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

/**
 * One echo client: `size` random bytes in 16 KiB writes, never more than
 * `window` ahead of the echo, the echo compared by SHA-256 when the socket
 * closes. Resolves (never rejects) with { localPort, place, ok, ended, error, echoed }.
 * `onEchoed(n)` sees the running count.
 */
// `gate` (a promise) holds the writer once it has sent `gateAt` bytes, until it resolves.
export function echoClient({ host, guest, port, size, reta, window = 64 * 1024, onEchoed, timeoutMs = 600_000, gate, gateAt = 0 }) {
  const data = randomBytes(size);
  const chunks = [];
  let echoed = 0;
  let localPort = 0;
  let error;
  let ended = false;
  return new Promise((resolve) => {
    const s = net.connect({ port, host: guest, allowHalfOpen: true });
    const timer = setTimeout(() => {
      error ??= 'timeout';
      s.destroy();
    }, timeoutMs);
    let wake = null;
    const kick = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    s.on('connect', () => {
      localPort = s.localPort ?? 0;
      void (async () => {
        for (let off = 0; off < size && !s.destroyed; ) {
          if (gate !== undefined && off >= gateAt) {
            await gate;
            gate = undefined;
            continue;
          }
          if (off - echoed >= window) {
            await new Promise((r) => (wake = r));
            continue;
          }
          const ok = s.write(data.subarray(off, Math.min(size, off + 16384)));
          off += 16384;
          if (!ok) await new Promise((r) => (wake = r));
        }
        if (!s.destroyed) s.end();
      })();
    });
    s.on('drain', kick);
    s.on('data', (d) => {
      chunks.push(d);
      echoed += d.length;
      onEchoed?.(echoed);
      kick();
    });
    s.on('end', () => {
      ended = true;
      s.end();
    });
    s.on('error', (e) => (error ??= e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(timer);
      kick();
      const back = Buffer.concat(chunks);
      const ok = error === undefined && ended && back.length === size && sha(back) === sha(data);
      resolve({ localPort, place: placeOf(reta, host, guest, localPort, port), ok, ended, echoed, closedAt: Date.now(), ...(error !== undefined ? { error } : {}) });
    });
  });
}

/**
 * tcpdump of the RST and FIN segments the guest sends on `ifname`; stop()
 * resolves with the client ports of each, and when each port saw its first
 * RST (rstAt: epoch ms, from tcpdump's -tt timestamps).
 */
export function captureResets(ifname, guest) {
  const p = spawn('tcpdump', ['-i', ifname, '-nn', '-l', '-tt', `src host ${guest} and tcp[tcpflags] & (tcp-rst|tcp-fin) != 0`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d.toString()));
  const listening = new Promise((res) => {
    p.stderr.on('data', (d) => {
      err += d.toString();
      if (err.includes('listening')) res();
    });
    setTimeout(res, 5000);
  });
  p.on('error', () => {});
  const exited = new Promise((res) => p.on('exit', res));
  return {
    listening,
    async stop() {
      await new Promise((r) => setTimeout(r, 1000)); // the last lines
      p.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      const rst = new Set();
      const fin = new Set();
      const rstAt = new Map();
      for (const line of out.split('\n')) {
        const m = /^(\d+\.\d+) .* > [\d.]+\.(\d+): Flags \[([^\]]*)\]/.exec(line);
        if (m === null) continue;
        const p = Number(m[2]);
        if (m[3].includes('R')) {
          rst.add(p);
          if (!rstAt.has(p)) rstAt.set(p, Math.round(Number(m[1]) * 1000));
        }
        if (m[3].includes('F')) fin.add(p);
      }
      return { rst, fin, rstAt };
    },
  };
}
