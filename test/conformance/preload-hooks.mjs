/**
 * The ESM half of preload.mjs (runs on node's loader thread): `import` of
 * net/dgram resolves to ustack's entries, except from ustack's own files.
 */
let urls;

export function initialize(data) {
  urls = data;
}

export async function resolve(specifier, context, next) {
  const fromUstack = context.parentURL !== undefined && context.parentURL.startsWith(urls.ustackDir);
  if (!fromUstack) {
    if (specifier === 'net' || specifier === 'node:net') return { url: urls.netUrl, shortCircuit: true };
    if (specifier === 'dgram' || specifier === 'node:dgram') return { url: urls.dgramUrl, shortCircuit: true };
  }
  return next(specifier, context);
}
