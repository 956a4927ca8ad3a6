// The VM test's "account" scenario, host side (test/vm/run.mjs runs it;
// test/vm/guest-account.sh is the guest's half): QEMU's trace events switched
// on through the human monitor (HMP) for exactly one traced echo per path,
// counted from QEMU's log, and the table of MMIO accesses, interrupts and CPU
// time per 1,000 packets for ustack and the kernel's e1000 driver.
//
// What is counted, from the host (QEMU 7.2's log trace backend):
//   memory_region_ops_write / _read with name 'e1000-mmio': every guest access
//     to the e1000's BAR0, whoever makes it (ustack's driver or the kernel's);
//   ioapic_set_irq on the e1000's line with level 1: interrupts raised (the
//     line's rising edges; the guest's /proc/interrupts delta is printed too).
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';

/** A connection to QEMU's HMP on a unix socket; cmd() resolves once the next prompt is printed. */
export async function connectHmp(path, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  let sock;
  for (;;) {
    try {
      sock = await new Promise((res, rej) => {
        const s = net.connect(path);
        s.once('connect', () => res(s));
        s.once('error', rej);
      });
      break;
    } catch (e) {
      if (Date.now() > until) throw new Error(`HMP socket ${path}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  let out = '';
  let waiter = null;
  sock.on('data', (d) => {
    out += d.toString('latin1');
    if (waiter && out.includes('(qemu) ')) {
      const w = waiter;
      waiter = null;
      out = '';
      w();
    }
  });
  const prompt = () =>
    new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('HMP: no prompt within 10 s')), 10_000);
      waiter = () => {
        clearTimeout(t);
        res();
      };
      if (out.includes('(qemu) ')) {
        waiter = null;
        out = '';
        clearTimeout(t);
        res();
      }
    });
  await prompt();
  return {
    async cmd(text) {
      const p = prompt();
      sock.write(`${text}\n`);
      await p;
    },
    close() {
      sock.destroy();
    },
  };
}

export const TRACE_EVENTS = ['memory_region_ops_write', 'memory_region_ops_read', 'ioapic_set_irq', 'apic_deliver_irq'];

/** Starts tracing into `logPath` (a fresh log file per traced window). */
export async function traceOn(hmp, logPath) {
  await hmp.cmd(`logfile ${logPath}`);
  for (const e of TRACE_EVENTS) await hmp.cmd(`trace-event ${e} on`);
}

/** Stops tracing; switching the log file away closes (and flushes) the window's file. */
export async function traceOff(hmp, idlePath) {
  for (const e of TRACE_EVENTS) await hmp.cmd(`trace-event ${e} off`);
  await hmp.cmd(`logfile ${idlePath}`);
}

const REG_NAMES = {
  0x0: 'CTRL', 0x8: 'STATUS', 0xc0: 'ICR', 0xc4: 'ITR', 0xc8: 'ICS', 0xd0: 'IMS', 0xd8: 'IMC',
  0x100: 'RCTL', 0x400: 'TCTL', 0x2810: 'RDH', 0x2818: 'RDT', 0x2820: 'RDTR', 0x282c: 'RADV',
  0x3810: 'TDH', 0x3818: 'TDT', 0x3820: 'TIDV', 0x382c: 'TADV',
};
// The trace names the guest-physical address: BAR0 is 128 KiB, naturally aligned.
const regName = (addr) => {
  const a = addr & 0x1ffff;
  return REG_NAMES[a] ?? (a >= 0x4000 && a < 0x4100 ? 'statistics' : `0x${a.toString(16)}`);
};

/** Counts one window's trace log: e1000 MMIO writes/reads (by register), rising edges of `irq`. */
export function countTrace(logPath, irq) {
  const r = { writes: 0, reads: 0, byReg: new Map(), irqRises: 0, apicDeliveries: 0, lines: 0 };
  if (!existsSync(logPath)) return null;
  const text = readFileSync(logPath, 'latin1');
  const reIrq = new RegExp(`ioapic_set_irq vector: ${irq} level: 1\\b`);
  for (const line of text.split('\n')) {
    if (!line) continue;
    r.lines++;
    if (line.includes("name 'e1000-mmio'")) {
      const m = /memory_region_ops_(write|read) .* addr 0x([0-9a-f]+)/.exec(line);
      if (!m) continue;
      const isWrite = m[1] === 'write';
      if (isWrite) r.writes++;
      else r.reads++;
      const key = `${isWrite ? 'w' : 'r'} ${regName(parseInt(m[2], 16))}`;
      r.byReg.set(key, (r.byReg.get(key) ?? 0) + 1);
    } else if (reIrq.test(line)) r.irqRises++;
    else if (line.includes('apic_deliver_irq')) r.apicDeliveries++;
  }
  return r;
}

/** The e1000 counters in one of ustack's stats() snapshots. */
function nicOf(stats) {
  for (const v of Object.values(stats ?? {})) if (v && typeof v === 'object' && 'hwRxGoodPackets' in v) return v;
  return null;
}

/**
 * One row of the table from the guest's snapshots (acct[path] = { before: {...}, after: {...} }),
 * the trace counts and the two echo times.
 */
export function accountRow(path, g, trace, clk, timedMs, tracedMs) {
  const b = g.before;
  const a = g.after;
  const tick = 1000 / clk; // ms per clock tick
  const stat = (k) => (a.stat[k] - b.stat[k]) * tick; // /proc/stat: user nice system idle iowait irq softirq steal
  const cpu = {
    user: stat(0) + stat(1),
    system: stat(2),
    irq: stat(5) + stat(6),
    idle: stat(3) + stat(4),
  };
  const procUserMs = (a.proc[0] - b.proc[0]) * tick;
  const procSysMs = (a.proc[1] - b.proc[1]) * tick;
  const procMs = procUserMs + procSysMs;
  const row = { path, timedMs: median(timedMs), timedRuns: timedMs, tracedMs, windowMs: (a.up - b.up) * 1000, cpu, procMs, procUserMs, procSysMs, guestIrqs: a.intr - b.intr };
  if (a.nic && b.nic) {
    const n0 = nicOf(a.nic) ? nicOf(b.nic) : null;
    const n1 = nicOf(a.nic);
    const d = (k) => (n1[k] ?? 0) - (n0[k] ?? 0);
    row.packets = d('hwRxGoodPackets') + d('hwTxGoodPackets');
    row.rxPackets = d('hwRxGoodPackets');
    row.txPackets = d('hwTxGoodPackets');
    row.driver = {
      mmioWrites: d('mmioWrites'), mmioReads: d('mmioReads'), irqs: d('irqs'),
      rxPolls: d('rxPolls'), rxBursts: d('rxBursts'), txBursts: d('txBursts'),
      rxFrames: d('rxFrames'), txFrames: d('txFrames'), tsoFrames: d('txTsoFrames'), tsoSoftware: d('txTsoSoftware'),
      nativeMs: (d('nativeRxNs') + d('nativeTxNs') + d('nativeReclaimNs') + d('nativeArmNs')) / 1e6,
      nativeRxMs: d('nativeRxNs') / 1e6, nativeTxMs: d('nativeTxNs') / 1e6, nativeCalls: d('nativeCalls'),
      nativeRxEmptyMs: d('nativeRxEmptyNs') / 1e6,
      timing: n1.nativeTiming === 1,
    };
    // TCP's own view of the echo: losses and recovery would cost round trips, not CPU.
    const t0 = b.nic.tcp ?? {};
    const t1 = a.nic.tcp ?? {};
    row.tcp = Object.keys(t1)
      .filter((k) => /retrans|rto|timeout|dup|outOfOrder|recover|drop|lost/i.test(k) && typeof t1[k] === 'number' && t1[k] - (t0[k] ?? 0) !== 0)
      .map((k) => `${k} ${t1[k] - (t0[k] ?? 0)}`);
  } else if (a.netdev && b.netdev) {
    row.rxPackets = a.netdev[0] - b.netdev[0];
    row.txPackets = a.netdev[1] - b.netdev[1];
    row.packets = row.rxPackets + row.txPackets;
    if (a.tcpsnmp && b.tcpsnmp) {
      const rtx = a.tcpsnmp[2] - b.tcpsnmp[2];
      row.tcp = [`${rtx} segments retransmitted (/proc/net/snmp RetransSegs)`];
    }
  }
  row.trace = trace;
  return row;
}

function median(xs) {
  const v = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[v.length >> 1];
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '?');
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '?');

/** The printed table: one block per path, then the ratio. */
export function accountLines(rows) {
  const out = [];
  for (const r of rows) {
    const per1k = (x) => f1((x / r.packets) * 1000);
    const perPkt = (ms) => f1((ms * 1000) / r.packets); // µs per packet
    const t = r.trace;
    out.push(`${r.path}: 10 MB echo ${f0(r.timedMs)} ms (median of ${r.timedRuns.map(f0).join(', ')}; traced run ${f0(r.tracedMs)} ms); ${r.packets} packets on the wire (rx ${r.rxPackets}, tx ${r.txPackets})`);
    if (t) {
      const regs = [...t.byReg].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${per1k(v)}`).join(', ');
      out.push(`  per 1,000 packets: MMIO writes ${per1k(t.writes)}, MMIO reads ${per1k(t.reads)}, interrupts ${per1k(t.irqRises)} (QEMU trace; guest /proc/interrupts ${per1k(r.guestIrqs)})`);
      out.push(`  MMIO by register per 1,000 packets: ${regs || 'none'}`);
    }
    const c = r.cpu;
    out.push(`  guest CPU over the traced echo (${f0(r.windowMs)} ms window, /proc/stat): user ${f0(c.user)} ms, system ${f0(c.system)} ms, irq+softirq ${f0(c.irq)} ms, idle ${f0(c.idle)} ms; server process ${f0(r.procMs)} ms`);
    if (r.driver) {
      const d = r.driver;
      // Empty rxBurst calls are waiting for frames (busy polling spins on them), not work per packet.
      const js = r.procMs - d.nativeMs - d.nativeRxEmptyMs;
      out.push(`  driver's own count: MMIO writes ${per1k(d.mmioWrites)}, reads ${per1k(d.mmioReads)} per 1,000 packets; irqs ${d.irqs}; rxBurst calls ${d.rxPolls} (${d.rxBursts} with frames, ${f1(d.rxFrames / Math.max(1, d.rxBursts))} frames each), txBurst calls that sent ${d.txBursts} (${f1(d.txFrames / Math.max(1, d.txBursts))} frames each; ${d.tsoFrames} TSO frames, ${d.tsoSoftware} of them cut by the driver)`);
      out.push(`  TCP over the traced echo: ${r.tcp?.length ? r.tcp.join(', ') : 'no retransmissions, losses or out-of-order segments counted'}`);
      if (d.timing) {
        out.push(`  time per packet: native (inside the addon's rxBurst calls that took frames, txBurst, txReclaim, armWake; QEMU's device model behind the MMIO included) ${perPkt(d.nativeMs)} µs (rx ${perPkt(d.nativeRxMs)}, tx ${perPkt(d.nativeTxMs)}), JavaScript and the rest of the process (V8, GC, libuv; the JavaScript side of empty polls included) ${perPkt(js)} µs, empty rxBurst calls ${perPkt(d.nativeRxEmptyMs)} µs (${d.rxPolls - d.rxBursts} calls: waiting), guest kernel (system+irq+softirq) ${perPkt(c.system + c.irq)} µs`);
      }
    } else {
      if (r.tcp) out.push(`  TCP over the traced echo: ${r.tcp.join(', ')}`);
      out.push(`  time per packet: node:net process in user mode (JavaScript, V8, libuv) ${perPkt(r.procUserMs)} µs; guest kernel (system+irq+softirq: syscalls, TCP/IP, the e1000 driver, QEMU's device model behind its MMIO) ${perPkt(c.system + c.irq)} µs (the node process's own system time, softirq work that ran in its context included: ${perPkt(r.procSysMs)} µs)`);
    }
  }
  const k = rows.find((r) => r.path === 'kernel');
  for (const r of rows) {
    if (r !== k && k) {
      out.push(`${r.path} vs kernel e1000 + node:net, 10 MB echo: ${f0(r.timedMs)} ms vs ${f0(k.timedMs)} ms: ustack at ${(k.timedMs / r.timedMs).toFixed(2)}x the kernel path's speed (time ratio ustack/kernel ${(r.timedMs / k.timedMs).toFixed(2)})`);
    }
  }
  return out;
}
