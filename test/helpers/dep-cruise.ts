/**
 * Runs the project's dependency-cruiser rules (.dependency-cruiser.cjs) over
 * a small tree written to a temporary directory, laid out like src/, so a
 * test can show a rule rejecting the import it forbids.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const depcruise = join(root, 'node_modules/.bin/depcruise');
const config = join(root, '.dependency-cruiser.cjs');

/** Cruises trees; removeAll() deletes every tree it wrote (call it in afterAll). */
export class RuleTrees {
  private readonly dirs: string[] = [];

  constructor(private readonly prefix: string) {}

  /** Writes `files` (path -> source) into a fresh tree and cruises its src/. */
  cruise(files: Record<string, string>): { ok: boolean; output: string } {
    const dir = mkdtempSync(join(tmpdir(), this.prefix));
    this.dirs.push(dir);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
    );
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    try {
      return { ok: true, output: execFileSync(depcruise, ['src', '--config', config], { cwd: dir, encoding: 'utf8', stdio: 'pipe' }) };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  }

  removeAll(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
