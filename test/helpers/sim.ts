/**
 * Two NetStacks on a MemoryNic pair, driven on a virtual clock: poll until
 * nothing moves, then jump the clock to the next deadline. Deterministic for
 * a given seed, so a failing seed replays exactly.
 */
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { LoopbackNic } from '../../src/driver/loopback-nic.js';
import { ImpairedNic, type ImpairOptions } from '../../src/driver/impair.js';
import type { Nic } from '../../src/driver/nic.js';
import { VirtualClock } from '../../src/time/clock.js';
import { NetStack, type StackLimits } from '../../src/stack/net-stack.js';
import type { Interface, InterfaceConfig } from '../../src/stack/iface/interface.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';

export interface SimNode {
  stack: NetStack;
  iface: Interface;
  nic: Nic;
  raw: MemoryNic;
  address: number;
  /** The loopback interface (127.0.0.1/8, ::1), with SimOptions.loopback. */
  lo: Interface | null;
}

export interface SimOptions {
  impair?: ImpairOptions;
  mtu?: number;
  slotCount?: number;
  /** The link offloads checksums and TSO, IPv4 and IPv6 (MemoryNic.pair's offloads). */
  offloads?: boolean;
  iface?: Partial<InterfaceConfig>;
  /** Per-node additions to `iface` (e.g. different IPv6 addresses). */
  ifaceA?: Partial<InterfaceConfig>;
  ifaceB?: Partial<InterfaceConfig>;
  /** Resource caps for both stacks (as Stack.open({ limits })). */
  limits?: StackLimits;
  /** Give each stack a loopback interface first, as Stack.open does. */
  loopback?: boolean;
  /** Puts a wrapper (e.g. a hardware-filter model) between node `n`'s link and its interface. */
  wrapNic?: (nic: Nic, n: number) => Nic;
}

export class Sim {
  readonly clock = new VirtualClock(0);
  readonly a: SimNode;
  readonly b: SimNode;

  constructor(opts: SimOptions = {}) {
    const [ra, rb] = MemoryNic.pair({
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      ...(opts.slotCount !== undefined ? { slotCount: opts.slotCount } : {}),
      ...(opts.offloads !== undefined ? { offloads: opts.offloads } : {}),
    });
    this.a = this.node(ra, '10.0.0.1', opts, 0);
    this.b = this.node(rb, '10.0.0.2', opts, 1);
  }

  private node(raw: MemoryNic, addr: string, opts: SimOptions, n: number): SimNode {
    const stack = new NetStack(this.clock, opts.limits ? { limits: opts.limits } : {});
    const lo = opts.loopback ? stack.addInterface(new LoopbackNic(), { name: 'lo', address: 0x7f000001, prefixLength: 8, gateway: 0, loopback: true }) : null;
    const link = opts.impair ? new ImpairedNic(raw, this.clock, { ...opts.impair, seed: (opts.impair.seed ?? 1) * 2 + n }) : raw;
    const nic = opts.wrapNic ? opts.wrapNic(link, n) : link;
    const address = parseIpv4Address(addr);
    const own = n === 0 ? opts.ifaceA : opts.ifaceB;
    const iface = stack.addInterface(nic, { name: `sim${n}`, address, prefixLength: 24, gateway: 0, ...opts.iface, ...own });
    return { stack, iface, nic, raw, address, lo };
  }

  /** Polls both stacks until two consecutive rounds move no frame. */
  settle(): void {
    let quiet = 0;
    for (let rounds = 0; quiet < 2; rounds++) {
      if (rounds > 1_000_000) throw new Error('Sim.settle: no quiescence');
      const moved = this.a.stack.poll() + this.b.stack.poll();
      quiet = moved === 0 ? quiet + 1 : 0;
    }
  }

  /** The earliest time either stack has work. */
  nextDeadline(): number {
    return Math.min(this.a.stack.pollAt(), this.b.stack.pollAt());
  }

  /**
   * Runs until `done()` holds or virtual time passes `limitMs` from now.
   * Returns whether done() held.
   */
  runUntil(done: () => boolean, limitMs = 60_000): boolean {
    const end = this.clock.now() + limitMs;
    for (let guard = 0; ; guard++) {
      if (guard > 10_000_000) throw new Error('Sim.runUntil: clock does not advance');
      this.settle();
      if (done()) return true;
      const next = this.nextDeadline();
      if (next === Infinity || next > end) return done();
      this.clock.advanceTo(next);
    }
  }

  /** Advances virtual time by `ms`, processing everything due on the way. */
  runFor(ms: number): void {
    const end = this.clock.now() + ms;
    this.runUntil(() => false, ms);
    this.clock.advanceTo(end);
    this.settle();
  }
}

/** Puts raw frame bytes on the wire from `from`'s side (they arrive at the other end). */
export function inject(from: MemoryNic, frame: Uint8Array): void {
  const slot = from.alloc();
  if (slot < 0) throw new Error('inject: no slot');
  from.pool.set(frame, slot * from.slotSize);
  const sent = from.txBurst(Uint32Array.of(slot), Uint32Array.of(frame.length), 1);
  if (sent !== 1) from.release(slot);
}
