import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../shared/errors';
import { ProtocolError } from '../../../shared/protocol';
import { WorkerPoolError } from '../generation/worker-pool';
import { toApiError } from './to-api-error';

describe('toApiError', () => {
  it('names engine fields as the API spells them', () => {
    const e = toApiError(new InvalidArgumentError('earlyStopPatience', 'must be >= 0'));
    expect(e.toBody()).toEqual({ error: { message: 'early_stop: must be >= 0', type: 'invalid_request_error', param: 'early_stop', code: 'invalid_argument' } });
  });

  it('makes an exhausted GPU pool a 502, a worker rejecting a user bundle a 404, and only unknown errors 500', () => {
    expect(toApiError(new WorkerPoolError('every GPU worker failed')).status).toBe(502);
    expect(toApiError(new ProtocolError(404, 'model_not_found', 'no bundle', 'user.bundle'))).toMatchObject({ status: 404, param: 'user_model' });
    expect(toApiError(new ProtocolError(503, 'overloaded', 'busy', null)).status).toBe(502);
    expect(toApiError(new Error('boom')).status).toBe(500);
  });
});
