import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** infra/training (SSD2_TRAINING_DIR for a bundled copy of this module, whose own location is elsewhere). */
const TRAINING_DIR = process.env.SSD2_TRAINING_DIR ?? dirname(fileURLToPath(import.meta.url));

/** Python with PyTorch: SSD2_PYTHON, else Debian's /usr/bin/python3 (the default python3 may lack torch). */
export function pythonExecutable(): string {
  return process.env.SSD2_PYTHON ?? '/usr/bin/python3';
}

/** Runs one of infra/training's scripts, streaming its output through `onLine`; rejects with its stderr tail. */
export function runTrainingScript(script: string, args: readonly string[], onLine: (line: string) => void = () => {}): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(pythonExecutable(), [join(TRAINING_DIR, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const lines = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach(onLine);
    child.stdout.on('data', lines);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', (err) =>
      reject(new Error(`cannot start ${pythonExecutable()} (install python3-torch, or set SSD2_PYTHON): ${err.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else
        reject(
          new Error(
            `${script} exited with ${code}:\n${stderr
              .split('\n')
              .filter((l) => !/Warning|warn\(/.test(l))
              .slice(-15)
              .join('\n')}`,
          ),
        );
    });
  });
}
