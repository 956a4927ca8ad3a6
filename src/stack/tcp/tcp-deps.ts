/**
 * The helper modules the TCP core depends on, gathered in one place so that
 * connection.ts and tcp-layer.ts import them from a single module.
 */
export { ByteRing, RingPool, defaultRingPool } from './ring-buffer.js';
export { Assembler } from './assembler.js';
export { RttEstimator } from './rtt.js';
export { createCongestionControl } from './congestion/index.js';
export { Timer, TimerWheel } from '../../time/timer-wheel.js';

export { IsnGenerator } from './isn.js';
export { SynCookies } from './syncookie.js';
