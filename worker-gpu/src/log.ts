/** Structured JSON logs, one object per line on stdout. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(level: 'info' | 'silent', name = 'worker-gpu'): Logger {
  const write = (lvl: string, msg: string, fields?: Record<string, unknown>) => {
    if (level === 'silent') return;
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, name, msg, ...fields })}\n`);
  };
  return { info: (m, f) => write('info', m, f), error: (m, f) => write('error', m, f) };
}
