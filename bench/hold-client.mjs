// Child process for the idle-connection memory scenario: opens N node:net
// connections to 127.0.0.1:PORT, prints "held X failed Y CODE", and keeps them
// until its stdin closes.   node bench/hold-client.mjs PORT N
import * as net from 'node:net';

const port = Number(process.argv[2]);
const n = Number(process.argv[3]);
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
        resolve();
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
