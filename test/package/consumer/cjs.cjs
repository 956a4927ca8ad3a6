// A CommonJS consumer: require('ustack') and require('ustack/net') load the
// ESM package through node's require(esm) (node 20.19+, 22.12+, 24). Echoes
// bytes between two stacks of Stack.pair and on the default loopback stack.
'use strict';
const { createHash, randomBytes } = require('node:crypto');
const { Stack } = require('ustack');
const net = require('ustack/net');

const sha = (b) => createHash('sha256').update(b).digest('hex');

function echoThrough(connect, port, host, data) {
  return new Promise((resolve, reject) => {
    const back = [];
    const c = connect(port, host, () => c.end(data));
    c.on('data', (d) => back.push(d));
    c.on('end', () => resolve(Buffer.concat(back)));
    c.on('error', reject);
  });
}

async function main() {
  const data = randomBytes(64 * 1024);
  const [a, b] = await Stack.pair();
  const server = b.net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise((r) => server.listen(7, r));
  const pairBack = await echoThrough(a.net.connect, 7, b.address, data);
  server.close();
  await a.close();
  await b.close();

  const lo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise((r) => lo.listen(0, '127.0.0.1', r));
  const loBack = await echoThrough(net.connect, lo.address().port, '127.0.0.1', data);
  lo.close();

  console.log(JSON.stringify({
    node: process.version,
    netIsFunctionBag: typeof net.createServer === 'function' && typeof net.connect === 'function',
    pair: { back: pairBack.length, same: sha(pairBack) === sha(data) },
    loopback: { back: loBack.length, same: sha(loBack) === sha(data) },
  }));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
