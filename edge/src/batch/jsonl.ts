import { z } from 'zod';
import { ChatCompletionRequestSchema, CompletionRequestSchema } from '../openai/schemas';
import { BATCH_ENDPOINTS, type BatchEndpoint } from './messages';
import { firstIssue } from '../../../shared/errors';

const MAX_LINE_BYTES = 64 * 1024;
export const MAX_LINES = 50_000;

const LineSchema = z
  .object({
    custom_id: z.string().min(1).max(256),
    method: z.literal('POST'),
    url: z.enum(BATCH_ENDPOINTS),
    body: z.record(z.string(), z.unknown()),
  })
  .strict();

export type ParsedLine =
  | { index: number; ok: true; custom_id: string; url: BatchEndpoint; body: Record<string, unknown> }
  | { index: number; ok: false; custom_id: string | null; code: string; message: string };

const schemaFor = (url: BatchEndpoint) => (url === '/v1/completions' ? CompletionRequestSchema : ChatCompletionRequestSchema);

/** Why a request body cannot run in a batch (fused mode, one JSON answer), or null. */
function batchRefusal(body: Record<string, unknown>): string | null {
  if (body.stream) return 'stream is not supported in a batch';
  if (body.mode === 'per_step') return 'batches run in fused mode (mode: per_step is not supported)';
  if (body.client_model !== undefined || body.generation_id !== undefined) return 'client models cannot join batch lines';
  if (typeof body.n === 'number' && body.n > 1) return 'a batch line has one choice (n = 1): give each its own line';
  if (body.progress) return 'progress events are not part of a batch line (its answer is one JSON body)';
  return null;
}

/**
 * One entry per non-empty line of a batch input file, in order. A line that is not JSON, not
 * `{custom_id, method, url, body}`, names another endpoint than the batch, or whose body the
 * endpoint would refuse is kept as an error entry: it becomes an error line, never a GPU call.
 */
export function parseBatchFile(text: string, endpoint: BatchEndpoint): ParsedLine[] {
  // Messages name the line of the file (1-based, blank lines counted); `index` numbers the entries.
  const lines = text
    .split('\n')
    .map((l, i) => ({ raw: l.replace(/\r$/, ''), fileLine: i }))
    .filter(({ raw }) => raw.trim() !== '');
  return lines.map(({ raw, fileLine }, index): ParsedLine => {
    if (new TextEncoder().encode(raw).length > MAX_LINE_BYTES)
      return { index, ok: false, custom_id: null, code: 'line_too_large', message: `line ${fileLine + 1} is over ${MAX_LINE_BYTES} bytes` };
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { index, ok: false, custom_id: null, code: 'invalid_json', message: `line ${fileLine + 1} is not valid JSON` };
    }
    const customId = typeof (json as { custom_id?: unknown })?.custom_id === 'string' ? (json as { custom_id: string }).custom_id : null;
    const line = LineSchema.safeParse(json);
    if (!line.success) {
      return {
        index,
        ok: false,
        custom_id: customId,
        code: 'invalid_line',
        message: `line ${fileLine + 1}: ${firstIssue(line.error, 'line').text}`,
      };
    }
    if (line.data.url !== endpoint)
      return {
        index,
        ok: false,
        custom_id: customId,
        code: 'mismatched_url',
        message: `line ${fileLine + 1}: url ${line.data.url} differs from the batch endpoint ${endpoint}`,
      };
    const body = schemaFor(endpoint).safeParse(line.data.body);
    if (!body.success) {
      const { field, message } = firstIssue(body.error);
      return {
        index,
        ok: false,
        custom_id: customId,
        code: 'invalid_argument',
        message: `line ${fileLine + 1}: body.${field ?? ''}: ${message}`,
      };
    }
    const refusal = batchRefusal(line.data.body);
    if (refusal) return { index, ok: false, custom_id: customId, code: 'invalid_argument', message: `line ${fileLine + 1}: ${refusal}` };
    return { index, ok: true, custom_id: line.data.custom_id, url: endpoint, body: line.data.body };
  });
}

/** The first custom_id that occurs twice, or null (a batch needs them unique). */
export function duplicateCustomId(lines: ParsedLine[]): string | null {
  const seen = new Set<string>();
  for (const l of lines) {
    if (l.custom_id === null) continue;
    if (seen.has(l.custom_id)) return l.custom_id;
    seen.add(l.custom_id);
  }
  return null;
}
