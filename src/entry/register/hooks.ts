/**
 * The module.register() hooks of ustack/register (they run on node's hooks
 * thread, so this file imports nothing): `import 'net'` / `'node:net'`
 * resolves to the data: URL module userland.ts built, which re-exports the
 * program's net object. Imports from ustack's own modules pass through to
 * node's node:net.
 */

export interface ResolveHookData {
  /** specifier -> the URL it resolves to */
  urls: Record<string, string>;
  /** URL of the folder holding ustack's compiled modules */
  ownModulesUrl: string;
}

interface ResolveContext {
  parentURL?: string;
  conditions: string[];
  importAttributes?: Record<string, string>;
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
type NextResolve = (specifier: string, context?: ResolveContext) => ResolveResult | Promise<ResolveResult>;

let urls: Record<string, string> = {};
let ownModulesUrl = '';

export function initialize(data: ResolveHookData): void {
  urls = data.urls;
  ownModulesUrl = data.ownModulesUrl;
}

export function resolve(specifier: string, context: ResolveContext, nextResolve: NextResolve): ResolveResult | Promise<ResolveResult> {
  const url = Object.prototype.hasOwnProperty.call(urls, specifier) ? urls[specifier] : undefined;
  if (url !== undefined && !(context.parentURL ?? '').startsWith(ownModulesUrl)) {
    return { url, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
