// Runs in the VM test's guest (test/vm/guest-virtio.sh, virtio-vfio
// scenario: behind the emulated IOMMU, where a stray DMA address would
// fault) against a real virtio-net device: what the addon does with bad
// input from JavaScript, and the device's lifetime. Checks that txBurst
// refuses slots the caller does not own and frames outside [14, slotSize],
// that a scribbled free stack is repaired and counted, that the device then
// still moves frames (an ARP request to slirp's gateway 10.0.2.2 answered),
// that a worker's e1000StopEnv() leaves the main thread's device running
// while the main thread's resets it (device status 0), that a free stack
// detached after start() stops DMA and makes the bursts throw, and that
// after close() the pool is detached and the bursts do nothing. Prints
// "@@ PASS ..." / "@@ FAIL ..." lines for the host; exits non-zero on any
// failure.
//   node virtio-checks.mjs PCI ACCESS
import { Worker } from 'node:worker_threads';
import { packageRoot, loadAddon } from '../../dist/driver/addon.js';
import { VirtioNic } from '../../dist/driver/virtio-nic.js';

const [pci, access = 'uio'] = process.argv.slice(2);
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
const DRIVER_OK = 4;

/** Sends ARP requests for 10.0.2.2 until slirp answers (bounded); true when a reply came. */
async function arpAnswered(nic) {
  const slots = new Uint32Array(32);
  const lens = new Uint32Array(32);
  const mac = [0, 1, 2, 3, 4, 5].map((i) => Math.floor(nic.mac / 2 ** (8 * (5 - i))) & 0xff);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const s = nic.alloc();
    if (s >= 0) {
      const o = s * nic.slotSize;
      const p = nic.pool;
      p.fill(0xff, o, o + 6);
      p.set(mac, o + 6);
      p.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], o + 12);
      p.set(mac, o + 22);
      p.set([10, 0, 2, 15], o + 28);
      p.fill(0, o + 32, o + 38);
      p.set([10, 0, 2, 2], o + 38);
      p.fill(0, o + 42, o + 60);
      slots[0] = s;
      lens[0] = 60;
      if (nic.txBurst(slots, lens, 1) !== 1) nic.release(s);
    }
    await sleep(50);
    const n = nic.rxBurst(slots, lens, 32);
    let got = false;
    for (let k = 0; k < n; k++) {
      const o = slots[k] * nic.slotSize;
      const p = nic.pool;
      if (p[o + 12] === 0x08 && p[o + 13] === 0x06 && p[o + 21] === 2 && p[o + 28] === 10 && p[o + 31] === 2) got = true;
      nic.release(slots[k]);
    }
    if (got) return true;
  }
  return false;
}

function runWorker(code) {
  return new Promise((resolve) => {
    const w = new Worker(code, { eval: true, workerData: { addonPath: `${packageRoot()}/build/Release/ustack.node` } });
    const messages = [];
    let error = null;
    w.on('message', (m) => messages.push(m));
    w.on('error', (e) => (error = e));
    w.on('exit', (exitCode) => resolve({ exitCode, messages, error }));
  });
}

