/**
 * A TAP device whose kernel side sends nothing unasked, for tests that count
 * the frames arriving at the TAP or ask whether a wake-up came at all.
 *
 * A link coming up makes the kernel send IPv6 frames of its own (router
 * solicitation, MLD reports, duplicate address detection) at moments of its
 * choosing; IPv4 sends nothing by itself (no gratuitous ARP unless arp_notify
 * is set). So IPv6 is switched off on the link before it first comes up: the
 * device is created persistent (`ip tuntap add`), disable_ipv6 is set, and
 * only then does TapNic.open attach to it and bring it up. Frames are then
 * put into the TAP by the test itself, as UDP datagrams to the link's
 * broadcast address (no ARP involved), and `qdiscPackets` tells when the
 * kernel has handed them all to the TAP.
 */
import { createSocket } from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import { TapNic } from '../../src/driver/tap-nic.js';
import { linkExists, run } from './netns.js';
import { waitFor } from './wait.js';

/**
 * Switches IPv6 off on `ifname` (net.ipv6.conf.IF.disable_ipv6 = 1). Returns
 * false when the kernel has no IPv6 at all (then it sends no IPv6 frames anyway).
 */
export function disableIpv6(ifname: string): boolean {
  const path = `/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`;
  if (!existsSync(path)) return false;
  writeFileSync(path, '1');
  return true;
}

/** A TAP link whose kernel side is 10.11.`subnet`.1/24. */
export interface TapLink {
  name: string;
  /** The kernel side's address, e.g. '10.11.7.1'. */
  hostIp: string;
  /** The link's broadcast address, e.g. '10.11.7.255'. */
  broadcast: string;
}

export function tapLink(name: string, subnet: number): TapLink {
  return { name, hostIp: `10.11.${subnet}.1`, broadcast: `10.11.${subnet}.255` };
}

export interface QuietTap extends TapLink {
  nic: TapNic;
  /** Closes the TapNic and deletes the (persistent) device. */
  close(): Promise<void>;
}

/** A plain (no vnet header) TapNic on a new, IPv6-free TAP `name` with the host at 10.11.`subnet`.1/24. */
export function openQuietTap(name: string, subnet: number): QuietTap {
  run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
  let nic: TapNic;
  try {
    disableIpv6(name);
    nic = TapNic.open({ name, hostAddress: `10.11.${subnet}.1/24`, offloads: false });
  } catch (err) {
    run('ip', ['link', 'del', 'dev', name]);
    throw err;
  }
  return {
    ...tapLink(name, subnet),
    nic,
    async close() {
      await nic.close();
      if (linkExists(name)) run('ip', ['link', 'del', 'dev', name]);
    },
  };
}

/** Packets the device's root qdisc has handed to the driver (the TAP) so far. */
export function qdiscPackets(ifname: string): number {
  const list = JSON.parse(run('tc', ['-s', '-j', 'qdisc', 'show', 'dev', ifname])) as Array<{
    root?: boolean;
    packets?: number;
  }>;
  const root = list.find((q) => q.root === true) ?? list[0];
  if (root?.packets === undefined) throw new Error(`no qdisc statistics for ${ifname}: ${JSON.stringify(list)}`);
  return root.packets;
}

export const PROBE_PORT = 9;

/**
 * Sends `count` UDP datagrams from the kernel side to the link's broadcast
 * address (no ARP needed: each is one frame into the TAP), to port
 * PROBE_PORT with a 4-byte big-endian index as payload: first, first + 1...
 */
export async function sendBroadcasts(link: TapLink, count: number, first = 0): Promise<void> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: link.hostIp, port: 0 }, () => resolve());
    });
    sock.setBroadcast(true);
    for (let i = 0; i < count; i++) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(first + i);
      await new Promise<void>((resolve, reject) =>
        sock.send(b, PROBE_PORT, link.broadcast, (err) => (err ? reject(err) : resolve())),
      );
    }
  } finally {
    sock.close();
  }
}

/**
 * sendBroadcasts, then waits until the qdisc has passed exactly `count` more
 * packets to the TAP: the frames are then queued in the TAP for its reader.
 * Throws if any other frame went out meanwhile (the count must be exact for
 * the tests that use it) or on timeout.
 */
export async function queueBroadcasts(link: TapLink, count: number, first = 0): Promise<void> {
  const before = qdiscPackets(link.name);
  await sendBroadcasts(link, count, first);
  const want = before + count;
  let seen = before;
  await waitFor(
    () => {
      seen = qdiscPackets(link.name);
      if (seen > want) {
        throw new Error(`${seen - want} frame(s) other than the test's ${count} left ${link.name} (qdisc ${before} -> ${seen})`);
      }
      return seen === want;
    },
    {
      timeoutMs: 10_000,
      what: `the kernel to hand ${count} broadcast datagrams to ${link.name}`,
      detail: () => `qdisc packets ${before} -> ${seen}, want ${want}`,
    },
  );
}

/** The index in a queueBroadcasts frame (Ethernet + IPv4 + UDP + 4 bytes), or undefined for other frames. */
export function broadcastIndex(frame: Uint8Array): number | undefined {
  if (frame.length < 14 + 20 + 8 + 4 || frame[12] !== 0x08 || frame[13] !== 0x00 || frame[23] !== 17) return undefined;
  const l4 = 14 + (frame[14]! & 0x0f) * 4;
  if (((frame[l4 + 2]! << 8) | frame[l4 + 3]!) !== PROBE_PORT) return undefined;
  const p = l4 + 8;
  return ((frame[p]! << 24) | (frame[p + 1]! << 16) | (frame[p + 2]! << 8) | frame[p + 3]!) >>> 0;
}
