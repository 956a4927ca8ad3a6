/**
 * `ustack/register`: `node --import ustack/register app.js` runs an
 * unmodified program with node's net, dgram, http, https, tls and global
 * fetch on ustack's default stack (default-stack.ts: configured by
 * USTACK_NIC, USTACK_ADDRESS, USTACK_GATEWAY, USTACK_HOST_ADDRESS,
 * USTACK_DNS; loopback only without USTACK_NIC; opened on the first socket).
 *
 * Two mechanisms, because node reaches these modules two ways:
 *   register/builtins.ts  patches node's module objects in place, for node's
 *                         own callers (http, https, tls, the undici behind fetch)
 *   register/userland.ts  gives the program's require/import of 'net' an
 *                         object whose Socket and Server are ustack's
 * What stays on the kernel, and why, is in src/entry/README.md.
 */
import netEntry from './net-entry.js';
import dgramEntry from './dgram-entry.js';
import { patchBuiltins } from './register/builtins.js';
import { installUserlandModules } from './register/userland.js';
import type { NetModule } from '../socket/net.js';
import type { DgramModule } from '../socket/dgram.js';

patchBuiltins(netEntry as unknown as NetModule, dgramEntry as unknown as DgramModule);
installUserlandModules();
