// undici's fetch with a dispatcher whose connections are ustack sockets.
//   sudo node examples/fetch.mjs http://10.11.0.1:8000/
// (serve something on the host first, e.g. python3 -m http.server --bind 10.11.0.1 8000)
import { Agent, fetch } from 'undici';
import { Stack, undiciConnector } from 'ustack';

const url = process.argv[2] ?? 'http://10.11.0.1:8000/';
const stack = await Stack.open({
  nic: process.env.USTACK_NIC ?? 'tap:ustack1',
  address: process.env.USTACK_ADDRESS ?? '10.11.0.2/24',
  hostAddress: process.env.USTACK_HOST_ADDRESS ?? '10.11.0.1/24',
});
const dispatcher = new Agent({ connect: undiciConnector(stack.net) });
try {
  const res = await fetch(url, { dispatcher });
  console.log(res.status, res.headers.get('content-type'));
  console.log((await res.text()).slice(0, 400));
} finally {
  await dispatcher.close();
  await stack.close();
}
