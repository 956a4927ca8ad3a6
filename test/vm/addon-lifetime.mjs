// Runs in the VM test's guest (test/vm/guest.sh, full scenario) against a
// real 8254x: the N-API layer's lifetime rules for the e1000 device (tracker
// issue 12, "Trust"; the TAP half is test/interop/addon-lifetime.test.ts).
//  - A worker thread that loads the addon, stops "its" devices and exits (or
//    dies of an uncaught exception) leaves the main thread's device running;
//    e1000StopEnv() on the main thread stops the main thread's device.
//  - A free stack whose buffer JavaScript detaches after start() makes
//    rxBurst/txBurst/txReclaim throw ERR_USTACK_BUFFER_DETACHED and stops DMA.
//  - close() gives the huge pages back at once even while JavaScript still
//    holds the pool; a pool moved out by ArrayBuffer.prototype.transfer()
//    (node >= 22) then reads zeros instead of faulting, and collecting it
//    later is harmless. Every method after close() throws a coded error or
//    is a documented no-op.
//  - A wake callback that throws reaches process 'uncaughtException'; the
//    device can be armed again and still receives.
// Prints "@@ PASS ..." / "@@ FAIL ..." lines for the host; exits non-zero on
// any failure. Run with --expose-gc to also collect the moved pool.
//   node --expose-gc addon-lifetime.mjs PCI ACCESS
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../../dist/driver/addon.js';
import { E1000Nic, loadE1000Addon } from '../../dist/driver/e1000-nic.js';

