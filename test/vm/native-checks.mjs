// Runs in the VM test's guest (test/vm/guest.sh, full scenario) against a
// real 8254x: what the addon does with bad input from JavaScript. Opens the
// device in MII loopback with 64 KiB slots and checks that readReg is bounded
// by BAR0, a second open of the device is refused, txBurst refuses slots the
// caller does not own and frames no descriptor can carry, a scribbled free
// stack is repaired and counted -- and that the device then still moves
// frames intact. Prints "@@ PASS ..." / "@@ FAIL ..." lines for the host;
// exits non-zero on any failure.
//   node native-checks.mjs PCI ACCESS
import { E1000Nic } from '../../dist/driver/e1000-nic.js';

const [pci, access = 'uio'] = process.argv.slice(2);
let failures = 0;
const pass = (name) => console.log(`@@ PASS ${name}`);
const fail = (name, why) => {
  failures++;
  console.log(`@@ FAIL ${name}: ${why}`);
};
function expectCode(name, code, fn) {
  try {
    fn();
    fail(name, 'no error');
  } catch (e) {
    if (e.code === code) pass(`${name} (${e.code}: ${e.message})`);
    else fail(name, `${e.code}: ${e.message}`);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const nic = E1000Nic.open({ pci, access, loopback: true, txChecksum: false, slotSize: 65536 });
// The addon's device and the free stack shared with it, as JavaScript holds them.
const dev = nic.dev;
const free = nic.free;
const slots = new Uint32Array(32);
const lens = new Uint32Array(32);
const counter = (k) => dev.stats()[k];

try {
  // ---- readReg: BAR0 (128 KiB on QEMU's 82540EM), 4-byte registers ----
  const status = dev.readReg(0x0008);
  const last = dev.readReg(0x1fffc);
  if (typeof status === 'number' && typeof last === 'number') pass('readReg(0x8) and readReg(0x1fffc), the last register of BAR0, read');
  else fail('readReg inside BAR0', `${status} ${last}`);
  for (const off of [0x20000, 0x20004, 2, 0x1fffe, -4, 1.5, 2 ** 32 + 8, NaN]) {
    expectCode(`readReg(${off}) refused`, 'ERR_OUT_OF_RANGE', () => dev.readReg(off));
  }

  // ---- one process per device ----
  expectCode('a second open of the device (same process) refused', 'EBUSY', () => E1000Nic.open({ pci, access, loopback: true }));

  // ---- txBurst: only slots the caller owns, frames a descriptor can carry ----
  const sentBefore = counter('txFrames');
  const frame = (s, len) => {
    const o = s * nic.slotSize;
    nic.pool.fill(0xff, o, o + 6);
    nic.pool[o + 12] = 0x88;
    nic.pool[o + 13] = 0xb5;
    slots[0] = s;
    lens[0] = len;
  };
  // E1000Nic fills the stack [count, n-1, ..., 0] and the RX ring takes from
  // the top: slot 0 is in the RX ring, the top entry is free.
  const top = free[free[0]];
  frame(top, 60);
  expectCode('txBurst of a slot never allocated (on the free stack) refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
  let s = nic.alloc();
  nic.release(s);
  frame(s, 60);
  expectCode('txBurst of a released slot refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
  frame(0, 60);
  expectCode('txBurst of a slot in the RX ring refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));
  s = nic.alloc();
  frame(s, 60);
  slots[1] = s;
  lens[1] = 60;
  expectCode('txBurst with the same slot twice refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 2));
  frame(nic.slotCount, 60);
  expectCode('txBurst of slot slotCount refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 1));
  frame(s, 65536);
  expectCode('txBurst of a 65536-byte frame (64 KiB slot; 16-bit descriptor length) refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 1));
  frame(s, 13);
  expectCode('txBurst of a 13-byte frame refused', 'ERR_OUT_OF_RANGE', () => dev.txBurst(slots, lens, 1));
  if (counter('txFrames') === sentBefore) pass('nothing of the refused bursts was sent');
  else fail('nothing of the refused bursts was sent', `txFrames ${sentBefore} -> ${counter('txFrames')}`);
  frame(s, 60);
  if (dev.txBurst(slots, lens, 1) === 1) pass('the slot the caller owns is then sent');
  else fail('the slot the caller owns is then sent', 'not taken');
  expectCode('... and sending it again refused', 'ERR_USTACK_SLOT_NOT_OWNED', () => dev.txBurst(slots, lens, 1));

  // ---- a scribbled free stack: repaired, counted, never written past ----
  const count = free[0];
  free[0] = 0xffffffff; // the count exposes stale entries: the RX ring's slots
  dev.txReclaim();
  const clamped = counter('freeStackCountClamped');
  const inRing = counter('freeStackInRing');
  if (clamped >= 1 && inRing >= 1 && free[0] <= nic.slotCount) {
    pass(`count 0xffffffff clamped (${clamped}), the ring slots it exposed removed (${inRing}), count ${free[0]} (was ${count})`);
  } else fail('count 0xffffffff repaired', `clamped ${clamped}, inRing ${inRing}, count ${free[0]}`);
  s = nic.alloc();
  nic.release(s);
  free[++free[0]] = s; // released twice
  dev.txReclaim();
  free[++free[0]] = 1e6; // not a slot
  free[++free[0]] = 5; // in the RX ring
  dev.txReclaim();
  const st = dev.stats();
  if (st.freeStackBadIndex >= 1 && st.freeStackInRing > inRing && st.freeStackDuplicate >= 1) {
    pass(`pushed garbage removed: out of range ${st.freeStackBadIndex}, ring-owned ${st.freeStackInRing - inRing}, duplicate ${st.freeStackDuplicate}`);
  } else fail('pushed garbage removed', JSON.stringify(st));

  // ---- the device still moves frames, all intact ----
  const byteAt = (i, j) => (i * 31 + j * 7) & 0xff;
  const probeUntil = Date.now() + 5000; // QEMU starts RX about a second after RCTL is written
  let up = false;
  while (!up && Date.now() < probeUntil) {
    const p = nic.alloc();
    if (p >= 0) {
      frame(p, 60);
      if (nic.txBurst(slots, lens, 1) !== 1) nic.release(p);
    }
    await sleep(50);
    const n = nic.rxBurst(slots, lens, 32);
    for (let k = 0; k < n; k++) {
      if (nic.pool[slots[k] * nic.slotSize + 13] === 0xb5) up = true;
      nic.release(slots[k]);
    }
  }
  let sent = 0;
  let intact = 0;
  const want = 32;
  const deadline = Date.now() + 10000;
  const seen = new Set();
  while ((sent < want || seen.size < sent) && Date.now() < deadline) {
    if (sent < want) {
      const p = nic.alloc();
      if (p >= 0) {
        const len = 60 + ((sent * 397) % 1400);
        frame(p, len);
        const o = p * nic.slotSize;
        nic.pool[o + 13] = 0xb6;
        nic.pool[o + 14] = sent;
        for (let j = 15; j < len; j++) nic.pool[o + j] = byteAt(sent, j);
        if (nic.txBurst(slots, lens, 1) === 1) sent++;
        else nic.release(p);
      }
    }
    const n = nic.rxBurst(slots, lens, 32);
    for (let k = 0; k < n; k++) {
      const o = slots[k] * nic.slotSize;
      if (nic.pool[o + 13] === 0xb6) {
        const i = nic.pool[o + 14];
        let good = lens[k] === 60 + ((i * 397) % 1400) && !seen.has(i);
        for (let j = 15; good && j < lens[k]; j++) good = nic.pool[o + j] === byteAt(i, j);
        if (good) intact++;
        seen.add(i);
      }
      nic.release(slots[k]);
    }
    if (n === 0) await sleep(1);
  }
  if (up && sent === want && intact === want) pass(`after all that, ${want} frames through MII loopback, all intact`);
  else fail('frames through MII loopback afterwards', `probe ${up}, sent ${sent}, intact ${intact}`);
  const end = dev.stats();
  if (end.deviceFaults === 0 && end.linkUp === 1) pass('no device fault, link up');
  else fail('no device fault, link up', `deviceFaults ${end.deviceFaults}, linkUp ${end.linkUp}`);
  console.log(`   txRefused ${end.txRefused}, freeStack: countClamped ${end.freeStackCountClamped}, badIndex ${end.freeStackBadIndex}, inRing ${end.freeStackInRing}, duplicate ${end.freeStackDuplicate}, pushRefused ${end.freeStackPushRefused}`);
} catch (e) {
  fail('native checks', e.stack ?? String(e));
} finally {
  await nic.close();
}
process.exit(failures === 0 ? 0 : 1);
