import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { cpus } from 'node:os';

export type Row = Record<string, string | number>;

/** A Markdown table of rows (all rows share the first row's columns). */
export function markdownTable(rows: readonly Row[]): string {
  const cols = Object.keys(rows[0]);
  const cell = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v);
  return [
    `| ${cols.join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`),
  ].join('\n');
}

/** Prints the report and writes it (Markdown + JSON) under bench/results/. */
export function writeReport(
  path: string,
  title: string,
  sections: { heading: string; rows: Row[]; note?: string }[],
  command: string,
): void {
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
  const md = [
    `# ${title}`,
    '',
    `Command: \`${command}\`  `,
    `Machine: ${machine}  `,
    `Date: ${new Date().toISOString()}`,
    '',
    ...sections.flatMap((s) => [`## ${s.heading}`, '', markdownTable(s.rows), '', ...(s.note ? [s.note, ''] : [])]),
  ].join('\n');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, md);
  writeFileSync(
    path.replace(/\.md$/, '.json'),
    JSON.stringify({ title, command, machine, date: new Date().toISOString(), sections }, null, 2),
  );
  console.log(md);
}
