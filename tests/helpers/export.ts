import { join } from 'node:path';
import { runTrainingScript } from '../../infra/training/python';
import { TINY_DIR } from './paths';

/** infra/training/export.py on a run's checkpoint.pt (the tiny model's tokenizer unless named). */
export function exportRun(
  run: string,
  out: string,
  {
    name,
    role = 'core',
    tokenizer = join(TINY_DIR, 'tokenizer.json'),
    extra = [],
  }: { name: string; role?: string; tokenizer?: string; extra?: string[] },
): Promise<void> {
  const args = ['--checkpoint', join(run, 'checkpoint.pt'), '--tokenizer', tokenizer, '--name', name, '--role', role, ...extra];
  return runTrainingScript('export.py', [...args, '--out', out]);
}
