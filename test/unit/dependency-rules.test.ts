/**
 * The import rules in .dependency-cruiser.cjs, checked against small trees
 * laid out like src/: a rule that cannot fail protects nothing, so each rule
 * is shown rejecting the import it forbids, and a tree that follows the rules
 * is shown passing. `npm test` runs the same rules over the real src/.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RuleTrees } from '../helpers/dep-cruise.js';

const trees = new RuleTrees('ustack-deprules-');
afterAll(() => trees.removeAll());
const cruise = (files: Record<string, string>): { ok: boolean; output: string } => trees.cruise(files);

const layered = {
  'src/wire/ipv4.ts': `export const IPV4 = 0x0800;\n`,
  'src/time/clock.ts': `export const now = (): number => 0;\n`,
  'src/driver/nic.ts': `import { IPV4 } from '../wire/ipv4.js';\nexport const NIC = IPV4;\n`,
  'src/stack/iface/interface.ts': `import { NIC } from '../../driver/nic.js';\nimport { now } from '../../time/clock.js';\nexport const IFACE = NIC + now();\n`,
  'src/stack/tcp/connection.ts': `import { IFACE } from '../iface/interface.js';\nexport const TCP = IFACE;\n`,
  'src/socket/net.ts': `import { TCP } from '../stack/tcp/connection.js';\nexport const NET = TCP;\n`,
  'src/cli/main.ts': `import { NET } from '../socket/net.js';\nexport const MAIN = NET;\n`,
};

describe('dependency rules (.dependency-cruiser.cjs)', () => {
  it('pass a tree whose imports all go downwards', () => {
    const r = cruise(layered);
    expect(r.output).toContain('no dependency violations');
    expect(r.ok).toBe(true);
  });

  it('reject an upward import across layers (driver -> stack)', () => {
    const r = cruise({
      ...layered,
      'src/driver/nic.ts': `import { IFACE } from '../stack/iface/interface.js';\nexport const NIC = 1;\nexport const X = IFACE;\n`,
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('driver-imports-upward');
  });

  it('reject a leaf importing anything of ours (wire -> time)', () => {
    const r = cruise({
      ...layered,
      'src/wire/ipv4.ts': `import { now } from '../time/clock.js';\nexport const IPV4 = 0x0800 + now();\n`,
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('wire-is-a-leaf');
  });

  it('reject the interface importing a transport above it (iface -> tcp)', () => {
    const r = cruise({
      ...layered,
      'src/stack/iface/router.ts': `import { TCP } from '../tcp/connection.js';\nexport const R = TCP;\n`,
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('stack/iface-imports-upward');
  });

  it('reject an import cycle inside one layer', () => {
    const r = cruise({
      ...layered,
      'src/stack/tcp/a.ts': `import { B } from './b.js';\nexport const A = 1;\nexport const AB = B;\n`,
      'src/stack/tcp/b.ts': `import { A } from './a.js';\nexport const B = 2;\nexport const BA = A;\n`,
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('no-circular');
  });

  it('reject a source file outside every named layer', () => {
    const r = cruise({ ...layered, 'src/misc/helper.ts': `import { IPV4 } from '../wire/ipv4.js';\nexport const H = IPV4;\n` });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('every-module-in-a-layer');
  });
});
