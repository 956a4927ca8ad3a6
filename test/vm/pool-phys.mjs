// The VM test's shards-virtio scenario (test/vm/guest-shards.sh): the
// virtio-net device's packet memory is the memory every worker maps.
//   node pool-phys.mjs OWNER_STATS_JSON WORKER0_PID WORKER1_PID
// For slot 0 (an owner slot, where the device writes received frames) and
// each worker's first slot (where it builds frames the device reads), the
// address the device was given (the owner's stats: device.deviceAddr*) must
// be the physical address behind each worker's own mapping of that slot:
// the worker's virtual address is the start of its mapping of the region's
// memfd plus the slot's offset; /proc/PID/mem touches it (the page is
// present) and /proc/PID/pagemap gives its frame. Prints "@@ PASS/FAIL".
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const [json, ...pids] = process.argv.slice(2);
const stats = JSON.parse(json);
const { layout } = stats.owner;
const dev = stats.owner.device;

function mappingStart(pid) {
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const f = line.split(/\s+/);
    if (line.includes('memfd:ustack-shards') && f[2] === '00000000') return BigInt(`0x${f[0].split('-')[0]}`);
  }
  throw new Error(`pid ${pid} maps no memfd:ustack-shards from offset 0`);
}

function physOf(pid, va) {
  const mem = openSync(`/proc/${pid}/mem`, 'r');
  try {
    readSync(mem, Buffer.alloc(1), 0, 1, va); // faults the page in, in the worker's own page tables
  } finally {
    closeSync(mem);
  }
  const pm = openSync(`/proc/${pid}/pagemap`, 'r');
  const entry = Buffer.alloc(8);
  try {
    readSync(pm, entry, 0, 8, (va / 4096n) * 8n);
  } finally {
    closeSync(pm);
  }
  const e = entry.readBigUInt64LE(0);
  if ((e >> 63n) === 0n) return 0n; // not present
  const pfn = e & ((1n << 55n) - 1n);
  return pfn * 4096n + (va % 4096n);
}

const slots = [['slot 0 (owner: receive)', 0, dev.deviceAddrSlot0]];
for (let w = 0; w < layout.places; w++) slots.push([`worker ${w}'s first slot ${layout.ownerSlots + w * layout.workerSlots} (transmit)`, layout.ownerSlots + w * layout.workerSlots, dev[`deviceAddrWorker${w}Slot`]]);
let ok = true;
const rows = [];
for (const [what, slot, deviceAddr] of slots) {
  const want = BigInt(deviceAddr ?? 0);
  for (const pid of pids) {
    const va = mappingStart(pid) + BigInt(layout.poolOffset) + BigInt(slot) * BigInt(layout.slotSize);
    const pa = physOf(pid, va);
    const same = want !== 0n && pa === want;
    ok &&= same;
    rows.push(`${what}: device 0x${want.toString(16)}, pid ${pid} maps it at 0x${va.toString(16)} -> physical 0x${pa.toString(16)}${same ? '' : ' (DIFFERENT)'}`);
  }
}
for (const r of rows) console.log(`   | ${r}`);
console.log(
  ok
    ? `@@ PASS the device reads and writes the physical pages each worker maps: ${slots.length} slots x ${pids.length} workers, device address = worker's physical address (pool at offset ${layout.poolOffset} of the memfd, ${layout.slotCount} slots of ${layout.slotSize} B)`
    : '@@ FAIL the device\'s slot addresses are the physical pages each worker maps',
);
process.exit(ok ? 0 : 1);
