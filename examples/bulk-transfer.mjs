// Two stacks on an in-process link with impairments: send N MiB one way and
// check it arrived intact.   node examples/bulk-transfer.mjs [MiB] [loss]
import { createHash, randomBytes } from 'node:crypto';
import { Stack } from 'ustack';

const mib = Number(process.argv[2] ?? 64);
const loss = Number(process.argv[3] ?? 0.01);
const [a, b] = await Stack.pair({ loss, reorder: 0.01, seed: 1 });
const block = randomBytes(1 << 20);
const want = createHash('sha256');
for (let i = 0; i < mib; i++) want.update(block);

const server = b.net.createServer((sock) => {
  const got = createHash('sha256');
  let bytes = 0;
  const t0 = performance.now();
  sock.on('data', (d) => {
    got.update(d);
    bytes += d.length;
  });
  sock.on('end', async () => {
    const secs = (performance.now() - t0) / 1000;
    const ok = got.digest('hex') === want.digest('hex');
    console.log(`${bytes} bytes in ${secs.toFixed(2)} s = ${((bytes * 8) / secs / 1e6).toFixed(0)} Mbit/s, loss ${loss}, sha256 ${ok ? 'equal' : 'DIFFERENT'}`);
    sock.end();
    server.close();
    await a.close();
    await b.close();
  });
});
server.listen(5001, () => {
  const c = a.net.connect(5001, b.address, () => {
    let i = 0;
    const pump = () => {
      while (i < mib) {
        i++;
        if (!c.write(block)) return void c.once('drain', pump);
      }
      c.end();
    };
    pump();
  });
  c.resume();
});
