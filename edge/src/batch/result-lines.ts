/** The JSONL line of a finished request in the output file (OpenAI's batch output shape). */
export function outputLine(batchId: string, line: number, customId: string, requestId: string, body: unknown): string {
  return JSON.stringify({
    id: requestLineId(batchId, line),
    custom_id: customId,
    response: { status_code: 200, request_id: requestId, body },
    error: null,
  });
}

/**
 * The JSONL line of a request that did not produce a completion: a malformed line (no
 * response, `error` says why, `line` is its 0-based position among the requests), or a request the API refused or the
 * GPU pool failed (`response` carries the HTTP status and the OpenAI error body).
 */
export function errorLine(
  batchId: string,
  line: number,
  customId: string | null,
  e: { code: string; message: string; status?: number; requestId?: string; body?: unknown },
): string {
  const response = e.status === undefined ? null : { status_code: e.status, request_id: e.requestId ?? null, body: e.body ?? null };
  return JSON.stringify({
    id: requestLineId(batchId, line),
    custom_id: customId,
    response,
    error: { code: e.code, message: e.message, line },
  });
}

const requestLineId = (batchId: string, line: number) => `${batchId.replace(/^batch_/, 'batch_req_')}_${line}`;

/** The usage record id of a batch line: fixed, so a redelivered line is never charged twice. */
export const lineRequestId = (batchId: string, line: number) => `${batchId}:${line}`;
