// A ws WebSocket echo server on ustack, and a ws client on the same stack's loopback.
//   node examples/ws-echo.mjs        (needs no device: it uses 127.0.0.1 inside ustack)
import * as http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { Stack, serveHttp } from 'ustack';

const stack = await Stack.open(); // loopback only
const server = http.createServer();
new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
const listening = await serveHttp(stack.net, server, 9000, '127.0.0.1');

const ws = new WebSocket('ws://127.0.0.1:9000/', { createConnection: () => stack.net.connect(9000, '127.0.0.1') });
ws.on('open', () => ws.send('hello over ustack'));
ws.on('message', async (m) => {
  console.log('echoed:', m.toString());
  ws.close();
  listening.close();
  server.close();
  await stack.close();
});
