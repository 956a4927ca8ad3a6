// A TypeScript consumer, compiled with `tsc --strict --noEmit` against the
// package's own declarations (module NodeNext, as a node project sets it).
import { Stack, type StackOptions, type StackStats, type UstackSocket, serveHttp } from 'ustack';
import net from 'ustack/net';
import * as dgram from 'ustack/dgram';

const opts: StackOptions = { nic: 'tap:ustack0', address: '10.11.0.2/24', hostAddress: '10.11.0.1/24' };

export async function roundTrip(): Promise<number> {
  const [a, b] = await Stack.pair({ loss: 0.01, seed: 1 });
  const server = b.net.createServer((s: UstackSocket) => s.pipe(s));
  server.listen(7);
  const sock = a.net.connect(7, b.address);
  const n: number = await new Promise<number>((resolve) => sock.once('data', (d: Buffer) => resolve(d.length)));
  const stats: StackStats = a.stats();
  void stats;
  await a.close();
  await b.close();
  return n;
}

export function loopback(): void {
  const s = net.createServer((c) => c.end('hi'));
  s.listen(0, '127.0.0.1', () => {
    const addr = s.address();
    if (addr !== null && typeof addr === 'object') net.connect(addr.port, '127.0.0.1').on('data', (d: Buffer) => d.toString());
  });
  const u: dgram.Socket = dgram.createSocket('udp4');
  u.close();
}

export const open = (): Promise<Stack> => Stack.open(opts);
export { serveHttp };
