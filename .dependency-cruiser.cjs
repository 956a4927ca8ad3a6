/**
 * The import rules of ARCHITECTURE.md, enforced by `npm test` (scripts/test.sh
 * runs `npm run lint:deps`; test/unit/dependency-rules.test.ts checks that the
 * rules reject an upward import and a cycle).
 *
 * Layers, lowest first. A module may import its own layer and any layer below
 * it, never one above; `wire`, `time` and `errors` import nothing of ours but
 * themselves.
 */
const layers = [
  { name: 'wire', path: '^src/wire/', rank: 0 },
  { name: 'time', path: '^src/time/', rank: 0 },
  { name: 'errors', path: '^src/errors/', rank: 0 },
  { name: 'driver', path: '^src/driver/', rank: 1 },
  { name: 'stack', path: '^src/stack/', rank: 2 },
  { name: 'runtime', path: '^src/runtime/', rank: 3 },
  { name: 'shard', path: '^src/shard/', rank: 4 },
  { name: 'socket', path: '^src/socket/', rank: 5 },
  { name: 'entry', path: '^src/(entry/|ustack\\.ts$|index\\.ts$)', rank: 6 },
  { name: 'cli', path: '^src/cli/', rank: 7 },
];

/** Inside the stack: the interface knows nothing of the transports or the services above it. */
const stackLayers = [
  { name: 'stack/iface', path: '^src/stack/iface/', rank: 0 },
  { name: 'stack/udp', path: '^src/stack/udp/', rank: 1 },
  { name: 'stack/tcp', path: '^src/stack/tcp/', rank: 1 },
  { name: 'stack/tcp6', path: '^src/stack/tcp6/', rank: 2 },
  { name: 'stack/services', path: '^src/stack/services/', rank: 2 },
  { name: 'stack/engine', path: '^src/stack/[^/]+\\.ts$', rank: 3 },
];

/**
 * Inside TCP: each RFC mechanism is a file of free functions over one
 * connection record (tcb.ts), imported strictly downwards in this order, so
 * no mechanism reaches up into one that uses it. The helper modules (ring,
 * assembler, RTT, congestion control, ISN, SYN cookies, contracts) import
 * nothing of the engine; the facade (connection.ts) sits above every
 * mechanism and the layer above the facade.
 */
const tcpFile = (name) => `^src/stack/tcp/${name}\\.ts$`;
const tcpLayers = [
  {
    name: 'tcp/helpers',
    path: `${['contracts', 'assembler', 'ring-buffer', 'app-io', 'rtt', 'isn', 'siphash', 'syncookie'].map(tcpFile).join('|')}|^src/stack/tcp/congestion/`,
    rank: 0,
  },
  ...[
    'types',
    'cold-state',
    'tcb',
    'buffers',
    'output',
    'recovery/sack-scoreboard',
    'recovery/rack',
    'recovery/tlp',
    'recovery/fast-recovery',
    'snd',
    'rcv',
    'connect',
    'icmp',
    'timers',
    'connection',
    'listener',
    'demux',
    'gro',
    'tcp-layer',
  ].map((name, i) => ({ name: `tcp/${name}`, path: tcpFile(name), rank: i + 1 })),
];

function upwardRules(list, prefix) {
  const rules = [];
  for (const from of list) {
    const above = list.filter((l) => l.rank > from.rank).map((l) => l.path);
    if (above.length === 0) continue;
    rules.push({
      name: `${prefix}${from.name}-imports-upward`,
      comment: `${from.name} may not import a layer above it (${list
        .filter((l) => l.rank > from.rank)
        .map((l) => l.name)
        .join(', ')})`,
      severity: 'error',
      from: { path: from.path },
      to: { path: above.join('|') },
    });
  }
  return rules;
}

/** Leaves import nothing of ours outside their own folder. */
const leafRules = ['wire', 'time', 'errors'].map((leaf) => ({
  name: `${leaf}-is-a-leaf`,
  comment: `src/${leaf}/ imports nothing of ours outside src/${leaf}/`,
  severity: 'error',
  from: { path: `^src/${leaf}/` },
  to: { path: '^src/', pathNot: `^src/${leaf}/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles (type-only imports included: a cycle of types is still a knot in the design)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'every-module-in-a-layer',
      comment: 'every source file belongs to one of the layers ARCHITECTURE.md names',
      severity: 'error',
      from: {
        path: '^src/',
        pathNot: layers.map((l) => l.path).join('|'),
      },
      to: {},
    },
    {
      name: 'no-native-outside-driver',
      comment: 'only src/driver/ loads the addon',
      severity: 'error',
      from: { pathNot: '^src/driver/' },
      to: { path: '\\.node$' },
    },
    ...leafRules,
    ...upwardRules(layers, ''),
    ...upwardRules(stackLayers, ''),
    {
      name: 'every-tcp-module-in-a-tcp-layer',
      comment: 'every file in src/stack/tcp/ has its place in the TCP import order (tcpLayers)',
      severity: 'error',
      from: {
        path: '^src/stack/tcp/',
        pathNot: tcpLayers.map((l) => l.path).join('|'),
      },
      to: {},
    },
    ...upwardRules(tcpLayers, ''),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js'],
    },
    // ESM TypeScript imports name the compiled '.js' file; resolve them to the '.ts' source.
    extraExtensionsToScan: [],
  },
};
