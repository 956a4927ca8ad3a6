/**
 * node's deprecated private members of dgram.Socket (DEP0112): the same
 * names on the prototype, each access warning as node's do, reading and
 * writing the socket's state.
 */
import { deprecate } from 'node:util';
import type { Handle } from './dgram-handle.js';
import { healthCheck, kState, type DgramOwner } from './dgram-state.js';

function deprecatedState(proto: object, name: string, get: (s: DgramOwner) => unknown, set: (s: DgramOwner, v: unknown) => void): void {
  const msg = `Socket.prototype.${name} is deprecated`;
  Object.defineProperty(proto, name, {
    configurable: true,
    get: deprecate(function (this: DgramOwner) {
      return get(this);
    }, msg, 'DEP0112'),
    set: deprecate(function (this: DgramOwner, v: unknown) {
      set(this, v);
    }, msg, 'DEP0112'),
  });
}

function deprecatedMethod(proto: object, name: string, fn: (s: DgramOwner) => void): void {
  Object.defineProperty(proto, name, {
    configurable: true,
    writable: true,
    value: deprecate(function (this: DgramOwner) {
      fn(this);
    }, `Socket.prototype.${name}() is deprecated`, 'DEP0112'),
  });
}

/** Defines `_handle`, `_receiving`, `_bindState`, `_queue`, `_reuseAddr`, `_healthCheck()` and `_stopReceiving()` on the socket class's prototype. */
export function defineDeprecatedMembers(proto: object): void {
  deprecatedState(proto, '_handle', (s) => s[kState].handle, (s, v) => (s[kState].handle = v as Handle | null));
  deprecatedState(proto, '_receiving', (s) => s[kState].handle?.receiving ?? false, (s, v) => {
    const h = s[kState].handle;
    if (h !== null) h.receiving = Boolean(v);
  });
  deprecatedState(proto, '_bindState', (s) => s[kState].bindState, (s, v) => (s[kState].bindState = v as number));
  deprecatedState(proto, '_queue', (s) => s[kState].queue, (s, v) => (s[kState].queue = v as Array<() => void> | undefined));
  deprecatedState(proto, '_reuseAddr', (s) => s[kState].reuseAddrOption, (s, v) => {
    s[kState].reuseAddrOption = v as boolean | undefined;
    s[kState].reuseAddr = v === true;
  });
  deprecatedMethod(proto, '_healthCheck', (s) => {
    healthCheck(s);
  });
  deprecatedMethod(proto, '_stopReceiving', (s) => {
    const h = s[kState].handle;
    if (h !== null) h.receiving = false;
  });
}
