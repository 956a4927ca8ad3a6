/**
 * Allocation sampling for the "nothing allocated per packet" tests: V8's
 * sampling heap profiler (node:inspector, one sample per 64 bytes
 * allocated) records the stack of every sampled allocation; what was
 * allocated while stack code (src/stack/) was on the call stack is charged
 * to the innermost stack function.
 */
import { Session } from 'node:inspector';

/** Bytes between samples: V8 samples an allocation with probability 1 - exp(-size / SAMPLING_INTERVAL). */
export const SAMPLING_INTERVAL = 64;

/** A node of V8's sampling heap profile (HeapProfiler.stopSampling). */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/**
 * Runs `body` (awaited when it returns a promise) under V8's sampling heap
 * profiler, one sample per 64 bytes allocated, objects collected by either
 * GC included; returns the profile's root.
 */
export async function sampleHeapProfile(body: () => void | Promise<void>): Promise<ProfileNode> {
  return (await sampleHeapProfileWithSamples(body)).head;
}

/** One sampled allocation: the object's size and the profile node (stack) that made it. */
export interface ProfileSample {
  size: number;
  nodeId: number;
}

/** sampleHeapProfile with the individual samples as well (each object's own size: what made a node's selfSize). */
export async function sampleHeapProfileWithSamples(body: () => void | Promise<void>): Promise<{ head: ProfileNode; samples: ProfileSample[] }> {
  const session = new Session();
  session.connect();
  const post = <T = unknown>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));
  try {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
    await body();
    return (await post<{ profile: { head: ProfileNode; samples: ProfileSample[] } }>('HeapProfiler.stopSampling')).profile;
  } finally {
    session.disconnect();
  }
}

/**
 * Runs `body` under the sampling heap profiler and returns the bytes
 * allocated with stack code on the call stack, by innermost stack function
 * ("name@stack/dir/file.ts"; views made by subarray under it:
 * "subarray@name@stack/dir/file.ts"). `ignore`: allocating frames (by function name)
 * not to count, e.g. 'subarray'.
 */
export async function stackAllocations(body: () => void, ignore: (functionName: string) => boolean = () => false): Promise<Map<string, number>> {
  const head = await sampleHeapProfile(body);
  const sites = new Map<string, number>();
  const walk = (n: ProfileNode, site: string): void => {
    const name = n.callFrame.url.includes('/src/stack/') ? `${n.callFrame.functionName}@${n.callFrame.url.split('/src/')[1]}` : site;
    // A view made by TypedArray subarray (the large-copy path of
    // wire/bytes.ts copyBytes) is keyed by the builtin that made it, not by
    // whichever stack function V8 happened to inline the copy into.
    const key = n.callFrame.functionName === 'subarray' && n.callFrame.url === '' ? `subarray@${name}` : name;
    if (name !== '' && n.selfSize > 0 && !ignore(n.callFrame.functionName)) sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, name);
  };
  walk(head, '');
  return sites;
}

/** The sum of the sites' bytes that `keep` selects. */
export function sumSites(sites: Map<string, number>, keep: (site: string) => boolean = () => true): number {
  let n = 0;
  for (const [site, bytes] of sites) if (keep(site)) n += bytes;
  return n;
}
