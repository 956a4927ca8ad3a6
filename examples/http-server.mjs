// node:http, unchanged, served from a ustack socket on a TAP device.
//   sudo node examples/http-server.mjs            then: curl http://10.11.0.2:8080/
import * as http from 'node:http';
import { Stack, serveHttp } from 'ustack';

const stack = await Stack.open({
  nic: process.env.USTACK_NIC ?? 'tap:ustack0',
  address: process.env.USTACK_ADDRESS ?? '10.11.0.2/24',
  hostAddress: process.env.USTACK_HOST_ADDRESS ?? '10.11.0.1/24',
});
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from ustack: ${req.method} ${req.url}\n`);
});
const listening = await serveHttp(stack.net, server, 8080);
console.log(`http on http://${stack.address}:8080/`);
process.once('SIGINT', async () => {
  listening.close();
  server.close();
  await stack.close();
});
