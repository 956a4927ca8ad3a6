/**
 * A dgram socket's send path once send()'s arguments are checked: the
 * destination's lookup (with the default lookup, sends to IPv4 literals are
 * batched to one process.nextTick, where node delivers each lookup's
 * callback), the sendBlockList, the checks the kernel makes (size,
 * broadcast, route) with its errno, the datagram handed to the endpoint, and
 * the completion reported as node reports it.
 */
import { Buffer } from 'node:buffer';
import { isIPv4 } from 'node:net';
import { ERR_IP_BLOCKED, systemError } from '../errors/node-errors.js';
import { parseIpv4Address } from '../wire/ipv4.js';
import { ipv4OfMapped } from '../wire/ipv6.js';
import type { Dgram6Binding } from './dgram6.js';
import type { Handle } from './dgram-handle.js';
import { CONN_CONNECTED, kState, type DgramOwner } from './dgram-state.js';
import type { SendCallback } from './dgram-types.js';

const MAX_UDP_PAYLOAD = 65507;
/** The largest UDP payload to a native IPv6 destination: the 16-bit UDP length less its header. */
const MAX_UDP6_PAYLOAD = 65527;

/**
 * node sends a datagram at once when it can (uv_udp_try_send), so nothing
 * waits in its send queue; node's --test-udp-no-try-send makes every send a
 * queued request until its completion runs. ustack's sends complete at once,
 * and with that flag are counted as node counts them.
 */
const NO_TRY_SEND = process.execArgv.includes('--test-udp-no-try-send') || (process.env.NODE_OPTIONS ?? '').includes('--test-udp-no-try-send');

/**
 * Sends `list` as one datagram from a bound socket: to the connected peer
 * when the socket was connected at send() and still is, else to `address`
 * (as the caller gave it) once looked up.
 */
export function sendList(
  sock: DgramOwner,
  list: Buffer[],
  port: number,
  address: string | undefined | null,
  cb: SendCallback | undefined,
  wasConnected: boolean,
): void {
  const st = sock[kState];
  const h = st.handle;
  if (h === null) return;
  // Queued before bind completed: node re-runs send() then, re-reading the connected state.
  const connected = st.connectState === CONN_CONNECTED && wasConnected;
  const afterDns = (ex: Error | null, ip?: string): void => {
    if (ex) {
      if (cb) process.nextTick(cb, ex);
      else process.nextTick(() => sock.emit('error', ex));
      return;
    }
    sendResolved(sock, h, list, connected ? null : (ip ?? ''), port, cb, address);
  };
  if (connected) afterDns(null);
  else if (h.defaultLookup && (!address || address === h.lastDstText || isIPv4(address))) {
    h.pendData.push(list);
    h.pendPort.push(port);
    h.pendAddr.push(address);
    h.pendCb.push(cb);
    if (!h.pendScheduled) {
      h.pendScheduled = true;
      process.nextTick(flushPendingSends, sock, h);
    }
  } else h.lookup(address ?? '', afterDns);
}

/** The batched sends to IPv4 literals, on the tick their lookups would complete. */
function flushPendingSends(sock: DgramOwner, h: Handle): void {
  h.pendScheduled = false;
  const data = h.pendData;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    // The default lookup resolves no address to 127.0.0.1 and a literal to itself.
    const address = h.pendAddr[i];
    sendResolved(sock, h, data[i]!, address || '127.0.0.1', h.pendPort[i]!, h.pendCb[i], address);
  }
  // Sends queued while sending (none, unless a send re-enters) wait for their own tick.
  if (data.length === n) {
    data.length = 0;
    h.pendPort.length = 0;
    h.pendAddr.length = 0;
    h.pendCb.length = 0;
  } else {
    data.splice(0, n);
    h.pendPort.splice(0, n);
    h.pendAddr.splice(0, n);
    h.pendCb.splice(0, n);
  }
}

/**
 * Sends one datagram once its destination is resolved (ip null: the
 * connected peer) and reports to the callback; `address` is what the
 * caller passed, for the error.
 */
