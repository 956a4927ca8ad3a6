/**
 * The TCP import order in .dependency-cruiser.cjs (tcpLayers), checked
 * against small trees laid out like src/stack/tcp: a mechanism importing one
 * above it, or a TCP file outside the order, is rejected; imports that go
 * downwards pass. `npm test` runs the same rules over the real src/.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RuleTrees } from '../helpers/dep-cruise.js';

const trees = new RuleTrees('ustack-tcprules-');
afterAll(() => trees.removeAll());
const cruise = (files: Record<string, string>): { ok: boolean; output: string } => trees.cruise(files);

const tcp = {
  'src/stack/tcp/types.ts': `export const STATE = 0;\n`,
  'src/stack/tcp/tcb.ts': `import { STATE } from './types.js';\nexport const TCB = STATE;\n`,
  'src/stack/tcp/recovery/rack.ts': `import { TCB } from '../tcb.js';\nexport const RACK = TCB;\n`,
  'src/stack/tcp/snd.ts': `import { RACK } from './recovery/rack.js';\nexport const SND = RACK;\n`,
  'src/stack/tcp/connection.ts': `import { SND } from './snd.js';\nexport const CONN = SND;\n`,
};

describe('TCP import order (.dependency-cruiser.cjs tcpLayers)', () => {
  it('passes imports that go downwards', () => {
    const r = cruise(tcp);
    expect(r.output).toContain('no dependency violations');
    expect(r.ok).toBe(true);
  });

  it('rejects the record importing a mechanism (tcb -> snd)', () => {
    const r = cruise({ ...tcp, 'src/stack/tcp/tcb.ts': `import { SND } from './snd.js';\nexport const TCB = 0;\nexport const X = SND;\n` });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('tcp/tcb-imports-upward');
  });

  it('rejects RACK calling into the sender (recovery/rack -> snd)', () => {
    const r = cruise({ ...tcp, 'src/stack/tcp/recovery/rack.ts': `import { SND } from '../snd.js';\nexport const RACK = 0;\nexport const X = SND;\n` });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('tcp/recovery/rack-imports-upward');
  });

  it('rejects a TCP file that has no place in the order', () => {
    const r = cruise({ ...tcp, 'src/stack/tcp/stray.ts': `import { TCB } from './tcb.js';\nexport const S = TCB;\n` });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('every-tcp-module-in-a-tcp-layer');
  });
});
