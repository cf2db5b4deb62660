import { EdgeError } from '../../client/sdk/edge-error';
import { BundleError } from '../../shared/errors';

export interface ShownError {
  /** Short headline (the kind of failure). */
  title: string;
  /** What happened, in the edge's or the loader's words. */
  detail: string;
  /** A stable code for tests and styling. */
  code: string;
}

/** Turns whatever failed (edge error, bundle/model error, network) into what the page shows. */
export function describeError(err: unknown, where: string): ShownError {
  if (err instanceof EdgeError) {
    const code = err.code ?? `http_${err.status}`;
    const detail = `${err.message}`;
    switch (err.code) {
      case 'missing_api_key':
      case 'invalid_api_key':
        return { code, title: 'Bad API key', detail: `${detail}. Paste the key \`npm start\` printed (sk-ssd2-…).` };
      case 'insufficient_scope':
        return { code, title: 'The key lacks a scope', detail };
      case 'prompt_blocked':
        return { code, title: 'Prompt blocked by the tenant policy', detail };
      case 'rate_limit_exceeded':
        return { code, title: 'Rate limit reached', detail: `${detail}. Wait a moment and try again.` };
      case 'tenant_budget_exceeded':
      case 'key_budget_exceeded':
        return { code, title: 'Quota exhausted', detail };
      case 'client_disconnected':
      case 'client_timeout':
        return { code, title: 'Connection to the in-browser model lost', detail };
      case 'invalid_client_message':
      case 'invalid_client_logits':
      case 'incompatible_models':
        return { code, title: 'The edge refused the browser model', detail };
      default:
        return { code, title: err.status >= 500 ? 'The edge failed' : 'The edge refused the request', detail };
    }
  }
  if (err instanceof BundleError) return { code: 'model_load_failed', title: 'Model load failure', detail: err.message };
  const e = err as Error;
  if (e?.name === 'AbortError') return { code: 'aborted', title: 'Stopped', detail: 'the generation was stopped' };
  if (e instanceof TypeError && /fetch|network|load failed/i.test(e.message)) {
    return { code: 'connection_lost', title: 'Connection lost', detail: `${where}: ${e.message} (is the edge still running?)` };
  }
  if (/socket|websocket|ready/i.test(e?.message ?? ''))
    return { code: 'connection_lost', title: 'Connection lost', detail: `${where}: ${e.message}` };
  return { code: 'error', title: `${where} failed`, detail: e?.message ?? String(err) };
}