// ---- bad input from JavaScript ----
{
  const nic = VirtioNic.open({ pci, access });
  const dev = nic.dev;
  const free = nic.free;
  const slots = new Uint32Array(32);
  const lens = new Uint32Array(32);
  const counter = (k) => dev.stats()[k];
  try {
    check(`opened: ${nic.model}, ${nic.memory}, features ${nic.features}, status ${dev.deviceStatus}`, (dev.deviceStatus & DRIVER_OK) !== 0);
    const frame = (s, len) => {
      const o = s * nic.slotSize;
      nic.pool.fill(0xff, o, o + 6);
      nic.pool[o + 12] = 0x88;
      nic.pool[o + 13] = 0xb5;
      slots[0] = s;
      lens[0] = len;
    };
    const sentBefore = counter('txFrames');
    // VirtioNic fills the stack [count, n-1, ..., 0] and the receive queue takes
    // from the top: slot 0 is in the receive queue, the top entry is free.
    frame(free[free[0]], 60);
    expectCode('txBurst of a slot never allocated (on the free stack) refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
    let s = nic.alloc();
    nic.release(s);
    frame(s, 60);
    expectCode('txBurst of a released slot refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
    frame(0, 60);
    expectCode('txBurst of a slot in a receive queue refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
    s = nic.alloc();
    frame(s, 60);
    slots[1] = s;
    lens[1] = 60;
    expectCode('txBurst with the same slot twice refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 2));
    frame(nic.slotCount, 60);
    expectCode('txBurst of slot slotCount refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 1));
    frame(s, nic.slotSize + 1);
    expectCode('txBurst of a frame longer than a slot refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 1));
    frame(s, 13);
    expectCode('txBurst of a 13-byte frame refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 1));
    expectCode('txBurst on queue 1 of a one-pair device refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 0, 1));
    expectCode('rxBurst with flags shorter than the burst refused', 'ERR_OUT_OF_RANGE', () => dev.rxBurst(slots, lens, 8, new Uint8Array(2)));
    check('nothing of the refused bursts was sent', counter('txFrames') === sentBefore, `txFrames ${sentBefore} -> ${counter('txFrames')}`);
    frame(s, 60);
    check('the slot the caller owns is then sent', dev.txBurst(slots, lens, 1) === 1);
    expectCode('... and sending it again refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
    // A scribbled free stack: repaired, counted, never written past.
    free[0] = 0xffffffff; // the count exposes stale entries: the receive queue's slots
    dev.txReclaim();
    const clamped = counter('freeStackCountClamped');
    const inRing = counter('freeStackInRing');
    check(`count 0xffffffff clamped (${clamped}), the ring slots it exposed removed (${inRing}), count ${free[0]}`,
      clamped >= 1 && inRing >= 1 && free[0] <= nic.slotCount);
    s = nic.alloc();
    nic.release(s);
    free[++free[0]] = s; // released twice
    dev.txReclaim();
    free[++free[0]] = 1e6; // not a slot
    free[++free[0]] = 5; // in the receive queue
    dev.txReclaim();
    const st = dev.stats();
    check(`pushed garbage removed: out of range ${st.freeStackBadIndex}, ring-owned ${st.freeStackInRing - inRing}, duplicate ${st.freeStackDuplicate}`,
      st.freeStackBadIndex >= 1 && st.freeStackInRing > inRing && st.freeStackDuplicate >= 1);
    check('after all that, an ARP request to 10.0.2.2 is answered', await arpAnswered(nic));
    const end = dev.stats();
    check(`no device fault, link up (txRefused ${end.txRefused})`, end.deviceFaults === 0 && end.linkUp === 1, JSON.stringify(end));
  } catch (e) {
    fail('bad input checks', e.stack ?? String(e));
  } finally {
    await nic.close();
  }
}

// ---- lifetimes ----
{
  const addon = loadAddon();
  const nic = VirtioNic.open({ pci, access });
  const dev = nic.dev;
  try {
    const quiet = await runWorker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.addonPath);
      parentPort.postMessage(addon.e1000StopEnv());
    `);
    check("a worker's e1000StopEnv() stops none of the main thread's devices", quiet.exitCode === 0 && quiet.messages[0] === 0, JSON.stringify(quiet));
    check('... the device still runs (DRIVER_OK) and answers ARP', (dev.deviceStatus & DRIVER_OK) !== 0 && (await arpAnswered(nic)));
    const stopped = addon.e1000StopEnv();
    check(`the main thread's e1000StopEnv() resets it (stopped ${stopped}, status ${dev.deviceStatus})`, stopped === 1 && dev.deviceStatus === 0);
  } catch (e) {
    fail('worker checks', e.stack ?? String(e));
  } finally {
    await nic.close();
  }
  const nic2 = VirtioNic.open({ pci, access });
  const dev2 = nic2.dev;
  try {
    check('opened again after the reset, answers ARP', await arpAnswered(nic2));
    const free = nic2.free;
    structuredClone(free.buffer, { transfer: [free.buffer] });
    const slots = new Uint32Array(4);
    const lens = new Uint32Array(4);
    expectCode('rxBurst after the free stack was detached', 'ERR_USTACK_BUFFER_DETACHED', () => dev2.rxBurst(slots, lens, 4));
    check(`... the device is reset (status ${dev2.deviceStatus})`, dev2.deviceStatus === 0);
    lens[0] = 60;
    expectCode('txBurst after the free stack was detached', 'ERR_USTACK_BUFFER_DETACHED', () => dev2.txBurst(slots, lens, 1));
    const pool = dev2.pool;
    dev2.close();
    check('close() detaches the pool', pool.byteLength === 0);
    check('after close() the bursts do nothing', dev2.rxBurst(slots, lens, 4) === 0 && dev2.txBurst(slots, lens, 1) === 0 && dev2.txReclaim() === 0);
    check('after close() armWake() is false, linkUp() false', dev2.armWake() === false && dev2.linkUp() === false);
    expectCode('start() after close()', 'ERR_USTACK_CLOSED', () => dev2.start(new Uint32Array(8)));
  } catch (e) {
    fail('lifetime checks', e.stack ?? String(e));
  } finally {
    await nic2.close();
  }
}
process.exit(failures === 0 ? 0 : 1);
