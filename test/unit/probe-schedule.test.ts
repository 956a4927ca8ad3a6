/**
 * The repeats of the owner's probes of a dead worker's peers
 * (src/driver/probe-schedule.ts): each flow is probed again after each gap
 * of the schedule and then let go; nextAt() says when the owner must poll;
 * the number of waiting flows is bounded, the oldest let go first.
 */
import { describe, expect, it } from 'vitest';
import { ProbeSchedule, type ProbeFlow } from '../../src/driver/probe-schedule.js';

const flow = (n: number): ProbeFlow => ({ remote: 0x0a000001, remotePort: 40000 + n, local: 0x0a000002, localPort: 7 });

describe('ProbeSchedule', () => {
  it('probes each flow again after every gap, then lets it go', () => {
    const s = new ProbeSchedule({ delaysMs: [250, 500, 1000], maxFlows: 16 });
    s.add(flow(1), 1000);
    s.add(flow(2), 1100);
    const sent: [number, number][] = [];
    const send = (f: ProbeFlow): void => void sent.push([f.remotePort, t]);
    let t = 1000;
    expect(s.nextAt()).toBe(1250);
    // Step a virtual clock 10 ms at a time, polling only when due (as the PollLoop sleeps until pollAt()).
    for (; t <= 5000; t += 10) if (t >= s.nextAt()) s.runDue(t, send);
    expect(sent).toEqual([
      [40001, 1250],
      [40002, 1350],
      [40001, 1750],
      [40002, 1850],
      [40001, 2750],
      [40002, 2850],
    ]);
    expect(s.pending).toBe(0);
    expect(s.nextAt()).toBe(Infinity);
    expect(s.stats).toEqual({ repeats: 6, letGo: 0 });
  });

  it('a late poll sends what is due once, and counts the next gap from then', () => {
    const s = new ProbeSchedule({ delaysMs: [100, 100], maxFlows: 4 });
    s.add(flow(1), 0);
    const at: number[] = [];
    expect(s.runDue(50, () => at.push(50))).toBe(0);
    expect(s.runDue(400, () => at.push(400))).toBe(1);
    expect(s.nextAt()).toBe(500);
    expect(s.runDue(500, () => at.push(500))).toBe(1);
    expect(at).toEqual([400, 500]);
    expect(s.pending).toBe(0);
  });

  it('holds at most maxFlows, letting the oldest go first', () => {
    const s = new ProbeSchedule({ delaysMs: [100], maxFlows: 3 });
    for (let i = 0; i < 5; i++) s.add(flow(i), i);
    expect(s.pending).toBe(3);
    expect(s.stats.letGo).toBe(2);
    const ports: number[] = [];
    s.runDue(1000, (f) => ports.push(f.remotePort));
    expect(ports.sort()).toEqual([40002, 40003, 40004]);
  });

  it('an empty schedule keeps nothing', () => {
    const s = new ProbeSchedule({ delaysMs: [], maxFlows: 10 });
    s.add(flow(1), 0);
    expect(s.pending).toBe(0);
    expect(s.nextAt()).toBe(Infinity);
  });
});
