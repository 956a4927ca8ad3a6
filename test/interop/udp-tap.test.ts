/**
 * ustack's dgram sockets on a TAP device with the Linux kernel's UDP as the
 * peer (node:dgram on the host side): echo both ways (including datagrams
 * the IP layer fragments), broadcast with and without setBroadcast,
 * connected sockets (send without an address, filtering other senders), and
 * the kernel's ICMP port unreachable surfacing as ECONNREFUSED on a
 * connected ustack socket.
 */
import hostDgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { ensureTools, freeSubnet24, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['ip']);
if (skipReason !== undefined) console.log(`[udp-tap.test] skipping: ${skipReason}`);

type Sock = hostDgram.Socket;
/** Upper bound on waiting for one event or datagram on this link. */
const EVENT_MS = 10_000;
/** The next `ev` from `em`, or an error naming it after EVENT_MS. */
const once = <T extends unknown[]>(em: { once: (e: string, f: (...a: any[]) => void) => unknown }, ev: string, what = ''): Promise<T> =>
  withTimeout(
    new Promise<T>((r) => em.once(ev, (...a: any[]) => r(a as T))),
    { timeoutMs: EVENT_MS, what: `'${ev}'${what ? ` (${what})` : ''}` },
  );

describe.skipIf(skipReason !== undefined)('ustack dgram over TAP against the kernel', () => {
  let stack: Stack;
  let ifname: string;
  let host: string;
  let ours: string;
  let bcast: string;
  const open: Array<{ close: () => unknown }> = [];
  const track = <T extends { close: () => unknown }>(s: T): T => {
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    const net = freeSubnet24();
    host = `10.11.${net}.1`;
    ours = `10.11.${net}.2`;
    bcast = `10.11.${net}.255`;
    ifname = uniqueIfName('usu');
    stack = await Stack.open({ nic: `tap:${ifname}`, address: `${ours}/24`, hostAddress: `${host}/24` });
  });

  afterAll(async () => {
    for (const s of open) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    await stack?.close();
  });

  async function hostSocket(address = host): Promise<Sock> {
    const s = track(hostDgram.createSocket('udp4'));
    s.bind(0, address);
    await once(s, 'listening');
    return s;
  }

  it('echoes datagrams the host sends (sizes up to a fragmented 8000 bytes)', async () => {
    const echo = track(stack.dgram.createSocket('udp4'));
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    echo.bind(7007, ours);
    await once(echo, 'listening');
    const h = await hostSocket();
    const sizes = [0, 1, 100, 1472, 1473, 3000, 8000];
    const got: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      h.on('message', (m, rinfo) => {
        expect(rinfo.address).toBe(ours);
        expect(rinfo.port).toBe(7007);
        got.push(m);
        if (got.length === sizes.length) resolve();
      }),
    );
    for (const n of sizes) {
      h.send(Buffer.alloc(n, n & 0xff), 7007, ours);
      await new Promise((r) => setTimeout(r, 10));
    }
    await withTimeout(all, { timeoutMs: EVENT_MS, what: `${sizes.length} echoes from ${ours}:7007`, detail: () => `got sizes [${got.map((b) => b.length).join(', ')}]` });
    expect(got.map((b) => b.length).sort((a, b) => a - b)).toEqual(sizes);
    for (const b of got) expect(b.every((x) => x === (b.length & 0xff))).toBe(true);
  });

  it("sends to a kernel node:dgram echo server and receives the echoes", async () => {
    const srv = await hostSocket();
    srv.on('message', (m, rinfo) => srv.send(m, rinfo.port, rinfo.address));
    const c = track(stack.dgram.createSocket('udp4'));
    const replies: string[] = [];
    const done = new Promise<void>((resolve) =>
      c.on('message', (m, rinfo) => {
        expect(rinfo).toMatchObject({ address: host, port: srv.address().port, family: 'IPv4' });
        replies.push(m.toString());
        if (replies.length === 20) resolve();
      }),
    );
    for (let i = 0; i < 20; i++) {
      const err = await new Promise<Error | null>((r) => c.send(`msg ${i}`, srv.address().port, host, r));
      expect(err).toBeNull();
    }
    await withTimeout(done, { timeoutMs: EVENT_MS, what: '20 echoes from the kernel', detail: () => `got [${replies.join(', ')}]` });
    expect(replies.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `msg ${i}`).sort());
  });

  it('broadcasts to the subnet with setBroadcast; EACCES without it', async () => {
    const rx = track(hostDgram.createSocket({ type: 'udp4', reuseAddr: true }));
    rx.bind(0, '0.0.0.0');
    await once(rx, 'listening');
    const port = rx.address().port;
    const s = track(stack.dgram.createSocket('udp4'));
    s.bind(0);
    await once(s, 'listening');
    const denied = await new Promise<NodeJS.ErrnoException | null>((r) => s.send('x', port, bcast, r));
    expect(denied).toMatchObject({ code: 'EACCES', syscall: 'send', message: `send EACCES ${bcast}:${port}` });
    s.setBroadcast(true);
    const got = once<[Buffer, hostDgram.RemoteInfo]>(rx, 'message', `the broadcast at the host's port ${port}`);
    s.send('hello everyone', port, bcast);
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('hello everyone');
    expect(rinfo.address).toBe(ours);
    const frames = stack.stats()[`iface.${ifname}`]!;
    expect(frames.tx_frames).toBeGreaterThan(0);
  });

  it('connected sockets: send without an address, only the peer is delivered', async () => {
    const peer = await hostSocket();
    const other = await hostSocket();
    const c = track(stack.dgram.createSocket('udp4'));
    await new Promise<void>((r) => c.connect(peer.address().port, host, r));
    expect(c.remoteAddress()).toEqual({ address: host, family: 'IPv4', port: peer.address().port });
    expect(c.address().address).toBe(ours);
    const atPeer = once<[Buffer, hostDgram.RemoteInfo]>(peer, 'message', 'the datagram sent on the connected socket');
    c.send('via connect');
    const [m, rinfo] = await atPeer;
    expect(m.toString()).toBe('via connect');
    expect(rinfo.port).toBe(c.address().port);
    const received: string[] = [];
    c.on('message', (msg) => received.push(msg.toString()));
    other.send('not the peer', c.address().port, ours);
    await new Promise((r) => setTimeout(r, 50));
    const fromPeer = once(c, 'message', "the peer's datagram");
    peer.send('the peer', c.address().port, ours);
    await fromPeer;
    expect(received).toEqual(['the peer']);
    expect(stack.stats().udp!.udp_rx_no_port).toBeGreaterThanOrEqual(1);
  });

  it('ICMP port unreachable from the kernel is ECONNREFUSED on a connected socket, ignored on an unconnected one', async () => {
    const gone = await hostSocket();
    const closedPort = gone.address().port;
    gone.close();
    const u = track(stack.dgram.createSocket('udp4'));
    const unconnectedErrors: Error[] = [];
    u.on('error', (e) => unconnectedErrors.push(e));
    await new Promise<void>((r) => u.bind(0, () => r()));
    u.send('anyone?', closedPort, host);
    const c = track(stack.dgram.createSocket('udp4'));
    await new Promise<void>((r) => c.connect(closedPort, host, r));
    const err = once<[NodeJS.ErrnoException]>(c, 'error', 'ECONNREFUSED from the kernel\'s port unreachable');
    c.send('anyone there?');
    const [e] = await err;
    expect(e).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recvmsg', errno: -111 });
    expect(unconnectedErrors).toEqual([]);
    expect(stack.stats().udp!.udp_rx_icmp_errors).toBeGreaterThanOrEqual(1);
  });
});
