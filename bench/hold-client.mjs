// Child process for the idle-connection memory scenario: opens N node:net
// connections to 127.0.0.1:PORT (with "exchange": sends 64 bytes on each and
// waits for the echo), prints "held X failed Y CODE", and keeps them until
// its stdin closes.   node bench/hold-client.mjs PORT N [exchange]
import * as net from 'node:net';

const port = Number(process.argv[2]);
const n = Number(process.argv[3]);
const exchange = process.argv[4] === 'exchange';
const request = Buffer.alloc(64, 0x61);
const held = [];
let failed = 0;
let code = '';
let i = 0;
async function worker() {
  while (i < n) {
    i++;
    await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        held.push(c);
        if (!exchange) {
          resolve();
          return;
        }
        c.once('data', () => resolve());
        c.write(request);
      });
      c.once('error', (e) => {
        failed++;
        code = e.code ?? e.message;
        resolve();
      });
    });
  }
}
await Promise.all(Array.from({ length: 256 }, worker));
process.stdout.write(`held ${held.length} failed ${failed}${code ? ' ' + code : ''}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
