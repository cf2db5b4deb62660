import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';

describe('deployment definitions', () => {
  it("npm run validate:infra passes offline: wrangler dry-runs, the worker bundle's dependencies, Kubernetes schemas, terraform fmt", () => {
    const run = spawnSync('bash', ['infra/validate.sh'], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    const summary =
      run.stdout
        .split('\n')
        .filter((l) => l.startsWith('== '))
        .at(-1) ?? '';
    expect(run.status, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    expect(summary).toMatch(/== \d+ passed, 0 failed/);
  }, 660_000);
});
