/**
 * ARP in one place: the owner of a shared NIC answers for every worker.
 * Workers share one address and one MAC, so the kernel (or the LAN) must
 * see one answer, and a worker must learn its neighbours without every
 * worker asking the wire.
 *
 *  - A request from the wire for our address: answered here, in the same
 *    slot (rewritten into the reply and sent). Workers never see requests.
 *  - A worker's request: answered from the owner's neighbour table when it
 *    knows the target — the worker's own slot is rewritten into the reply
 *    and handed back to it as a received frame; otherwise sent to the wire
 *    as it is, and the worker noted as waiting.
 *  - A reply from the wire: learned; the received frame itself goes to the
 *    first worker waiting for that address, and each other waiting worker
 *    gets a reply the owner writes into an owner slot.
 *  - Anything else (gratuitous ARP, requests for other addresses) teaches
 *    the table and is dropped; a worker's other ARP frames go to the wire.
 *
 * No frame crosses between owner and worker by copy: slots move by index,
 * and the frames the owner writes itself are ARP replies it builds.
 */
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, emitArp, parseArp, type ArpRepr } from '../wire/arp.js';
import { writeMac } from '../wire/ethernet.js';

/** What the agent needs from the owner's slot bookkeeping (ShmOwner). */
export interface ArpSlots {
  readonly pool: Uint8Array;
  readonly slotSize: number;
  /** Sends a slot the owner holds. */
  queueTx(slot: number, len: number): boolean;
  /** Hands a slot the owner holds to a worker as a received frame. */
  deliver(place: number, slot: number, len: number): boolean;
  /** Gives a slot the owner holds back where it belongs. */
  giveBack(slot: number): boolean;
  /** Lends one free owner slot to write into, or -1. */
  takeSlot(): number;
}

export interface OwnerArpStats {
  requestsAnswered: number;
  workerRequests: number;
  answeredFromTable: number;
  askedWire: number;
  repliesLearned: number;
  repliesDelivered: number;
  repliesWritten: number;
  ignored: number;
  malformed: number;
}

const ETH_HDR = 14;
const ETH_ARP = 0x0806;
/** The wire from-value in takeLocal(): the frame came from the device. */
export const FROM_WIRE = 255;
/** How long a learned neighbour is trusted (ms); Linux keeps one REACHABLE for about 30 s. */
const NEIGHBOR_TTL_MS = 30_000;
/** How long a worker's question stays open (its own ARP timer asks again). */
const WAIT_TTL_MS = 3_000;

export class OwnerArp {
  readonly stats: OwnerArpStats = {
    requestsAnswered: 0,
    workerRequests: 0,
    answeredFromTable: 0,
    askedWire: 0,
    repliesLearned: 0,
    repliesDelivered: 0,
    repliesWritten: 0,
    ignored: 0,
    malformed: 0,
  };
  private readonly neighbors = new Map<number, { mac: number; at: number }>();
  /** Per address: the workers waiting for it, and since when. */
  private readonly waiting = new Map<number, Map<number, number>>();

  constructor(
    private readonly slots: ArpSlots,
    /** The stack's address (one for every worker) and MAC. */
    private readonly address: number,
    private readonly mac: number,
  ) {}

  /** One ARP frame the owner holds, from the wire (FROM_WIRE) or a worker place. */
  handle(slot: number, len: number, from: number, now: number): void {
    const pool = this.slots.pool;
    const base = slot * this.slots.slotSize;
    let arp: ArpRepr;
    try {
      arp = parseArp(pool, base + ETH_HDR, len - ETH_HDR);
    } catch {
      this.stats.malformed++;
      if (from === FROM_WIRE) this.slots.giveBack(slot);
      else this.slots.queueTx(slot, len); // a worker's frame we cannot read: the wire decides
      return;
    }
    if (from === FROM_WIRE) this.fromWire(slot, len, arp, now);
    else this.fromWorker(slot, len, from, arp, now);
  }

  private learn(ip: number, mac: number, now: number): void {
    if (ip !== 0 && ip !== this.address) this.neighbors.set(ip, { mac, at: now });
  }