const [pci, access = 'uio'] = process.argv.slice(2);
const RCTL = 0x100;
const TCTL = 0x400;
const EN = 1 << 1; // RCTL.EN and TCTL.EN
let failures = 0;
const pass = (name) => console.log(`@@ PASS ${name}`);
const fail = (name, why) => {
  failures++;
  console.log(`@@ FAIL ${name}: ${why}`);
};
const check = (name, ok, why = '') => (ok ? pass(name) : fail(name, why));
function expectCode(name, code, fn) {
  try {
    const r = fn();
    fail(name, `no error (returned ${r})`);
  } catch (e) {
    if (e.code === code) pass(`${name} (${e.code})`);
    else fail(name, `${e.code}: ${e.message}`);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hugePagesFree = () => Number(/HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]);
const addonPath = `${packageRoot()}/build/Release/ustack.node`;
const open = () => E1000Nic.open({ pci, access, loopback: true, txChecksum: false });
const running = (dev) => (dev.readReg(RCTL) & EN) !== 0 && (dev.readReg(TCTL) & EN) !== 0;

/** Sends `count` tagged frames through MII loopback; true when all come back. */
async function loopbackOk(nic, count = 8) {
  const slots = new Uint32Array(32);
  const lens = new Uint32Array(32);
  const seen = new Set();
  let sent = 0;
  const deadline = Date.now() + 10_000; // QEMU starts RX about a second after RCTL is written
  while (seen.size < count && Date.now() < deadline) {
    if (sent < count + 200) {
      const s = nic.alloc();
      if (s >= 0) {
        const o = s * nic.slotSize;
        nic.pool.fill(0xff, o, o + 6);
        nic.pool[o + 12] = 0x88;
        nic.pool[o + 13] = 0xb7;
        nic.pool[o + 14] = sent % count;
        slots[0] = s;
        lens[0] = 60;
        if (nic.txBurst(slots, lens, 1) === 1) sent++;
        else nic.release(s);
      }
    }
    await sleep(5);
    const n = nic.rxBurst(slots, lens, 32);
    for (let k = 0; k < n; k++) {
      const o = slots[k] * nic.slotSize;
      if (nic.pool[o + 13] === 0xb7) seen.add(nic.pool[o + 14]);
      nic.release(slots[k]);
    }
  }
  return seen.size === count;
}

function runWorker(code) {
  return new Promise((resolve) => {
    const w = new Worker(code, { eval: true, workerData: { addonPath } });
    const messages = [];
    let error = null;
    w.on('message', (m) => messages.push(m));
    w.on('error', (e) => (error = e));
    w.on('exit', (exitCode) => resolve({ exitCode, messages, error }));
  });
}

const addon = loadE1000Addon();

// ---- worker threads do not stop the main thread's device ----
{
  const nic = open();
  const dev = nic.dev;
  try {
    check('loopback up', await loopbackOk(nic));
    const quiet = await runWorker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.addonPath);
      parentPort.postMessage(addon.e1000StopEnv());
    `);
    check("a worker's e1000StopEnv() stops none of the main thread's devices", quiet.exitCode === 0 && quiet.messages[0] === 0, JSON.stringify(quiet));
    check('... and its exit leaves the main device running (RCTL.EN, TCTL.EN)', running(dev), `RCTL ${dev.readReg(RCTL)}`);
    const dying = await runWorker(`
      const { workerData } = require('node:worker_threads');
      require(workerData.addonPath);
      throw new Error('worker dies');
    `);
    check('a worker dying of an uncaught exception (addon loaded) ...', dying.error?.message === 'worker dies', String(dying.error));
    check('... leaves the main device running', running(dev), `RCTL ${dev.readReg(RCTL)}`);
    check('... which still moves frames', await loopbackOk(nic));
    const stopped = addon.e1000StopEnv();
    check("the main thread's e1000StopEnv() stops its device", stopped === 1 && !running(dev), `stopped ${stopped}, RCTL ${dev.readReg(RCTL)}`);
  } catch (e) {
    fail('worker checks', e.stack ?? String(e));
  } finally {
    await nic.close();
  }
}

// ---- a free stack detached after start() ----
{
  const nic = open();
  const dev = nic.dev;
  try {
    check('loopback up (second open)', await loopbackOk(nic));
    const free = nic.free;
    structuredClone(free.buffer, { transfer: [free.buffer] });
    const slots = new Uint32Array(4);
    const lens = new Uint32Array(4);
    expectCode('rxBurst after the free stack was detached', 'ERR_USTACK_BUFFER_DETACHED', () => dev.rxBurst(slots, lens, 4));
    check('... DMA is stopped (RCTL.EN, TCTL.EN clear)', (dev.readReg(RCTL) & EN) === 0 && (dev.readReg(TCTL) & EN) === 0, `RCTL ${dev.readReg(RCTL)} TCTL ${dev.readReg(TCTL)}`);
    lens[0] = 60;
    expectCode('txBurst after the free stack was detached', 'ERR_USTACK_BUFFER_DETACHED', () => dev.txBurst(slots, lens, 1));
    expectCode('txReclaim after the free stack was detached', 'ERR_USTACK_BUFFER_DETACHED', () => dev.txReclaim());
    dev.close();
    pass('close() after that');
  } catch (e) {
    fail('free stack checks', e.stack ?? String(e));
  } finally {
    await nic.close();
  }
}

// ---- a throwing wake callback ----
{
  const nic = open();
  const dev = nic.dev;
  const thrown = [];
  try {
    check('loopback up (third open)', await loopbackOk(nic));
    let wakes = 0;
    let rearmed = false;
    const onUncaught = (e) => {
      thrown.push(e.message);
      dev.armWake(); // the frames sent next wake it again
      rearmed = true;
    };
    process.on('uncaughtException', onUncaught);
    const second = new Promise((resolve) => {
      dev.setWakeCallback(() => {
        wakes++;
        if (wakes === 1) throw new Error('wake callback failed');
        resolve();
      });
    });
    dev.armWake();
    const deadline = Date.now() + 10_000;
    const slots = new Uint32Array(1);
    const lens = new Uint32Array(1);
    let done = false;
    void second.then(() => (done = true));
    while (!done && Date.now() < deadline) {
      const s = nic.alloc();
      if (s >= 0) {
        const o = s * nic.slotSize;
        nic.pool.fill(0xff, o, o + 6);
        nic.pool[o + 12] = 0x88;
        nic.pool[o + 13] = 0xb8;
        slots[0] = s;
        lens[0] = 60;
        if (dev.txBurst(slots, lens, 1) !== 1) nic.release(s);
      }
      await sleep(100);
    }
    process.off('uncaughtException', onUncaught);
    check('a throwing wake callback reaches uncaughtException once, the device wakes again', done && wakes === 2 && rearmed && thrown.length === 1, `wakes ${wakes}, thrown ${thrown}`);
    dev.setWakeCallback(null);
    check('... and still moves frames', await loopbackOk(nic));
  } catch (e) {
    fail('wake callback checks', e.stack ?? String(e));
  } finally {
    await nic.close();
  }
}

// ---- the pool outlives close(): huge pages back at once, stale views read zeros ----
{
  const before = hugePagesFree();
  const nic = open();
  const dev = nic.dev;
  let moved = null;
  try {
    const pool = dev.pool;
    new Uint8Array(pool).fill(0x5a, 0, 4096);
    check('the pool is the same ArrayBuffer every time', dev.pool === pool);
    const canTransfer = typeof ArrayBuffer.prototype.transfer === 'function';
    if (canTransfer) moved = pool.transfer();
    const during = hugePagesFree();
    await nic.close();
    check(`close() gives the huge pages back while the pool is still referenced (${before} free before, ${during} open, ${hugePagesFree()} after)`, hugePagesFree() === before);
    check('close() detaches the pool', pool.byteLength === 0);
    if (canTransfer) {
      const view = new Uint8Array(moved);
      let zeros = view.length > 0;
      for (let i = 0; i < view.length && zeros; i += 4096) zeros = view[i] === 0 && view[i + 1] === 0;
      check(`a pool moved out by transfer() (${view.length} bytes) reads zeros after close()`, zeros);
      view[0] = 1;
      check('... and can be written', view[0] === 1);
    } else {
      console.log(`   node ${process.version} has no ArrayBuffer.prototype.transfer: no view can outlive close()`);
    }
    // After close: coded errors or documented no-ops.
    const slots = new Uint32Array(1);
    const lens = Uint32Array.of(60);
    check('rxBurst after close returns 0', dev.rxBurst(slots, lens, 1) === 0);
    check('txBurst after close returns 0', dev.txBurst(slots, lens, 1) === 0);
    check('txReclaim after close returns 0', dev.txReclaim() === 0);
    check('armWake after close returns false', dev.armWake() === false);
    check('linkUp after close is false', dev.linkUp() === false);
    expectCode('pool after close', 'ERR_USTACK_CLOSED', () => dev.pool);
    expectCode('readReg after close', 'ERR_USTACK_CLOSED', () => dev.readReg(8));
    expectCode('start after close', 'ERR_USTACK_CLOSED', () => dev.start(new Uint32Array(dev.slotCount + 1)));
    check('stats after close', typeof dev.stats().rxFrames === 'number');
    dev.stopDma();
    dev.setWakeCallback(() => {});
    dev.ref();
    dev.unref();
    dev.close();
    pass('stopDma, setWakeCallback, ref, unref, close after close: no-ops');
  } catch (e) {
    fail('pool lifetime checks', e.stack ?? String(e));
  } finally {
    await nic.close();
  }
  moved = null;
  if (typeof globalThis.gc === 'function') {
    for (let i = 0; i < 5; i++) {
      globalThis.gc();
      await new Promise((r) => setImmediate(r));
    }
    pass('the moved pool collected after close(): no fault');
  }
}

process.exit(failures === 0 ? 0 : 1);
