// An ESM consumer of the installed package: Stack.pair echoes bytes over TCP
// between two stacks, `ustack/net` echoes on the default (loopback) stack,
// `ustack/dgram` answers a datagram. Prints one JSON line with what it saw.
import { createHash, randomBytes } from 'node:crypto';
import { Stack } from 'ustack';
import net from 'ustack/net';
import dgram from 'ustack/dgram';

const sha = (b) => createHash('sha256').update(b).digest('hex');

/** Sends `data` to an echo server at port/host through `connect` and resolves with what came back. */
function echoThrough(connect, port, host, data) {
  return new Promise((resolve, reject) => {
    const back = [];
    const c = connect(port, host, () => c.end(data));
    c.on('data', (d) => back.push(d));
    c.on('end', () => resolve(Buffer.concat(back)));
    c.on('error', reject);
  });
}

function echoServer(netModule) {
  return netModule.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
}

const data = randomBytes(256 * 1024);

const [a, b] = await Stack.pair();
const pairServer = echoServer(b.net);
await new Promise((r) => pairServer.listen(7, r));
const pairBack = await echoThrough(a.net.connect, 7, b.address, data);
pairServer.close();
await a.close();
await b.close();

const loServer = echoServer(net);
await new Promise((r) => loServer.listen(0, '127.0.0.1', r));
const loBack = await echoThrough(net.connect, loServer.address().port, '127.0.0.1', data);
loServer.close();

const udp = dgram.createSocket('udp4');
await new Promise((r) => udp.bind(0, '127.0.0.1', r));
udp.on('message', (m, rinfo) => udp.send(m, rinfo.port, rinfo.address));
const client = dgram.createSocket('udp4');
const reply = await new Promise((r) => {
  client.on('message', (m) => r(m.toString()));
  client.send('hello ustack', udp.address().port, '127.0.0.1');
});
client.close();
udp.close();

console.log(JSON.stringify({
  node: process.version,
  pair: { sent: data.length, back: pairBack.length, same: sha(pairBack) === sha(data), server: b.address },
  loopback: { back: loBack.length, same: sha(loBack) === sha(data) },
  udp: reply,
}));