  private fromWire(slot: number, len: number, arp: ArpRepr, now: number): void {
    this.learn(arp.senderIp, arp.senderMac, now);
    if (arp.op === ARP_REQUEST && arp.targetIp === this.address && arp.senderIp !== 0) {
      // Answer in the same slot.
      const n = this.writeReply(slot, this.mac, this.address, arp.senderMac, arp.senderIp);
      this.stats.requestsAnswered++;
      this.slots.queueTx(slot, n);
      return;
    }
    if (arp.op === ARP_REPLY && arp.targetIp === this.address) {
      this.stats.repliesLearned++;
      const waiters = this.takeWaiters(arp.senderIp, now);
      if (waiters.length > 0) {
        // The reply itself to the first; a written one to each other.
        if (this.slots.deliver(waiters[0]!, slot, len)) this.stats.repliesDelivered++;
        for (let i = 1; i < waiters.length; i++) this.answerWorker(waiters[i]!, arp.senderIp, arp.senderMac);
        return;
      }
    } else {
      this.stats.ignored++;
    }
    this.slots.giveBack(slot);
  }

  private fromWorker(slot: number, len: number, place: number, arp: ArpRepr, now: number): void {
    if (arp.op !== ARP_REQUEST || arp.targetIp === this.address) {
      // Announcements of our own address and the like: the wire may hear them.
      this.slots.queueTx(slot, len);
      return;
    }
    this.stats.workerRequests++;
    const known = this.neighbors.get(arp.targetIp);
    if (known !== undefined && now - known.at < NEIGHBOR_TTL_MS) {
      // Rewrite the worker's own request into the answer and hand it back.
      const n = this.writeReply(slot, known.mac, arp.targetIp, this.mac, this.address);
      this.stats.answeredFromTable++;
      this.slots.deliver(place, slot, n);
      return;
    }
    let w = this.waiting.get(arp.targetIp);
    if (w === undefined) {
      w = new Map();
      this.waiting.set(arp.targetIp, w);
    }
    w.set(place, now);
    this.stats.askedWire++;
    this.slots.queueTx(slot, len);
  }

  private takeWaiters(ip: number, now: number): number[] {
    const w = this.waiting.get(ip);
    if (w === undefined) return [];
    this.waiting.delete(ip);
    const out: number[] = [];
    for (const [place, since] of w) if (now - since < WAIT_TTL_MS) out.push(place);
    return out;
  }

  /** Writes "ip is at mac" for a worker into an owner slot and hands it over. */
  private answerWorker(place: number, ip: number, mac: number): void {
    const slot = this.slots.takeSlot();
    if (slot < 0) return; // its own ARP timer asks again
    const n = this.writeReply(slot, mac, ip, this.mac, this.address);
    if (this.slots.deliver(place, slot, n)) this.stats.repliesWritten++;
  }

  /** Writes an Ethernet + ARP reply "senderIp is at senderMac", to targetMac/targetIp, into a slot; returns its length. */
  private writeReply(slot: number, senderMac: number, senderIp: number, targetMac: number, targetIp: number): number {
    const pool = this.slots.pool;
    const b = slot * this.slots.slotSize;
    writeMac(pool, b, targetMac);
    writeMac(pool, b + 6, senderMac);
    pool[b + 12] = ETH_ARP >>> 8;
    pool[b + 13] = ETH_ARP & 0xff;
    emitArp({ op: ARP_REPLY, senderMac, senderIp, targetMac, targetIp }, pool, b + ETH_HDR);
    const n = ETH_HDR + ARP_LEN;
    // Pad to the Ethernet minimum (60 bytes before the FCS).
    pool.fill(0, b + n, b + 60);
    return 60;
  }

  /** A neighbour's MAC as last learned (however old), or undefined. */
  neighborOf(ip: number): number | undefined {
    return this.neighbors.get(ip)?.mac;
  }

  /** Lends a free owner slot to write a frame into, or -1. */
  takeSlot(): number {
    return this.slots.takeSlot();
  }

  /** Forgets a worker place's open questions (it died). */
  forget(place: number): void {
    for (const [ip, w] of this.waiting) {
      w.delete(place);
      if (w.size === 0) this.waiting.delete(ip);
    }
  }
}
