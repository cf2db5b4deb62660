/**
 * The batch API from outside, over HTTP (the same calls a tenant makes): upload a JSONL file,
 * create a batch, poll it, download its output and error files, and check that every input line
 * has exactly one outcome. Shared by the stack tests and `npm run bench:batch`.
 */

export interface BatchObject {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
}

export interface OutputLine {
  id: string;
  custom_id: string;
  response: {
    status_code: number;
    request_id: string;
    body: { usage: { prompt_tokens: number; completion_tokens: number }; ssd2: { steps_run: number; steps_saved: number } };
  };
  error: null;
}

export interface ErrorLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string | null; body: unknown } | null;
  error: { code: string; message: string; line: number };
}

export class BatchClient {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
  ) {}

  private async call<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${this.apiKey}`, ...(init.headers as Record<string, string>) },
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text.slice(0, 500)}`);
    return (
      res.headers.get('content-type')?.includes('json') && !res.headers.get('content-type')?.includes('jsonl') ? JSON.parse(text) : text
    ) as T;
  }

  /** POST /v1/files (multipart, purpose=batch); returns the file id. */
  async upload(jsonl: string, filename = 'input.jsonl'): Promise<string> {
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new File([jsonl], filename, { type: 'application/jsonl' }));
    return (await this.call<{ id: string }>('/v1/files', { method: 'POST', body: form })).id;
  }

  create(inputFileId: string, endpoint = '/v1/completions'): Promise<BatchObject> {
    return this.call('/v1/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: inputFileId, endpoint, completion_window: '24h' }),
    });
  }

  get(batchId: string): Promise<BatchObject> {
    return this.call(`/v1/batches/${batchId}`);
  }

  /** Polls until the batch is completed or cancelled; `onPoll` sees every state. */
  async wait(batchId: string, timeoutMs: number, everyMs = 500, onPoll?: (b: BatchObject) => void | Promise<void>): Promise<BatchObject> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = await this.get(batchId);
      await onPoll?.(b);
      if (b.status === 'completed' || b.status === 'cancelled') return b;
      if (Date.now() > deadline) throw new Error(`batch ${batchId} not done within ${timeoutMs} ms: ${JSON.stringify(b)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  async lines<T>(fileId: string | null): Promise<T[]> {
    if (fileId === null) return [];
    const text = await this.call<string>(`/v1/files/${fileId}/content`);
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as T);
  }

  /** GET /v1/usage totals of this tenant (this month). */
  async usageTotal(): Promise<Record<string, number>> {
    return (await this.call<{ total: Record<string, number> }>('/v1/usage')).total;
  }
}

/**
 * How often each input line is answered: custom_ids from the output and error lines (an error
 * line without a readable custom_id counts for the input line it names). `missing` and
 * `duplicated` must both be empty for "exactly one outcome per input line".
 */
export function outcomesPerLine(
  customIds: readonly string[],
  out: readonly OutputLine[],
  errs: readonly ErrorLine[],
): { missing: string[]; duplicated: string[]; unknown: string[] } {
  const known = new Set(customIds);
  const seen = new Map<string, number>();
  const unknown: string[] = [];
  const count = (id: string | null | undefined, tag: string) => {
    if (id === null || id === undefined || !known.has(id)) {
      unknown.push(tag);
      return;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
  };
  for (const o of out) count(o.custom_id, `output ${o.id}`);
  for (const e of errs) count(e.custom_id ?? customIds[e.error.line], `error ${e.id}`);
  return {
    missing: customIds.filter((id) => !seen.has(id)),
    duplicated: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
    unknown,
  };
}