function sendResolved(
  sock: DgramOwner,
  h: Handle,
  list: Buffer[],
  ip: string | null,
  port: number,
  cb: SendCallback | undefined,
  address: string | null | undefined,
): void {
  const st = sock[kState];
  if (st.handle !== h || !h.open) return;
  if (ip !== null && st.sendBlockList?.check(ip, sock.type === 'udp4' ? 'ipv4' : 'ipv6')) {
    if (cb) process.nextTick(cb, ERR_IP_BLOCKED(ip));
    return;
  }
  const code = transmit(h, list, ip, port, st.reuseAddr);
  const result = typeof code === 'number' ? null : systemError(code, 'send', address ?? undefined, ip === null ? undefined : port);
  if (NO_TRY_SEND) {
    // A queued request until its completion runs, which leaves the queue just before its callback.
    let bytes = 0;
    for (let i = 0; i < list.length; i++) bytes += list[i]!.length;
    h.sendQueueSize += bytes;
    h.sendQueueCount++;
    process.nextTick(() => {
      h.sendQueueSize -= bytes;
      h.sendQueueCount--;
      if (cb) cb(result, result === null ? (code as number) : undefined);
    });
    return;
  }
  if (!cb) return;
  if (result === null) process.nextTick(cb, null, code);
  else process.nextTick(cb, result);
}

/** Sends one datagram; returns its length, or an errno code. */
function transmit(h: Handle, list: Buffer[], ip: string | null, port: number, reuse: boolean): number | string {
  try {
    h.rehash(reuse);
  } catch {
    return 'EAGAIN';
  }
  if (h.six !== null) return transmit6(h, h.six, list, ip, port);
  const ep = h.ep!;
  let dst: number;
  let dstPort: number;
  if (ip === null) {
    dst = ep.remoteAddress;
    dstPort = ep.remotePort;
  } else {
    if (ip !== h.lastDstText || ip === '') {
      try {
        dst = parseIpv4Address(ip);
      } catch {
        return 'EINVAL';
      }
      h.lastDstText = ip;
      h.lastDst = dst;
    } else dst = h.lastDst;
    if (dst === 0) dst = 0x7f000001;
    dstPort = port;
  }
  const data = list.length === 1 ? list[0]! : Buffer.concat(list);
  if (data.length > MAX_UDP_PAYLOAD) return 'EMSGSIZE';
  if (data.length > h.sendBuf) return 'EMSGSIZE';
  const endpoints = h.host.endpoints;
  if (endpoints.isBroadcastAddress(dst) && !h.broadcast) return 'EACCES';
  if (endpoints.sourceAddressFor(dst) < 0) return 'ENETUNREACH';
  const opts = h.sendOpts;
  opts.ttl = h.ttl;
  const ok = ep.send(dst, dstPort, data, 0, data.length, opts);
  h.host.kick();
  if (!ok) return 'ENOBUFS';
  return data.length;
}

/** transmit() of a 'udp6' socket. */
function transmit6(h: Handle, six: Dgram6Binding, list: Buffer[], ip: string | null, port: number): number | string {
  let dst: Uint8Array | null = null;
  if (ip !== null) {
    dst = six.destination(ip);
    if (dst === null) return 'EINVAL';
  }
  const data = list.length === 1 ? list[0]! : Buffer.concat(list);
  // A native IPv6 destination takes 65,535 - 8 bytes (no IPv4 header); an IPv4-mapped one IPv4's limit, as Linux.
  const to = dst ?? six.remote;
  const max = to !== null && ipv4OfMapped(to) < 0 ? MAX_UDP6_PAYLOAD : MAX_UDP_PAYLOAD;
  if (data.length > max || data.length > h.sendBuf) return 'EMSGSIZE';
  const r = six.send(dst, port, data, h.ttl, h.broadcast, h.sendOpts);
  h.host.kick();
  if (typeof r === 'string') return r;
  return r ? data.length : 'ENOBUFS';
}
