export { Stack, type StackOptions, type StackStats } from './ustack.js';
export type { StackLimits } from './stack/net-stack.js';
export type { ImpairOptions } from './driver/impair.js';
export type { PollMode } from './runtime/poll-loop.js';
export { serveHttp, UstackHttpAgent, undiciConnector } from './socket/http.js';
export type { NetModule } from './socket/net.js';
export type { UstackSocket } from './socket/net-socket.js';
export type { UstackServer } from './socket/net-server.js';
