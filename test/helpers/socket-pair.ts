/**
 * Two stacks' socket modules (the same UstackSocket/Server that
 * `stack.net` and `stack.dgram` hand out) on a MemoryNic pair, driven by
 * hand on a virtual clock instead of the real-time poll loop: each step
 * polls both engines and then lets node run what the application queued
 * (nextTick, microtasks, immediates) before the next. Nothing depends on
 * wall time, so a run repeats exactly: what the allocation tests and the
 * instruction counts (bench/count.ts) need. The real-time poll loop is
 * measured on its own (test/unit/poll-loop.test.ts, `npm run bench`).
 */
import { isIP } from 'node:net';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { ImpairedNic, type ImpairOptions } from '../../src/driver/impair.js';
import type { Nic } from '../../src/driver/nic.js';
import { nativeByteKernels } from '../../src/driver/addon.js';
import { installByteKernels } from '../../src/wire/kernels.js';
import { VirtualClock } from '../../src/time/clock.js';
import { NetStack } from '../../src/stack/net-stack.js';
import type { TcpConfig } from '../../src/stack/tcp/connection.js';
import { createNetModule, type NetModule } from '../../src/socket/net.js';
import { createDgramModule, type DgramModule } from '../../src/socket/dgram.js';
import type { LookupFunction, SocketHost } from '../../src/socket/host.js';
import { ipToString, parseIpv4Address } from '../../src/wire/ipv4.js';
import { parseIpv6Address } from '../../src/wire/ipv6.js';

export interface SocketPairEnd {
  engine: NetStack;
  net: NetModule;
  dgram: DgramModule;
  address: string;
  /** With SocketPairOptions.ipv6: the end's IPv6 address (fd00::1 / fd00::2). */
  address6: string;
}

export interface SocketPairOptions {
  mtu?: number;
  /**
   * Seeds for the ISN secrets (16 bytes filled with it) and ephemeral ports
   * of the two stacks (default 1 and 2): with the virtual clock, the same
   * seeds give the same sequence numbers.
   */
  seeds?: [number, number];
  /** veth-like offloads on the link (MemoryNic offloads). */
  offloads?: boolean;
  tcp?: Partial<TcpConfig>;
  /** Seeded impairments on each end's link (driver/impair.ts ImpairedNic on the pair's virtual clock). */
  impair?: ImpairOptions;
  /** TcpLayerOptions.mergeSegments of both stacks (default: the layer's, true). */
  mergeSegments?: boolean;
  /** IPv6 too: fd00::1/64 and fd00::2/64 beside the IPv4 addresses (wait for DAD: whenIpv6Ready). */
  ipv6?: boolean;
  /** InterfaceConfig.gso of both interfaces (default: the interface's, true). */
  gso?: boolean;
  /** Wraps each end's NIC (after the impairments), e.g. to look at the frames it transmits. */
  wrapNic?: (nic: Nic) => Nic;
}

/** Address literals only: the pair has no DNS. */
const literalLookup: LookupFunction = (hostname, _opts, cb) => {
  const family = isIP(hostname);
  if (family !== 0) {
    process.nextTick(cb, null, hostname, family);
    return;
  }
  const e = Object.assign(new Error(`socket-pair: no DNS (${hostname})`), { code: 'ENOTFOUND' });
  process.nextTick(cb, e, '', 4);
};

/** Resolves after node has run everything queued now (ticks, microtasks, immediates queued before). */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class SocketPair {
  /** Starts far from 0 and fractional, as performance.now() is. */
  readonly clock = new VirtualClock(123_456.789);
  readonly a: SocketPairEnd;
  readonly b: SocketPairEnd;
  /** Steps taken by run()/settle() and engine polls so far (for per-unit figures). */
  steps = 0;
  polls = 0;

  constructor(opts: SocketPairOptions = {}) {
    // As the composition root (ustack.ts) does: the addon's copy/checksum kernels when built.
    installByteKernels(nativeByteKernels());
    const [na, nb] = MemoryNic.pair({ ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}), ...(opts.offloads ? { offloads: true } : {}) });
    const [sa, sb] = opts.seeds ?? [1, 2];
    this.a = this.end(na, '10.0.0.1', opts, sa, 'fd00::1');
    this.b = this.end(nb, '10.0.0.2', opts, sb, 'fd00::2');
  }

  private end(memNic: MemoryNic, addr: string, opts: SocketPairOptions, seed: number, addr6: string): SocketPairEnd {
    const tcp = {
      isnSecret: new Uint8Array(16).fill(seed),
      ephemeralSeed: seed,
      ...(opts.tcp ? { config: opts.tcp } : {}),
      ...(opts.mergeSegments !== undefined ? { mergeSegments: opts.mergeSegments } : {}),
    };
    const engine = new NetStack(this.clock, { tcp });
    const link: Nic = opts.impair ? new ImpairedNic(memNic, this.clock, { ...opts.impair, seed: (opts.impair.seed ?? 0) + seed }) : memNic;
    const nic = opts.wrapNic ? opts.wrapNic(link) : link;
    engine.addInterface(nic, {
      name: nic.name,
      address: parseIpv4Address(addr),
      prefixLength: 24,
      gateway: 0,
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      ...(opts.ipv6 ? { ipv6: { addresses: [{ address: parseIpv6Address(addr6), prefixLength: 64 }] } } : {}),
      ...(opts.gso !== undefined ? { gso: opts.gso } : {}),
    });
    const host: SocketHost = { endpoints: engine, ref() {}, unref() {}, kick() {}, lookup: literalLookup };
    return { engine, net: createNetModule(host), dgram: createDgramModule(host), address: ipToString(parseIpv4Address(addr)), address6: addr6 };
  }

  /** Polls both engines once; returns the frames they took. */
  poll(): number {
    const now = this.clock.now();
    this.polls += 2;
    return this.a.engine.poll(now) + this.b.engine.poll(now);
  }

  /** Steps until two steps in a row move no frame (what is in flight has landed). */
  async settle(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      this.steps++;
      const moved = this.poll();
      await turn();
      quiet = moved === 0 ? quiet + 1 : 0;
    }
  }

  /**
   * Steps until `done()` holds: poll both, let node run what that queued;
   * when a step moves nothing, advance the clock to the next engine deadline
   * (or by 1 ms). Throws after `limitMs` of virtual time.
   */
  async run(done: () => boolean, limitMs = 60_000): Promise<void> {
    const end = this.clock.now() + limitMs;
    let idle = 0;
    while (!done()) {
      this.steps++;
      const moved = this.poll();
      await turn();
      if (moved > 0) {
        idle = 0;
        continue;
      }
      if (++idle < 2) continue;
      const next = Math.min(this.a.engine.pollAt(), this.b.engine.pollAt());
      const to = next === Infinity || next <= this.clock.now() ? this.clock.now() + 1 : next;
      if (to > end) throw new Error(`SocketPair.run: not done after ${limitMs} ms of virtual time`);
      this.clock.advanceTo(to);
    }
  }

  /** Runs until both ends' IPv6 addresses passed DAD. */
  async whenIpv6Ready(): Promise<void> {
    const ready = (e: SocketPairEnd): boolean => e.engine.interfaces.every((i) => i.v6 === null || i.v6.addresses().every((x) => x.state === 'preferred'));
    await this.run(() => ready(this.a) && ready(this.b), 10_000);
  }

  close(): void {
    this.a.engine.shutdown();
    this.b.engine.shutdown();
  }
}
