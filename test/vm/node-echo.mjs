// TCP and UDP echo on the guest kernel's own stack (node:net / node:dgram), the
// reference the VM test times ustack against.
import net from 'node:net';
import dgram from 'node:dgram';

const port = Number(process.argv[2] ?? 7);
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  s.pipe(s);
});
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
udp.bind(port, '0.0.0.0');
server.listen(port, '0.0.0.0', () => process.stdout.write(`node echo listening on ${port}\n`));
// A normal exit on a signal, so node --cpu-prof writes its profile (the account scenario).
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
