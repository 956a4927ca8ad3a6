/**
 * 6. Over TAP with the kernel as client. A network namespace holds the
 * client (node:net in its own process, `ip netns exec`), joined to this
 * namespace by a veth pair; the kernel forwards from the veth to the TAP.
 *
 *   netns ubench: ubv1 10.78.1.2/24, default via 10.78.1.1
 *   root:         ubv0 10.78.1.1/24, ubtap0 10.78.0.1/24 (TAP host side), ip_forward=1
 *   ustack:       10.78.0.2/24 on ubtap0, gateway 10.78.0.1
 *
 * ustack's echo and sink servers listen on 10.78.0.2 (over the TAP); node's
 * on 10.78.0.1 (the same kernel, no TAP): both are reached from the netns
 * through the veth. Only addresses created here are used.
 */
import * as nodeNet from 'node:net';
import { execFile, execSync } from 'node:child_process';
import { Stack } from '../src/ustack.js';
import { alternate, benchFile, log, type BenchOptions, type Impl, type Row } from './lib.js';

const NS = 'ubench';
const TAP = 'ubtap0';
const CLIENT = benchFile('tap-client.mjs');

function sh(cmd: string): void {
  execSync(cmd, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function quiet(cmd: string): void {
  try {
    sh(cmd);
  } catch {
    /* absent already */
  }
}

function teardown(): void {
  quiet(`ip netns del ${NS}`);
  quiet('ip link del ubv0');
}

function client(mode: 'rr' | 'bulk', host: string, port: number, arg: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', NS, process.execPath, CLIENT, mode, host, String(port), String(arg)], { timeout: 600_000 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as Record<string, number>;
        if ('error' in r) reject(new Error(`client: ${String(r.error)}`));
        else resolve(r);
      } catch {
        reject(new Error(`client failed: ${err?.message ?? ''} ${stderr}`));
      }
    });
  });
}

function servers(net: Pick<typeof nodeNet, 'createServer'>, host: string, echoPort: number, sinkPort: number): Promise<nodeNet.Server[]> {
  const echo = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  const sink = net.createServer((s) => {
    s.resume();
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  const listen = (srv: nodeNet.Server, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => resolve());
    });
  return Promise.all([listen(echo, echoPort), listen(sink, sinkPort)]).then(() => [echo, sink]);
}

export async function tapScenarios(opts: BenchOptions, rows: Row[], notes: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    notes.push('tap: skipped (needs root for TAP, veth and network namespaces)');
    return;
  }
  teardown();
  let forward = '0';
  let stack: Stack | null = null;
  const closers: nodeNet.Server[] = [];
  try {
    forward = execSync('cat /proc/sys/net/ipv4/ip_forward').toString().trim();
    stack = await Stack.open({ nic: `tap:${TAP}`, address: '10.78.0.2/24', gateway: '10.78.0.1', hostAddress: '10.78.0.1/24' });
    sh(`ip netns add ${NS}`);
    sh(`ip link add ubv0 type veth peer name ubv1`);
    sh(`ip link set ubv1 netns ${NS}`);
    sh('ip addr add 10.78.1.1/24 dev ubv0');
    sh('ip link set ubv0 up');
    sh(`ip -n ${NS} addr add 10.78.1.2/24 dev ubv1`);
    sh(`ip -n ${NS} link set ubv1 up`);
    sh(`ip -n ${NS} link set lo up`);
    sh(`ip -n ${NS} route add default via 10.78.1.1`);
    sh('sysctl -qw net.ipv4.ip_forward=1');
    closers.push(...(await servers(stack.net as unknown as typeof nodeNet, '10.78.0.2', 7, 9)));
    closers.push(...(await servers(nodeNet, '10.78.0.1', 7007, 7009)));
    const where: Record<Impl, [string, number, number]> = { ustack: ['10.78.0.2', 7, 9], node: ['10.78.0.1', 7007, 7009] };
    // Warm-up both paths (ARP, JIT).
    for (const impl of opts.impls) {
      const [h, e, s] = where[impl];
      await client('rr', h, e, 200);
      await client('bulk', h, s, 8 << 20);
    }
    const rate: Row = { scenario: '6 TAP, kernel client: echo 64 B', metric: 'transactions/s', unit: '/s', ustack: [], node: [], target: '', nodeNote: 'kernel TCP, same veth', higherIsBetter: true };
    const p50: Row = { ...rate, metric: 'p50 latency', unit: 'µs', ustack: [], node: [], higherIsBetter: false };
    const p99: Row = { ...rate, metric: 'p99 latency', unit: 'µs', ustack: [], node: [], higherIsBetter: false };
    await alternate(
      opts,
      {
        ustack: () => client('rr', where.ustack[0], where.ustack[1], opts.roundMs),
        node: () => client('rr', where.node[0], where.node[1], opts.roundMs),
      },
      (impl, r) => {
        log(`  tap rr ${impl}: ${r.rate!.toFixed(0)}/s p50 ${r.p50!.toFixed(1)} µs p99 ${r.p99!.toFixed(1)} µs`);
        rate[impl].push(r.rate!);
        p50[impl].push(r.p50!);
        p99[impl].push(r.p99!);
      },
    );
    const bytes = Math.min(opts.bulkBytes, 256 << 20);
    const bulk: Row = { scenario: `6 TAP, kernel client: bulk ${bytes >> 20} MiB`, metric: 'throughput', unit: 'Gbit/s', ustack: [], node: [], target: 'ustack ≥ 1.0× kernel', nodeNote: 'kernel TCP, same veth', higherIsBetter: true };
    await alternate(
      opts,
      {
        ustack: () => client('bulk', where.ustack[0], where.ustack[2], bytes),
        node: () => client('bulk', where.node[0], where.node[2], bytes),
      },
      (impl, r) => {
        log(`  tap bulk ${impl}: ${r.gbps!.toFixed(2)} Gbit/s`);
        bulk[impl].push(r.gbps!);
      },
    );
    rows.push(rate, p50, p99, bulk);
  } finally {
    for (const s of closers) s.close();
    await stack?.close();
    teardown();
    quiet(`sysctl -qw net.ipv4.ip_forward=${forward}`);
  }
}
