/**
 * The node:dgram behaviours node's own test suite showed ustack lacking
 * (test/conformance), each pinned by a scenario run on node's dgram over
 * the kernel and on ustack's over a loopback-only stack, whose
 * observations must be equal.
 */
import { execFile } from 'node:child_process';
import nodeDgram from 'node:dgram';
import * as nodeNet from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';

type Dgram = typeof nodeDgram;
type Log = string[];

let stack: Stack;
beforeAll(async () => {
  stack = await Stack.open();
});
afterAll(async () => {
  await stack.close();
});

async function both(scenario: (dgram: Dgram) => Promise<Log>): Promise<{ node: Log; ustack: Log }> {
  const node = await scenario(nodeDgram);
  const ustack = await scenario(stack.dgram as unknown as Dgram);
  return { node, ustack };
}

function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'no throw';
  } catch (e) {
    const err = e as Error & { code?: string };
    return `${err.name} ${err.code} ${err.message}`;
  }
}

describe('node:dgram as node itself does it (same scenario on node:dgram and ustack)', () => {
  it('a custom lookup resolves the bind address too; a lookup that is not a function is refused', async () => {
    const { node, ustack } = await both(async (dgram) => {
      const log: Log = [];
      const lookup = (host: string, family: number, cb: (e: Error | null, a: string, f: number) => void): void => {
        log.push(`lookup ${host} ${family}`);
        process.nextTick(cb, null, '127.0.0.1', 4);
      };
      const s = dgram.createSocket({ type: 'udp4', lookup: lookup as never });
      await new Promise<void>((r) => s.bind(0, () => r()));
      log.push(`bound to ${s.address().address}`);
      await new Promise<void>((r) => s.send('x', s.address().port, 'example.invalid', (e) => (log.push(`sent ${e}`), r())));
      s.close();
      for (const v of [null, true, 0, 'foo', {}]) log.push(`lookup ${String(v)}: ${thrown(() => dgram.createSocket({ type: 'udp4', lookup: v as never }))}`);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('getSendQueueSize/Count count the sends whose completion has not run yet', async () => {
    const { node, ustack } = await both(async (dgram) => {
      const log: Log = [];
      const idle = dgram.createSocket('udp4');
      log.push(`unbound ${idle.getSendQueueSize()} ${idle.getSendQueueCount()}`);
      idle.close();
      const server = dgram.createSocket('udp4');
      const client = dgram.createSocket('udp4');
      await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
      await new Promise<void>((r) => client.connect(server.address().port, '127.0.0.1', () => r()));
      let completed = 0;
      client.send('hello', () => {
        completed++;
        log.push(`in callback ${client.getSendQueueSize()} ${client.getSendQueueCount()}`);
      });
      client.send('hello');
      log.push(`after two sends ${client.getSendQueueSize()} ${client.getSendQueueCount()}`);
      await new Promise((r) => setTimeout(r, 20));
      log.push(`later ${client.getSendQueueSize()} ${client.getSendQueueCount()} completed ${completed}`);
      client.close();
      server.close();
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it("sendto() checks every argument, as node's deprecated method does", async () => {
    const { node, ustack } = await both(async (dgram) => {
      const log: Log = [];
      const s = dgram.createSocket('udp4') as unknown as { sendto: (...a: unknown[]) => void; close(): void };
      log.push(thrown(() => s.sendto()));
      log.push(thrown(() => s.sendto('buffer', 1, 'offset', 'port', 'address', 'cb')));
      log.push(thrown(() => s.sendto('buffer', 'offset', 1, 'port', 'address', 'cb')));
      log.push(thrown(() => s.sendto('buffer', 1, 1, 10, false, 'cb')));
      log.push(thrown(() => s.sendto('buffer', 1, 1, false, 'address', 'cb')));
      s.close();
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('the deprecated private members warn DEP0112 and still work', async () => {
    const { node, ustack } = await both(async (dgram) => {
      const log: Log = [];
      const warnings: string[] = [];
      const onWarning = (w: Error & { code?: string }): void => {
        warnings.push(`${w.code} ${w.message}`);
      };
      process.on('warning', onWarning);
      const s = dgram.createSocket('udp4') as unknown as Record<string, unknown> & { close(): void };
      log.push(`bindState ${String(s._bindState)} reuseAddr ${String(s._reuseAddr)} receiving ${String(s._receiving)} queue ${String(s._queue)}`);
      log.push(`handle ${s._handle !== null && typeof s._handle === 'object'}`);
      (s._healthCheck as () => void)();
      (s._stopReceiving as () => void)();
      s.close();
      await new Promise((r) => setImmediate(r));
      process.off('warning', onWarning);
      // Each message warns once per process; whichever of the two runs first sees them.
      log.push(`warnings are DEP0112: ${warnings.every((w) => w.startsWith('DEP0112 Socket.prototype._'))}`);
      return log;
    });
    expect(ustack).toEqual(node);
  });
});

describe('node:dgram options of newer nodes (compared with the running node)', () => {
  const hasBlockList = typeof (nodeNet.BlockList as unknown as { isBlockList?: unknown }).isBlockList === 'function';
  it.skipIf(!hasBlockList)('sendBlockList refuses connect() and send() to a blocked address; receiveBlockList drops its datagrams', async () => {
    const { node, ustack } = await both(async (dgram) => {
      const log: Log = [];
      const blockList = new nodeNet.BlockList();
      blockList.addAddress('127.0.0.1');
      const c = dgram.createSocket({ type: 'udp4', sendBlockList: blockList } as never);
      await new Promise<void>((r) => c.connect(9999, '127.0.0.1', ((err: NodeJS.ErrnoException) => (log.push(`connect ${err?.code}`), r())) as never));
      c.close();
      const s = dgram.createSocket({ type: 'udp4', sendBlockList: blockList } as never);
      await new Promise<void>((r) => s.send('hello', 9999, '127.0.0.1', (err) => (log.push(`send ${(err as NodeJS.ErrnoException)?.code}`), r())));
      s.close();
      const rx = dgram.createSocket({ type: 'udp4', receiveBlockList: blockList } as never);
      rx.on('message', () => log.push('message?!'));
      await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
      const tx = dgram.createSocket('udp4');
      await new Promise<void>((r) => tx.send('hi', rx.address().port, '127.0.0.1', () => r()));
      await new Promise((r) => setTimeout(r, 50));
      tx.close();
      rx.close();
      log.push(`not a BlockList: ${thrown(() => dgram.createSocket({ type: 'udp4', sendBlockList: {} } as never))}`);
      return log;
    });
    expect(ustack).toEqual(node);
  });
});

describe("node's --test-udp-no-try-send: every send waits in the queue until its completion runs", () => {
  it('counts as node counts, in a child process with the flag', async () => {
    const entry = new URL('../../src/entry/dgram-entry.ts', import.meta.url).pathname;
    const program = (module: string): string =>
      `import dgram from '${module}';\n` +
      `const server = dgram.createSocket('udp4');\n` +
      `const client = dgram.createSocket('udp4');\n` +
      `server.bind(0, () => client.connect(server.address().port, () => {\n` +
      `  client.send('hello', () => console.log('cb', client.getSendQueueSize(), client.getSendQueueCount()));\n` +
      `  client.send('hello');\n` +
      `  console.log('queued', client.getSendQueueSize(), client.getSendQueueCount());\n` +
      `  setTimeout(() => { console.log('later', client.getSendQueueSize(), client.getSendQueueCount()); client.close(); server.close(); }, 20);\n` +
      `}));\n`;
    const run = async (module: string): Promise<string> =>
      (
        await promisify(execFile)(process.execPath, ['--test-udp-no-try-send', '--import', 'tsx', '--input-type=module', '-e', program(module)], {
          env: { ...process.env, USTACK_NIC: '', USTACK_DNS: '' },
          timeout: 30_000,
        })
      ).stdout;
    const node = await run('node:dgram');
    expect(node).toContain('queued 10 2');
    expect(await run(entry)).toBe(node);
  });
});

describe('ustack dgram against node: the same one datagram through ustack', () => {
  it('a send after the queue info still arrives', async () => {
    const dgram = stack.dgram;
    const server = dgram.createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    const client = dgram.createSocket('udp4');
    client.send('ping', server.address().port, '127.0.0.1');
    const [msg] = (await once(server, 'message')) as [Buffer];
    expect(String(msg)).toBe('ping');
    expect(client.getSendQueueCount()).toBe(0);
    client.close();
    server.close();
  });
});
