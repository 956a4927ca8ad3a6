/**
 * Hostile conditions with the Linux kernel as the peer over a TAP device:
 *  - ustack's impairment layer on its own NIC (loss, corruption, duplication,
 *    reordering, delay) while kernel sockets transfer to and from ustack;
 *    every byte checked by SHA-256.
 *  - hping3 SYN flood with random spoofed sources from the host side, aimed
 *    only at the address on our TAP, while curl keeps downloading from a
 *    node:http server on ustack. Bounded in count (and by `timeout`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, serveHttp, type UstackServer } from '../../src/index.js';
import { startChild } from '../helpers/children.js';
import { ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

const tapSkip = tunUnavailableReason() ?? ensureTools(['ip']);
if (tapSkip !== undefined) console.log(`[hostile-tap.test] skipping: ${tapSkip}`);

describe.skipIf(tapSkip !== undefined)('impairments on ustack\'s TAP NIC, kernel transferring both ways', () => {
  let stack: Stack;
  let ours: string;
  let servers: net.Server[] = [];
  const download = randomBytes(4 * MB);
  const upload = randomBytes(4 * MB);

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    stack = await Stack.open({
      nic: `tap:${uniqueIfName('uimp')}`,
      address: `${ours}/24`,
      hostAddress: `10.11.${subnet}.1/24`,
      impair: { loss: 0.02, reorder: 0.05, duplicate: 0.02, corrupt: 0.005, delay: 2, jitter: 1, seed: 7 },
    });
    const dl = stack.net.createServer((s) => {
      s.on('error', () => {});
      s.end(download);
    });
    const ul = stack.net.createServer({ allowHalfOpen: true }, (s) => {
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => dl.listen(9000, r));
    await new Promise<void>((r) => ul.listen(9001, r));
    servers = [dl as unknown as net.Server, ul as unknown as net.Server];
  });

  afterAll(async () => {
    for (const s of servers) s.close();
    await stack?.close();
  });

  it('4 MB from ustack to the kernel and 4 MB back, SHA-256 verified, through loss/corruption/duplication/reordering/delay', async () => {
    let downloaded = 0;
    const got = await withTimeout(
      new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const c = net.connect(9000, ours);
        c.on('data', (d: Buffer) => {
          chunks.push(d);
          downloaded += d.length;
        });
        c.on('end', () => resolve(Buffer.concat(chunks)));
        c.on('error', reject);
      }),
      { timeoutMs: 60_000, what: `the kernel to download 4 MB from ${ours}:9000`, detail: () => `${downloaded} bytes so far` },
    );
    expect(got.length).toBe(download.length);
    expect(sha(got)).toBe(sha(download));
    const reply = await withTimeout(
      new Promise<string>((resolve, reject) => {
        let s = '';
        const c = net.connect(9001, ours, () => c.end(upload));
        c.on('data', (d) => (s += d));
        c.on('end', () => resolve(s));
        c.on('error', reject);
      }),
      { timeoutMs: 60_000, what: `ustack's hash of 4 MB uploaded to ${ours}:9001` },
    );
    expect(reply).toBe(`${upload.length} ${sha(upload)}`);
    const st = stack.stats();
    const nic = st[`nic.${stack.iface.name}`]!;
    const impair = Object.fromEntries(Object.entries(nic).filter(([k]) => k.startsWith('impair_') && nic[k]! > 0));
    console.log(`[hostile-tap] impaired transfer: 4 MB each way verified; impairments ${JSON.stringify(impair)}; tcp retransmits ${st.tcp!.retransmits}, sack recoveries ${st.tcp!.sackRecoveries}, ip bad checksum drops ${st.ipv4!.drop_bad_checksum}, tcp bad checksum ${st.tcp!.badChecksum}`);
    expect(nic.impair_tx_lost! + nic.impair_rx_lost!).toBeGreaterThan(0);
    expect(nic.impair_tx_corrupted! + nic.impair_rx_corrupted!).toBeGreaterThan(0);
    expect(nic.impair_tx_duplicated! + nic.impair_rx_duplicated!).toBeGreaterThan(0);
    expect(nic.impair_tx_reordered! + nic.impair_rx_reordered!).toBeGreaterThan(0);
    expect(st.tcp!.retransmits).toBeGreaterThan(0);
  });
});

const floodSkip = tapSkip ?? ensureTools(['hping3', 'curl']);
if (floodSkip !== undefined) console.log(`[hostile-tap.test] hping3 flood skipping: ${floodSkip}`);

describe.skipIf(floodSkip !== undefined)('hping3 SYN flood from the host while curl downloads from node:http on ustack', () => {
  let stack: Stack;
  let ours: string;
  let tcp: UstackServer;
  let httpServer: http.Server;
  const body = randomBytes(2 * MB);
  const bodyHash = sha(body);
  const FLOOD_PACKETS = 30_000;

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    // The host is our gateway: SYN-ACKs to the spoofed sources go back to it (and die there).
    stack = await Stack.open({ nic: `tap:${uniqueIfName('uflood')}`, address: `${ours}/24`, hostAddress: `10.11.${subnet}.1/24`, gateway: `10.11.${subnet}.1` });
    httpServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    tcp = await serveHttp(stack.net, httpServer, 8080);
  });

  afterAll(async () => {
    tcp?.close();
    httpServer?.close();
    await stack?.close();
  });

  it(`curl downloads keep succeeding during ${FLOOD_PACKETS.toLocaleString()} spoofed SYNs`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-flood-'));
    try {
      // Bounded: a fixed packet count, and `timeout` as a backstop. Only our TAP address is targeted.
      const flood = startChild('timeout', ['60', 'hping3', '-q', '-S', '-p', '8080', '--rand-source', '-c', String(FLOOD_PACKETS), '-i', 'u20', ours], {
        what: `hping3 SYN flood at ${ours}:8080`,
      });
      let floodDone = false;
      const floodExit = flood.done.then((r) => {
        floodDone = true;
        return r.code;
      });
      // Wait until the flood is visibly arriving before the first download.
      for (let i = 0; i < 500 && stack.stats().tcp!.synCookiesSent + stack.stats().tcp!.passiveOpens < 600 && !floodDone; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      let ok = 0;
      let duringFlood = 0;
      const failures: string[] = [];
      while (!floodDone || ok < 3) {
        const out = join(dir, `f${ok}`);
        const wasFlooding = !floodDone;
        try {
          const { stdout } = await runBounded('curl', ['-sS', '--max-time', '60', '-o', out, '-w', '%{http_code}', `http://${ours}:8080/`], { timeoutMs: 70_000 });
          if (stdout !== '200' || sha(readFileSync(out)) !== bodyHash) failures.push(`status ${stdout}`);
          else {
            ok++;
            if (wasFlooding) duringFlood++;
          }
        } catch (err) {
          failures.push((err as Error).message);
        }
        rmSync(out, { force: true });
        if (failures.length > 0 || ok > 200) break;
      }
      await withTimeout(floodExit, { timeoutMs: 70_000, what: 'hping3 (under `timeout 60`) to exit', detail: () => flood.describe() });
      const st = stack.stats();
      console.log(
        `[hostile-tap] hping3 flood (${FLOOD_PACKETS.toLocaleString()} SYNs, random sources): curl downloads ok ${ok} (${duringFlood} while the flood ran), failures ${failures.length}; ` +
          `syn cookies sent ${st.tcp!.synCookiesSent}, validated ${st.tcp!.synCookiesValidated}, passive opens ${st.tcp!.passiveOpens}, tcp connections now ${stack.engine.tcp.connections().length}; hping3: ${(flood.stdout() + flood.stderr()).trim().split('\n').slice(-2).join(' | ')}`,
      );
      expect(failures).toEqual([]);
      expect(duringFlood).toBeGreaterThanOrEqual(1);
      expect(st.tcp!.synCookiesSent).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
