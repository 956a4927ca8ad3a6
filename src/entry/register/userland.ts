/**
 * What the program's own `require('net')` and `import ... from 'node:net'`
 * get under ustack/register: one module object, node's node:net (with the
 * patches of builtins.ts: connect and createConnection on ustack, IPC paths
 * on the kernel; Server and createServer are node's, whose listen() runs on
 * ustack) except for Socket and Stream, which are ustack/net's, so that
 * `new net.Socket().connect(port, host)` is a ustack socket too — patching
 * node's object cannot give that, because node's subclasses (TLSSocket)
 * construct net.Socket themselves. node:dgram needs nothing here: its module
 * object is patched in place (builtins.ts) and the program sees that.
 *
 * Three doors, one object:
 *   require('net'), require('node:net')   Module._load, looked up by node's
 *                                         require at call time (20, 22, 24)
 *   import 'net', import 'node:net'       a module.register() resolve hook
 *                                         (node >= 20.6; hooks.ts) answering
 *                                         with a data: URL module that
 *                                         re-exports the object, name by name
 *   process.getBuiltinModule('net')       wrapped, where node has it
 * ustack's own modules keep node's node:net (the hook passes imports from
 * inside the package through), and so does node itself.
 */
import Module, { register } from 'node:module';
import netEntry from '../net-entry.js';
import { nodeNet } from './builtins.js';
import type { ResolveHookData } from './hooks.js';

/** Where the data: URL modules find the objects (main thread, one realm). */
const GLOBAL_KEY = Symbol.for('ustack.register.userlandModules');
const SPECIFIERS: Readonly<Record<string, string>> = { net: 'net', 'node:net': 'net' };

type ModuleObject = Record<string, unknown>;

/** node:net as the program sees it (see the file comment); call after patchBuiltins(). */
export function userlandNet(): ModuleObject {
  return { ...(nodeNet as unknown as ModuleObject), Socket: netEntry.Socket, Stream: netEntry.Socket };
}

/** `export const name = m.name;` for each name a module may export under it. */
function reexportSource(key: string, obj: ModuleObject): string {
  const names = Object.keys(obj).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
  return [
    `const m = globalThis[Symbol.for(${JSON.stringify(GLOBAL_KEY.description)})][${JSON.stringify(key)}];`,
    'export default m;',
    ...names.map((n) => `export const ${n} = m.${n};`),
  ].join('\n');
}

let installed = false;

/**
 * Installs the three doors (file comment). Imports from ustack's own
 * compiled modules (the folder above src/entry, dist/ in the package) keep
 * node's node:net.
 */
export function installUserlandModules(): void {
  if (installed) return;
  installed = true;
  const modules: Record<string, ModuleObject> = { net: userlandNet() };
  (globalThis as Record<symbol, unknown>)[GLOBAL_KEY] = modules;

  // require()
  const M = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const load = M._load;
  M._load = function _load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
    const key = typeof request === 'string' ? SPECIFIERS[request] : undefined;
    if (key !== undefined) return modules[key];
    return load.call(this, request, parent, isMain);
  };

  // process.getBuiltinModule() (node >= 20.16 / 22.3)
  const proc = process as unknown as { getBuiltinModule?: (id: string) => unknown };
  const getBuiltin = proc.getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    proc.getBuiltinModule = function getBuiltinModule(id: string): unknown {
      const key = typeof id === 'string' ? SPECIFIERS[id] : undefined;
      return key !== undefined ? modules[key] : getBuiltin.call(process, id);
    };
  }

  // import (module.register exists from node 20.6; before that, require() only).
  if (typeof register === 'function') {
    const urls: Record<string, string> = {};
    for (const [spec, key] of Object.entries(SPECIFIERS)) {
      urls[spec] = `data:text/javascript,${encodeURIComponent(reexportSource(key, modules[key]!))}`;
    }
    const data: ResolveHookData = { urls, ownModulesUrl: new URL('../../', import.meta.url).href };
    register('./hooks.js', import.meta.url, { data });
  }
}
