/**
 * Classic libpcap capture files (magic 0xa1b2c3d4, version 2.4,
 * LINKTYPE_ETHERNET), readable by tcpdump and Wireshark.
 *
 * PcapWriter appends records into one preallocated buffer and writes it with
 * fs.writeSync only when it is full, on flush() and on close().
 *
 * A capture holds every byte of traffic, and its path may come from the
 * environment (USTACK_PCAP) of a process running as root: the file is
 * created mode 0600, never through a symbolic link, and an existing file is
 * replaced only when it is a regular file of ours with no other link (see
 * openCaptureFile).
 */
import * as fs from 'node:fs';
import { WireError } from '../wire/errors.js';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
const DEFAULT_SNAPLEN = 262144;
const MIN_BUFFER = 256 * 1024;
const CAPTURE_MODE = 0o600;

/** Why a capture path was refused: ERR_USTACK_PCAP_SYMLINK or ERR_USTACK_PCAP_UNSAFE_FILE. */
export interface PcapPathError extends Error {
  code: 'ERR_USTACK_PCAP_SYMLINK' | 'ERR_USTACK_PCAP_UNSAFE_FILE';
  path: string;
}

function pathError(code: PcapPathError['code'], path: string, why: string): PcapPathError {
  const e = new Error(`pcap capture ${JSON.stringify(path)}: ${why}`) as PcapPathError;
  e.code = code;
  e.path = path;
  return e;
}

/**
 * Opens `path` for writing a capture: creates it (O_CREAT | O_EXCL |
 * O_NOFOLLOW, mode 0600), or else reopens it without following a symbolic
 * link and, only if it is a regular file owned by this user with a single
 * link, truncates it and sets mode 0600. Refusals are coded errors; other
 * failures are fs's own (ENOENT, EACCES, EISDIR...).
 */
