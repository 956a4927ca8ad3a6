/**
 * The NIC wrappers (capture, impairment) pass ref()/unref() through to the
 * NIC they wrap. The stack always wraps its NICs in a CaptureNic, and the
 * poll loop unrefs the NIC's wake-up handle (the TAP fd's libuv poll) when no
 * socket holds the stack; a wrapper that dropped the call left that handle
 * referenced, and a process with a TAP stack never exited by itself.
 */
import { describe, expect, it } from 'vitest';
import { CaptureNic } from '../../src/driver/capture-nic.js';
import { ImpairedNic } from '../../src/driver/impair.js';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import type { Nic } from '../../src/driver/nic.js';
import { VirtualClock } from '../../src/time/clock.js';

/** A MemoryNic that counts the ref()/unref() calls reaching it, as a TapNic's handle would see them. */
function countingNic(): { nic: Nic; calls: string[] } {
  const [nic] = MemoryNic.pair();
  const calls: string[] = [];
  Object.assign(nic, {
    ref: () => calls.push('ref'),
    unref: () => calls.push('unref'),
  });
  return { nic, calls };
}

describe('NIC wrappers pass ref()/unref() through', () => {
  it('CaptureNic', () => {
    const { nic, calls } = countingNic();
    const wrapped = new CaptureNic(nic, () => 0);
    wrapped.unref();
    wrapped.ref();
    expect(calls).toEqual(['unref', 'ref']);
  });

  it('ImpairedNic, and a CaptureNic around it', () => {
    const { nic, calls } = countingNic();
    const wrapped = new CaptureNic(new ImpairedNic(nic, new VirtualClock(), { loss: 0.1, seed: 1 }), () => 0);
    wrapped.unref();
    wrapped.ref();
    wrapped.unref();
    expect(calls).toEqual(['unref', 'ref', 'unref']);
  });

  it('a NIC without a wake-up handle to reference is fine', () => {
    const [nic] = MemoryNic.pair();
    const wrapped = new CaptureNic(nic, () => 0);
    expect(() => {
      wrapped.unref();
      wrapped.ref();
    }).not.toThrow();
  });
});
