/**
 * The addon's N-API layer against JavaScript that misuses it (tracker issue
 * 12, "Trust"), on real TAP devices on the host: a pool detached or shrunk
 * after attachPool, slot and length arrays that are SharedArrayBuffer views,
 * frames longer than a slot, every call after close(), a wake callback that
 * throws, a worker thread that opens a TAP device and exits, and more than 16
 * devices in one process. Each must end in a Node-style error with `code`, or
 * a documented no-op, and the devices that were not misused keep passing
 * frames. The raw addon is used on purpose: TapNic would hide most misuse.
 *
 * "Passing frames" is an ARP round trip: we write a who-has for the kernel
 * side's address and read the kernel's reply from the fd.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAddon, packageRoot, type TapDevice } from '../../src/driver/addon.js';
import { freeSubnet24, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { startChild } from '../helpers/children.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason();
if (skipReason !== undefined) console.log(`[addon-lifetime.test] skipping: ${skipReason}`);

const SLOT = 2048;
const SLOTS = 8;
/** Our side's MAC (locally administered) and IP host part on each test subnet. */
const OUR_MAC = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
const OUR_HOST = 2;
const addonPath = join(packageRoot(), 'build/Release/ustack.node');

interface Tap {
  dev: TapDevice;
  name: string;
  subnet: number;
  pool: ArrayBuffer;
}

const opened: TapDevice[] = [];
afterEach(() => {
  for (const d of opened.splice(0)) d.close();
});

function openTap(prefix = 'ual'): Tap {
  const { TapDevice } = loadAddon();
  const name = uniqueIfName(prefix);
  const subnet = freeSubnet24();
  const dev = new TapDevice(name);
  opened.push(dev);
  dev.configureHost({ address: `10.11.${subnet}.1`, prefixLength: 24, up: true });
  const pool = new ArrayBuffer(SLOT * SLOTS);
  dev.attachPool(pool, SLOT);
  return { dev, name, subnet, pool };
}

/** Error-matcher for a Node-style error with `code`. */
function coded(code: string): unknown {
  return expect.objectContaining({ code });
}

function expectThrowsCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected an error with code ${code}`).toEqual(coded(code));
}

/** An ARP who-has for the kernel side's address (10.11.subnet.1), from 10.11.subnet.2. */
function writeArpRequest(view: Uint8Array, off: number, subnet: number): number {
  const f = view.subarray(off, off + 42);
  f.fill(0xff, 0, 6);
  f.set(OUR_MAC, 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 12);
  f.set(OUR_MAC, 22);
  f.set([10, 11, subnet, OUR_HOST], 28);
  f.fill(0, 32, 38);
  f.set([10, 11, subnet, 1], 38);
  return 42;
}

function isArpReplyToUs(view: Uint8Array, off: number, len: number, subnet: number): boolean {
  if (len < 42 || view[off + 12] !== 0x08 || view[off + 13] !== 0x06 || view[off + 21] !== 2) return false;
  return view[off + 38] === 10 && view[off + 39] === 11 && view[off + 40] === subnet && view[off + 41] === OUR_HOST;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Frames the kernel took from the fd (a TAP device counts what we write as received). */
function kernelRxPackets(name: string): number {
  return Number(readFileSync(`/sys/class/net/${name}/statistics/rx_packets`, 'utf8'));
}

/**
 * Writes a who-has for the kernel side and reads until its reply arrives
 * (re-asking now and then: the kernel may be busy with IPv6 chatter).
 */
async function arpRoundTrip(tap: Tap, pool: ArrayBuffer = tap.pool): Promise<void> {
  const view = new Uint8Array(pool);
  const slots = new Uint32Array(SLOTS);
  const lens = new Uint32Array(SLOTS);
  const deadline = Date.now() + 20_000;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    if (attempt % 25 === 0) {
      slots[0] = 0;
      lens[0] = writeArpRequest(view, 0, tap.subnet);
      expect(tap.dev.writeBurst(slots, lens, 1)).toBe(1);
    }
    for (let i = 0; i < SLOTS - 1; i++) slots[i] = i + 1;
    const got = tap.dev.readBurst(slots, lens, SLOTS - 1);
    for (let i = 0; i < got; i++) {
      if (isArpReplyToUs(view, slots[i]! * SLOT, lens[i]!, tap.subnet)) return;
    }
    await sleep(20);
  }
  throw new Error(`no ARP reply from the kernel on ${tap.name} (stats ${JSON.stringify(tap.dev.stats())})`);
}

async function linkGone(name: string): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (existsSync(`/sys/class/net/${name}`)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

describe.skipIf(skipReason !== undefined)('addon lifetime and misuse on TAP devices', () => {
  describe('a pool detached or shrunk after attachPool', () => {
    it('structuredClone with a transfer list: bursts throw ERR_USTACK_BUFFER_DETACHED, a new pool works', async () => {
      const tap = openTap();
      await arpRoundTrip(tap);
      const slots = Uint32Array.of(0);
      const lens = Uint32Array.of(42);
      // The pool's memory now belongs to the clone; dropping the clone frees it.
      structuredClone(tap.pool, { transfer: [tap.pool] });
      expect(tap.pool.byteLength).toBe(0);
      expectThrowsCode(() => tap.dev.writeBurst(slots, lens, 1), 'ERR_USTACK_BUFFER_DETACHED');
      expectThrowsCode(() => tap.dev.readBurst(slots, lens, 1), 'ERR_USTACK_BUFFER_DETACHED');
      expect(tap.dev.stats().txFrames).toBe(1);
      // The device itself is fine: a fresh pool can be attached and frames flow.
      const fresh = new ArrayBuffer(SLOT * SLOTS);
      tap.dev.attachPool(fresh, SLOT);
      expectThrowsCode(() => tap.dev.attachPool(new ArrayBuffer(SLOT * SLOTS), SLOT), 'ERR_USTACK_POOL_ATTACHED');
      await arpRoundTrip(tap, fresh);
    });

    it('ArrayBuffer.prototype.transfer() (node >= 22): bursts throw ERR_USTACK_BUFFER_DETACHED', async () => {
      const transfer = (ArrayBuffer.prototype as { transfer?: () => ArrayBuffer }).transfer;
      const tap = openTap();
      if (transfer === undefined) {
        console.log(`[addon-lifetime.test] node ${process.version} has no ArrayBuffer.prototype.transfer: postMessage transfer instead`);
        const { port1, port2 } = new MessageChannel();
        port1.postMessage(tap.pool, [tap.pool]);
        port1.close();
        port2.close();
      } else {
        transfer.call(tap.pool);
      }
      expect(tap.pool.byteLength).toBe(0);
      expectThrowsCode(() => tap.dev.writeBurst(Uint32Array.of(0), Uint32Array.of(42), 1), 'ERR_USTACK_BUFFER_DETACHED');
      expectThrowsCode(() => tap.dev.readBurst(Uint32Array.of(0), new Uint32Array(1), 1), 'ERR_USTACK_BUFFER_DETACHED');
    });

    it('a resizable pool shrunk below slotCount * slotSize: bursts throw ERR_USTACK_BUFFER_DETACHED', async () => {
      const tap = openTap();
      type Resizable = ArrayBuffer & { resize(n: number): void };
      const Ctor = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
      const pool = new Ctor(SLOT * SLOTS, { maxByteLength: SLOT * SLOTS });
      const { TapDevice } = loadAddon();
      const dev = new TapDevice(uniqueIfName('ual'));
      opened.push(dev);
      dev.configureHost({ up: true });
      dev.attachPool(pool, SLOT);
      expect(dev.slotCount).toBe(SLOTS);
      pool.resize(SLOT);
      expectThrowsCode(() => dev.writeBurst(Uint32Array.of(SLOTS - 1), Uint32Array.of(42), 1), 'ERR_USTACK_BUFFER_DETACHED');
      expectThrowsCode(() => dev.readBurst(Uint32Array.of(SLOTS - 1), new Uint32Array(1), 1), 'ERR_USTACK_BUFFER_DETACHED');
      expect(dev.stats().txFrames).toBe(0);
      await arpRoundTrip(tap); // another device is unaffected
    });
  });

  describe('slot and length arrays', () => {
    it('SharedArrayBuffer views work, and an out-of-range slot in one is refused before anything is sent', async () => {
      const tap = openTap();
      const view = new Uint8Array(tap.pool);
      const slots = new Uint32Array(new SharedArrayBuffer(4 * SLOTS));
      const lens = new Uint32Array(new SharedArrayBuffer(4 * SLOTS));
      slots[0] = 3;
      lens[0] = writeArpRequest(view, 3 * SLOT, tap.subnet);
      const before = kernelRxPackets(tap.name);
      expect(tap.dev.writeBurst(slots, lens, 1)).toBe(1);
      expect(kernelRxPackets(tap.name)).toBe(before + 1);

      slots[0] = 3;
      slots[1] = SLOTS; // one past the pool
      lens[1] = 42;
      expect(() => tap.dev.writeBurst(slots, lens, 2)).toThrow(coded('ERR_OUT_OF_RANGE'));
      expect(() => tap.dev.readBurst(slots, lens, 2)).toThrow(coded('ERR_OUT_OF_RANGE'));
      slots[1] = 0xffffffff;
      expect(() => tap.dev.writeBurst(slots, lens, 2)).toThrow(coded('ERR_OUT_OF_RANGE'));
      expect(kernelRxPackets(tap.name)).toBe(before + 1);
      expect(tap.dev.stats().txFrames).toBe(1);
    });

    it('n is clamped to the arrays and to 65536 frames; NaN and negative n move nothing', () => {
      const tap = openTap();
      const lens = Uint32Array.of(writeArpRequest(new Uint8Array(tap.pool), 0, tap.subnet));
      expect(tap.dev.writeBurst(Uint32Array.of(0), lens, 1e9)).toBe(1);
      expect(tap.dev.writeBurst(Uint32Array.of(0), lens, Number.NaN)).toBe(0);
      expect(tap.dev.writeBurst(Uint32Array.of(0), lens, -1)).toBe(0);
      expect(tap.dev.stats().txFrames).toBe(1);
      // One call moves at most 65536 frames (empty ones here: the kernel refuses each, counted as taken).
      const many = 70_000;
      expect(tap.dev.writeBurst(new Uint32Array(many), new Uint32Array(many), many)).toBe(65536);
      expect(tap.dev.stats().txErrors).toBe(65536);
    });

    it('arrays of the wrong type are a TypeError with ERR_INVALID_ARG_TYPE', () => {
      const tap = openTap();
      const bad = [new Int32Array(1), new Float64Array(1), [0], null, new DataView(new ArrayBuffer(4))];
      for (const b of bad) {
        expect(() => tap.dev.writeBurst(b as unknown as Uint32Array, Uint32Array.of(42), 1)).toThrow(coded('ERR_INVALID_ARG_TYPE'));
        expect(() => tap.dev.readBurst(Uint32Array.of(0), b as unknown as Uint32Array, 1)).toThrow(coded('ERR_INVALID_ARG_TYPE'));
      }
    });
  });

  describe('frame lengths', () => {
    it('a frame longer than its slot (slotSize + 1, 65536) is ERR_OUT_OF_RANGE and nothing is sent', () => {
      const tap = openTap();
      const before = kernelRxPackets(tap.name);
      for (const len of [SLOT + 1, 65536, 0xffffffff]) {
        expect(() => tap.dev.writeBurst(Uint32Array.of(0, 1), Uint32Array.of(60, len), 2)).toThrow(coded('ERR_OUT_OF_RANGE'));
      }
      expect(tap.dev.stats().txFrames).toBe(0);
      expect(kernelRxPackets(tap.name)).toBe(before);
      // Exactly a slot is fine (the kernel takes it: longer than the MTU, it then drops it).
      expect(tap.dev.writeBurst(Uint32Array.of(0), Uint32Array.of(SLOT), 1)).toBe(1);
    });

    it('with offloads (64 KiB GSO slots) the bound is the slot too', () => {
      const { TapDevice } = loadAddon();
      const dev = new TapDevice(uniqueIfName('ual'), { offloads: true });
      opened.push(dev);
      dev.configureHost({ up: true });
      const slot = 66560;
      dev.attachPool(new ArrayBuffer(slot * 2), slot);
      expect(() => dev.writeBurst(Uint32Array.of(0, 1), Uint32Array.of(60, slot + 1), 2)).toThrow(coded('ERR_OUT_OF_RANGE'));
      // readBurst's per-frame flags must have room for every frame asked for.
      expect(() => dev.readBurst(Uint32Array.of(0, 1), new Uint32Array(2), 2, new Uint8Array(1))).toThrow(coded('ERR_OUT_OF_RANGE'));
      expect(() => dev.readBurst(Uint32Array.of(0), new Uint32Array(1), 1, new Uint32Array(1) as unknown as Uint8Array)).toThrow(
        coded('ERR_INVALID_ARG_TYPE'),
      );
      expect(dev.stats().txFrames).toBe(0);
    });
  });

  describe('after close()', () => {
    it('every method throws EBADF or is a documented no-op; the pool stays usable JavaScript memory', async () => {
      const tap = openTap();
      await arpRoundTrip(tap);
      const view = new Uint8Array(tap.pool);
      const { dev } = tap;
      dev.setWakeCallback(() => {
        throw new Error('a closed device must never wake');
      });
      dev.armWake();
      dev.close();
      expect(dev.fd).toBe(-1);
      expect(await linkGone(tap.name)).toBe(true);

      const slots = Uint32Array.of(0);
      const lens = Uint32Array.of(42);
      const ebadf: [string, () => unknown][] = [
        ['readBurst', () => dev.readBurst(slots, lens, 1)],
        ['writeBurst', () => dev.writeBurst(slots, lens, 1)],
        ['attachPool', () => dev.attachPool(new ArrayBuffer(SLOT), SLOT)],
        ['armWake', () => dev.armWake()],
        ['configureHost', () => dev.configureHost({ up: true })],
        ['hostMac', () => dev.hostMac()],
        ['hostMtu', () => dev.hostMtu()],
        ['hostFlags', () => dev.hostFlags()],
      ];
      for (const [what, call] of ebadf) {
        let caught: { code?: string; errno?: number; syscall?: string } | undefined;
        try {
          call();
        } catch (err) {
          caught = err as typeof caught;
        }
        expect(caught, what).toEqual(expect.objectContaining({ code: 'EBADF', errno: -9, syscall: expect.any(String) }));
      }
      // Documented no-ops.
      expect(dev.setWakeCallback(() => {})).toBeUndefined();
      expect(dev.setWakeCallback(null)).toBeUndefined();
      expect(() => dev.setWakeCallback(42 as unknown as null)).toThrow(coded('ERR_INVALID_ARG_TYPE'));
      dev.ref();
      dev.unref();
      expect(typeof dev.hasRef()).toBe('boolean');
      expect(dev.stats().txFrames).toBeGreaterThan(0);
      dev.close();
      expect(dev.name).toBe(tap.name);
      // The pool is ordinary JavaScript memory: still there, still writable.
      view[0] = 0xab;
      expect(view[0]).toBe(0xab);
      expect(tap.pool.byteLength).toBe(SLOT * SLOTS);
      // Give a pending wake-up every chance to (wrongly) fire.
      await sleep(50);
    });
  });

  it('a wake callback that throws reports an uncaught exception; the device stays armed-able and readable', async () => {
    const name = uniqueIfName('ual');
    const subnet = freeSubnet24();
    // In a child: the exception is meant to reach process 'uncaughtException', which vitest would report.
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      const dev = new addon.TapDevice(${JSON.stringify(name)});
      dev.configureHost({ address: '10.11.${subnet}.1', prefixLength: 24, up: true });
      const SLOT = 2048;
      const pool = new ArrayBuffer(SLOT * 16);
      dev.attachPool(pool, SLOT);
      const view = new Uint8Array(pool);
      const slots = new Uint32Array(16).map((_, i) => i);
      const lens = new Uint32Array(16);
      const thrown = [];
      let wakes = 0;
      process.on('uncaughtException', (err) => {
        thrown.push(err.message);
        dev.armWake(); // the frame that woke us is still unread: this wakes again at once
      });
      dev.setWakeCallback(function () {
        wakes++;
        if (wakes === 1) throw new Error('wake callback failed');
        const got = this.readBurst(slots, lens, 16);
        const stats = this.stats();
        this.close(); // closing from inside the callback is allowed
        clearInterval(timer);
        console.log(JSON.stringify({ wakes, thrown, got, wakeErrors: stats.wakeErrors, rxFrames: stats.rxFrames }));
      });
      dev.armWake();
      // Make the kernel send something: a who-has for its own address gets a reply.
      const ask = () => {
        const f = view.subarray(15 * SLOT);
        f.fill(0xff, 0, 6); f.set(${JSON.stringify(OUR_MAC)}, 6);
        f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 12);
        f.set(${JSON.stringify(OUR_MAC)}, 22); f.set([10, 11, ${subnet}, 2], 28);
        f.fill(0, 32, 38); f.set([10, 11, ${subnet}, 1], 38);
        dev.writeBurst(Uint32Array.of(15), Uint32Array.of(42), 1);
      };
      ask();
      const timer = setInterval(ask, 500);
    `;
    // Tracked: the child is stopped when this test ends, however it ends.
    const child = startChild(process.execPath, ['-e', script], { what: `a child whose wake callback on ${name} throws once` });
    const { code, stdout: out } = await withTimeout(child.done, {
      timeoutMs: 60_000,
      what: `${child.what} to exit after its second wake-up`,
      detail: () => child.describe(),
    });
    expect(code, child.describe()).toBe(0);
    const result = JSON.parse(out.trim().split('\n').pop()!) as {
      wakes: number;
      thrown: string[];
      got: number;
      wakeErrors: number;
      rxFrames: number;
    };
    expect(result.thrown).toEqual(['wake callback failed']);
    expect(result.wakes).toBe(2);
    expect(result.got).toBeGreaterThan(0);
    expect(result.wakeErrors).toBe(0);
    expect(await linkGone(name)).toBe(true);
  });

  describe('environments and many devices', () => {
    it("a worker that opens TAP devices and exits does not disturb the main thread's device", async () => {
      const main = openTap();
      await arpRoundTrip(main);
      const closed = uniqueIfName('ual');
      const dropped = uniqueIfName('ual');
      // The worker opens two devices, closes one, leaves the other to its
      // environment's teardown, and stops "its" e1000 devices (none) on the way out.
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const addon = require(workerData.addonPath);
        const a = new addon.TapDevice(workerData.closed);
        const b = new addon.TapDevice(workerData.dropped);
        a.configureHost({ up: true });
        b.configureHost({ up: true });
        b.attachPool(new ArrayBuffer(2048 * 4), 2048);
        b.setWakeCallback(() => {});
        b.armWake();
        a.close();
        parentPort.postMessage({ stopped: addon.e1000StopEnv() });
      `;
      const worker = new Worker(code, { eval: true, workerData: { addonPath, closed, dropped } });
      const messages: unknown[] = [];
      worker.on('message', (m) => messages.push(m));
      const exitCode = await new Promise<number>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('exit', resolve);
      });
      expect(exitCode).toBe(0);
      expect(messages).toEqual([{ stopped: 0 }]);
      expect(await linkGone(closed)).toBe(true);
      expect(await linkGone(dropped)).toBe(true);
      // The main thread's device still passes frames both ways.
      await arpRoundTrip(main);
      await arpRoundTrip(main);
      expect(loadAddon()).toHaveProperty('version');
    });

    it('more than 16 TAP devices in one process each pass frames and close properly', async () => {
      const taps: Tap[] = [];
      for (let i = 0; i < 20; i++) taps.push(openTap());
      for (const tap of taps) await arpRoundTrip(tap);
      for (const tap of taps) tap.dev.close();
      for (const tap of taps) expect(await linkGone(tap.name), tap.name).toBe(true);
    });

    it('e1000StopAll / e1000StopEnv with no e1000 device open stop nothing', () => {
      const addon = loadAddon() as unknown as { e1000StopAll(): number; e1000StopEnv(): number };
      expect(addon.e1000StopEnv()).toBe(0);
      expect(addon.e1000StopAll()).toBe(0);
    });
  });
});
