import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../shared/errors';
import { ProtocolError } from '../../../shared/protocol';
import { WorkerPoolError } from '../generation/worker-pool';
import { toApiError } from './to-api-error';

describe('toApiError', () => {
  it('names engine fields as the API spells them', () => {
    const e = toApiError(new InvalidArgumentError('earlyStopPatience', 'must be >= 0'));
    expect(e.toBody()).toEqual({
      error: { message: 'early_stop: must be >= 0', type: 'invalid_request_error', param: 'early_stop', code: 'invalid_argument' },
    });
  });

  it('makes an exhausted GPU pool a 502, a worker rejecting a user bundle a 404, and only unknown errors 500', () => {
    expect(toApiError(new WorkerPoolError('every GPU worker failed')).status).toBe(502);
    expect(toApiError(new ProtocolError(404, 'model_not_found', 'no bundle', 'user.bundle'))).toMatchObject({
      status: 404,
      param: 'user_model',
    });
    expect(toApiError(new ProtocolError(503, 'overloaded', 'busy', null)).status).toBe(502);
    expect(toApiError(new Error('boom')).status).toBe(500);
  });

  it('keeps internals out of the body: no worker URL, bucket key or exception text', () => {
    const pool = toApiError(
      new WorkerPoolError('every GPU worker failed (2 tried): http://10.0.0.5:8080/v1/generate answered 500: TypeError at /srv/app.js'),
    );
    const worker = toApiError(
      new ProtocolError(500, 'internal', 'Cannot read properties of undefined (s3://ssd2-weights/models/core/1/denoiser.onnx)', null),
    );
    const missing = toApiError(new ProtocolError(404, 'model_not_found', 'no bundle at prod/tenants/acme/adapters/legal/', 'user.bundle'));
    const invalid = toApiError(
      new ProtocolError(
        422,
        'invalid_bundle',
        'prod/tenants/acme/adapters/legal/manifest.json: vocab_size 9 does not match',
        'user.bundle',
      ),
    );
    const unknown = toApiError(new Error('connection string postgres://admin:hunter2@db'));
    for (const e of [pool, worker, missing, invalid, unknown]) {
      expect(e.message).not.toMatch(/http:|s3:|tenants\/|models\/|hunter2|TypeError|Cannot read/);
    }
    expect(invalid.message).toBe('manifest.json: vocab_size 9 does not match');
    expect([pool.status, worker.status, missing.status, invalid.status, unknown.status]).toEqual([502, 502, 404, 400, 500]);
  });

  it("answers a user model that is not the tenant's as one that does not exist: 404 user_model_not_found", () => {
    for (const err of [
      new ProtocolError(404, 'model_not_found', 'no bundle at prod/tenants/acme/nope/', 'user.bundle'),
      new ProtocolError(403, 'forbidden', '"user" is outside tenant acme\'s prefix ', 'user.bundle'),
    ]) {
      expect(toApiError(err).toBody().error).toMatchObject({ code: 'user_model_not_found', param: 'user_model', type: 'not_found_error' });
      expect(toApiError(err).message).not.toMatch(/acme|40[34]/);
    }
  });

  it('names private_context for a private context the user model cannot read, without the worker field path', () => {
    const e = toApiError(
      new ProtocolError(400, 'invalid_argument', 'user.context: private context + prompt (2006 tokens) exceed 376', 'user.context'),
    );
    expect(e.toBody().error).toMatchObject({ param: 'private_context', message: 'private context + prompt (2006 tokens) exceed 376' });
  });
});