export function openCaptureFile(path: string): number {
  const c = fs.constants;
  const nofollow = c.O_NOFOLLOW ?? 0;
  try {
    return fs.openSync(path, c.O_WRONLY | c.O_CREAT | c.O_EXCL | nofollow, CAPTURE_MODE);
  } catch (e) {
    // O_EXCL fails with EEXIST on any existing name, a symbolic link (even a dangling one) included.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let fd: number;
  try {
    fd = fs.openSync(path, c.O_WRONLY | nofollow);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw pathError('ERR_USTACK_PCAP_SYMLINK', path, 'is a symbolic link; refusing to write a capture through it');
    }
    throw e;
  }
  try {
    // Checked on the open file, not the name, so a swap after the check changes nothing.
    const st = fs.fstatSync(fd);
    const uid = process.getuid?.() ?? st.uid;
    let why: string | null = null;
    if (!st.isFile()) why = 'exists and is not a regular file';
    else if (st.uid !== uid) why = `exists and belongs to uid ${st.uid}, not ${uid}`;
    else if (st.nlink !== 1) why = `exists with ${st.nlink} hard links`;
    if (why !== null) throw pathError('ERR_USTACK_PCAP_UNSAFE_FILE', path, `${why}; refusing to replace it`);
    fs.ftruncateSync(fd, 0);
    fs.fchmodSync(fd, CAPTURE_MODE);
    return fd;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

export class PcapWriter {
  private fd: number;
  private readonly buf: Uint8Array;
  private readonly dv: DataView;
  private used = 0;
  readonly snaplen: number;

  private constructor(fd: number, snaplen: number) {
    this.fd = fd;
    this.snaplen = snaplen;
    this.buf = new Uint8Array(Math.max(MIN_BUFFER, snaplen + RECORD_HEADER_LEN));
    this.dv = new DataView(this.buf.buffer);
    const dv = this.dv;
    dv.setUint32(0, PCAP_MAGIC_USEC, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true); // thiszone
    dv.setUint32(12, 0, true); // sigfigs
    dv.setUint32(16, snaplen, true);
    dv.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = GLOBAL_HEADER_LEN;
  }

  /** Creates (or safely replaces, see openCaptureFile) `path`, mode 0600, and writes the global header. */
  static open(path: string, opts: { snaplen?: number } = {}): PcapWriter {
    const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`invalid snaplen: ${String(snaplen)}`);
    }
    const fd = openCaptureFile(path);
    const w = new PcapWriter(fd, snaplen);
    w.flush();
    return w;
  }

  /** Records frame[off, off+len) captured at `timeMs` (milliseconds since the epoch, fractions kept to the µs). */
  write(frame: Uint8Array, off: number, len: number, timeMs: number): void {
    if (this.fd < 0) throw new Error('PcapWriter is closed');
    const caplen = Math.min(len, this.snaplen);
    if (this.used + RECORD_HEADER_LEN + caplen > this.buf.length) this.flush();
    let usecTotal = Math.round(timeMs * 1000);
    if (!(usecTotal >= 0)) usecTotal = 0;
    const sec = Math.floor(usecTotal / 1e6);
    const usec = usecTotal - sec * 1e6;
    const dv = this.dv;
    const u = this.used;
    dv.setUint32(u, sec >>> 0, true);
    dv.setUint32(u + 4, usec, true);
    dv.setUint32(u + 8, caplen, true);
    dv.setUint32(u + 12, len, true);
    this.buf.set(frame.subarray(off, off + caplen), u + RECORD_HEADER_LEN);
    this.used = u + RECORD_HEADER_LEN + caplen;
  }

  flush(): void {
    if (this.fd < 0) return;
    let done = 0;
    while (done < this.used) done += fs.writeSync(this.fd, this.buf, done, this.used - done);
    this.used = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export interface PcapRecord {
  timeMs: number;
  /** A view into `bytes` (not a copy). */
  data: Uint8Array;
}

/**
 * Reads a classic pcap file of either byte order with µs or ns timestamps.
 * Only LINKTYPE_ETHERNET is accepted. A partial record at the end (a capture
 * cut short) is ignored. Throws WireError on a bad global header.
 */
export function readPcap(bytes: Uint8Array): PcapRecord[] {
  if (bytes.length < GLOBAL_HEADER_LEN) throw new WireError('truncated', 'pcap global header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBE = dv.getUint32(0, false);
  let little: boolean;
  let nsec: boolean;
  if (magicBE === PCAP_MAGIC_USEC || magicBE === PCAP_MAGIC_NSEC) {
    little = false;
    nsec = magicBE === PCAP_MAGIC_NSEC;
  } else {
    const magicLE = dv.getUint32(0, true);
    if (magicLE !== PCAP_MAGIC_USEC && magicLE !== PCAP_MAGIC_NSEC) {
      throw new WireError('unsupported', `not a pcap file (magic ${magicBE.toString(16)})`);
    }
    little = true;
    nsec = magicLE === PCAP_MAGIC_NSEC;
  }
  const major = dv.getUint16(4, little);
  if (major !== 2) throw new WireError('bad-version', `pcap version ${major}`);
  const linktype = dv.getUint32(20, little) & 0x0fffffff;
  if (linktype !== LINKTYPE_ETHERNET) throw new WireError('unsupported', `pcap link type ${linktype}`);
  const out: PcapRecord[] = [];
  let o = GLOBAL_HEADER_LEN;
  const fracDiv = nsec ? 1e6 : 1e3;
  while (o + RECORD_HEADER_LEN <= bytes.length) {
    const sec = dv.getUint32(o, little);
    const frac = dv.getUint32(o + 4, little);
    const incl = dv.getUint32(o + 8, little);
    const start = o + RECORD_HEADER_LEN;
    if (start + incl > bytes.length) break;
    out.push({ timeMs: sec * 1000 + frac / fracDiv, data: bytes.subarray(start, start + incl) });
    o = start + incl;
  }
  return out;
}
