import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ADMIN, adminFetch, api, eventually, newTenant, stubControl, stubLog, stubOutage, uniqueSeed } from '../../test/helpers';
import { costMicroUsd, priceTable } from '../billing/prices';
import type { Env, Principal } from '../env';
import { createBatch as createBatchRows } from './create';
import { BatchStore } from './store';

async function upload(key: string, text: string): Promise<any> {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new File([text], 'input.jsonl', { type: 'application/jsonl' }));
  const res = await SELF.fetch('https://edge.test/v1/files', { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  expect(res.status).toBe(200);
  return res.json();
}

const line = (customId: string, seed: number) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/completions',
    body: { model: 'tiny-core', prompt: `Line ${customId}`, max_tokens: 8, steps: 3, seed },
  });

/** n lines, of which those at `malformed` are broken in two ways (not JSON; a body the endpoint refuses). */
function batchFile(n: number, malformed: number[]): { text: string; seeds: number[]; ids: string[] } {
  const seeds: number[] = [];
  const ids: string[] = [];
  const lines = Array.from({ length: n }, (_, i) => {
    const id = `req-${i}`;
    ids.push(id);
    if (malformed[0] === i) return '{"custom_id": "req-' + i + '", "method": "POST", "url": '; // not JSON
    if (malformed.includes(i))
      return JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/completions', body: { model: 'tiny-core', prompt: 'x', steps: 0 } });
    const seed = uniqueSeed();
    seeds.push(seed);
    return line(id, seed);
  });
  return { text: lines.join('\n') + '\n', seeds, ids };
}

async function createBatch(key: string, fileId: string): Promise<any> {
  const res = await api('/v1/batches', key, { input_file_id: fileId, endpoint: '/v1/completions', completion_window: '24h' });
  expect(res.status).toBe(200);
  return res.json();
}

const done = (key: string, id: string) =>
  eventually(async () => {
    const b = (await (await api(`/v1/batches/${id}`, key)).json()) as any;
    return b.status === 'completed' || b.status === 'cancelled' ? b : undefined;
  }, 90_000);

const jsonl = async (res: Response) =>
  new TextDecoder()
    .decode(await res.arrayBuffer())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('batch API', () => {
  it('runs 40 lines with 2 malformed: 38 outputs, 2 errors, every custom_id once, the ledger equals the lines', async () => {
    const { tenantId, key } = await newTenant();
    const { text, seeds, ids } = batchFile(40, [7, 23]);
    const file = await upload(key, text);
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', bytes: new TextEncoder().encode(text).length });
    const created = await createBatch(key, file.id);
    expect(created).toMatchObject({ object: 'batch', status: 'in_progress', request_counts: { total: 40, failed: 2 } });

    const batch = await done(key, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 40, completed: 38, failed: 2 } });
    const out = await jsonl(await api(`/v1/files/${batch.output_file_id}/content`, key));
    const errs = await jsonl(await api(`/v1/files/${batch.error_file_id}/content`, key));
    expect(out).toHaveLength(38);
    expect(errs).toHaveLength(2);
    expect(errs.map((e) => [e.custom_id, e.error.code, e.error.line])).toEqual([
      [null, 'invalid_json', 7],
      ['req-23', 'invalid_argument', 23],
    ]);
    // Every input line is answered exactly once (the unparseable one by its line number).
    const answered = [...out.map((o) => o.custom_id), ...errs.map((e) => e.custom_id ?? ids[e.error.line])].sort();
    expect(answered).toEqual([...ids].sort());
    expect(out[0]).toMatchObject({
      response: { status_code: 200, body: { object: 'text_completion', usage: { completion_tokens: 8 } } },
      error: null,
    });

    // Ledger: one usage row per line, summing to the lines' own usage at batch prices.
    const usage = (await env.DB.prepare('SELECT * FROM usage WHERE batch_id = ?').bind(created.id).all<any>()).results;
    expect(usage).toHaveLength(40);
    const expected = out.reduce(
      (s, o) =>
        s +
        costMicroUsd(priceTable(env.PRICES), {
          model: 'tiny-core',
          promptTokens: o.response.body.usage.prompt_tokens,
          completionTokens: o.response.body.usage.completion_tokens,
          stepsRun: o.response.body.ssd2.steps_run,
          batch: true,
        }),
      0,
    );
    expect(usage.reduce((s, u) => s + u.cost_micro_usd, 0)).toBe(expected);
    expect(usage.filter((u) => u.status === 'failed').every((u) => u.cost_micro_usd === 0)).toBe(true);
    const report = (await (await api('/v1/usage', key)).json()) as any;
    expect(report.total.cost_micro_usd).toBe(expected);
    expect(report.total.calls).toBe(40);
    // One GPU generation per valid line.
    for (const seed of seeds.slice(0, 5)) expect((await stubLog(seed)).filter((r) => r.path === '/v1/generate')).toHaveLength(1);
    expect(tenantId).toBeTruthy();
  }, 120_000);

  it('rides out a GPU outage: lines are retried with backoff, none lost or duplicated', async () => {
    const { key } = await newTenant();
    const { text, seeds } = batchFile(12, []);
    const file = await upload(key, text);
    const outageSeeds = seeds.slice(0, 6);
    await stubOutage(outageSeeds, 3000); // every worker refuses these lines' requests for 3 s
    const created = await createBatch(key, file.id);
    const batch = await done(key, created.id);
    expect(batch.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    const out = await jsonl(await api(`/v1/files/${batch.output_file_id}/content`, key));
    expect(new Set(out.map((o) => o.custom_id)).size).toBe(12);
    const log = await stubLog(outageSeeds[0]);
    expect(log.filter((r) => r.outcome === 'failed').length).toBeGreaterThanOrEqual(2); // both workers refused at least once
    expect(log.filter((r) => r.outcome === 'ok')).toHaveLength(1);
    const usage = (await env.DB.prepare("SELECT COUNT(*) AS n FROM usage WHERE batch_id = ? AND status = 'ok'")
      .bind(created.id)
      .first<any>())!;
    expect(usage.n).toBe(12);
  }, 120_000);

  it('retries a line whose GPU worker goes silent (line deadline) instead of holding the delivery', async () => {
    const { key } = await newTenant();
    const { text, seeds } = batchFile(6, []);
    await stubControl('hang-once', seeds[2]); // its first fused request is accepted and never answered
    const file = await upload(key, text);
    const batch = await done(key, (await createBatch(key, file.id)).id);
    expect(batch.request_counts).toEqual({ total: 6, completed: 6, failed: 0 });
    const out = await jsonl(await api(`/v1/files/${batch.output_file_id}/content`, key));
    expect(out.map((o) => o.custom_id).sort()).toEqual(['req-0', 'req-1', 'req-2', 'req-3', 'req-4', 'req-5']);
    const log = (await stubLog(seeds[2])).filter((r) => r.path === '/v1/generate');
    expect(log.map((r) => r.outcome)).toEqual(['aborted', 'ok']);
  }, 120_000);

  it('keeps files, batches and usage to their tenant', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const file = await upload(a.key, line('only', uniqueSeed()) + '\n');
    const batch = await createBatch(a.key, file.id);
    const finished = await done(a.key, batch.id);
    for (const path of [
      `/v1/files/${file.id}`,
      `/v1/files/${file.id}/content`,
      `/v1/batches/${batch.id}`,
      `/v1/files/${finished.output_file_id}/content`,
    ]) {
      expect((await api(path, b.key)).status).toBe(404);
    }
    expect((await api(`/v1/batches/${batch.id}/cancel`, b.key, {})).status).toBe(404);
    expect(
      (await api('/v1/batches', b.key, { input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' })).status,
    ).toBe(404);
    expect(((await (await api('/v1/usage', b.key)).json()) as any).data).toEqual([]);
    expect(((await (await api('/v1/batches', b.key)).json()) as any).data).toEqual([]);
  }, 60_000);

  it('refuses a batch over the tenant budget before anything is enqueued', async () => {
    const { tenantId, key } = await newTenant();
    await adminFetch(`/admin/tenants/${tenantId}/budget`, { method: 'PUT', body: { monthly_usd: 0.001 } });
    const { text, seeds } = batchFile(5, []);
    const file = await upload(key, text);
    const res = await api('/v1/batches', key, { input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' });
    expect(res.status).toBe(402);
    expect(((await res.json()) as any).error.code).toBe('tenant_budget_exceeded');
    expect(await stubLog(seeds[0])).toEqual([]);
  });

  it('exposes the queue for the autoscaler (JSON and Prometheus), behind the admin secret', async () => {
    expect((await SELF.fetch('https://edge.test/admin/queue')).status).toBe(401);
    const q = (await (await adminFetch('/admin/queue')).json()) as any;
    expect(Object.keys(q).sort()).toEqual(['depth', 'oldest_age_seconds']);
    expect(q.depth).toBeGreaterThanOrEqual(0);
    const metrics = await (await SELF.fetch('https://edge.test/admin/metrics', { headers: ADMIN })).text();
    expect(metrics).toMatch(/^ssd2_edge_batch_queue_depth \d+$/m);
    expect(metrics).toMatch(/^ssd2_edge_batch_queue_oldest_age_seconds [\d.]+$/m);
  });

  const principalOf = (t: { tenantId: string; keyId: string }): Principal => ({
    tenantId: t.tenantId,
    keyId: t.keyId,
    scopes: ['generate'],
    rateLimitPerMinute: null,
  });

  it('a creation killed half-way leaves no orphaned line: the sweep enqueues the rest and the batch completes, every line ' +
    'once', async () => {
    const tenant = await newTenant();
    const { key } = tenant;
    const { text, ids } = batchFile(250, []);
    const file = await upload(key, text);
    const principal = principalOf(tenant);
    const row = (await new BatchStore(env.DB).getFile(principal.tenantId, file.id))!;
    // The queue accepts the first 100 messages, then the isolate dies.
    let sends = 0;
    const dying = {
      ...env,
      BATCH_QUEUE: {
        sendBatch: async (m: unknown[]) => {
          if (sends++ > 0) throw new Error('isolate killed');
          await env.BATCH_QUEUE.sendBatch(m as never);
        },
      },
    } as unknown as Env;
    await expect(
      createBatchRows(dying, principal, row, text, { endpoint: '/v1/completions', completion_window: '24h' }, 'batch_killed_half_way'),
    ).rejects.toThrow('isolate killed');
    const unqueued = async () =>
      (await env.DB.prepare('SELECT COUNT(*) AS n FROM batch_lines WHERE batch_id = ? AND queued = 0')
        .bind('batch_killed_half_way')
        .first<any>())!.n;
    // At least the 150 never sent; the 100 sent are marked in groups, so they may be sent again (recorded once).
    expect(await unqueued()).toBeGreaterThanOrEqual(150);
    // A minute later (the lines' clock set back), reading the batch sweeps them into the queue.
    await env.DB.prepare('UPDATE batch_lines SET enqueued_at = enqueued_at - 120000 WHERE batch_id = ?')
      .bind('batch_killed_half_way')
      .run();
    const batch = await done(key, 'batch_killed_half_way');
    expect(batch.request_counts).toEqual({ total: 250, completed: 250, failed: 0 });
    expect(await unqueued()).toBe(0);
    const out = await jsonl(await api(`/v1/files/${batch.output_file_id}/content`, key));
    expect(out.map((o) => o.custom_id).sort()).toEqual([...ids].sort());
  }, 120_000);

  it("creates a 50,000-line batch within D1's 1,000 queries per invocation", async () => {
    const tenant = await newTenant();
    const text = Array.from({ length: 50_000 }, (_, i) => line(`r${i}`, i)).join('\n') + '\n';
    const file = await upload(tenant.key, text);
    const principal = principalOf(tenant);
    const row = (await new BatchStore(env.DB).getFile(principal.tenantId, file.id))!;
    let queries = 0;
    const counted = new Proxy(env.DB, {
      get: (db, prop) =>
        prop === 'prepare' ? (sql: string) => (queries++, db.prepare(sql)) : ((db as any)[prop]?.bind?.(db) ?? (db as any)[prop]),
    });
    let messages = 0;
    const queue = { sendBatch: async (m: unknown[]) => void (messages += m.length) };
    await createBatchRows(
      { ...env, DB: counted, BATCH_QUEUE: queue } as unknown as Env,
      principal,
      row,
      text,
      { endpoint: '/v1/completions', completion_window: '24h' },
      'batch_fifty_thousand',
    );
    expect(queries).toBeLessThan(1000);
    expect(messages).toBe(50_000);
    const rows = (await env.DB.prepare('SELECT COUNT(*) AS n, SUM(queued) AS q FROM batch_lines WHERE batch_id = ?')
      .bind('batch_fifty_thousand')
      .first<any>())!;
    expect(rows).toEqual({ n: 50_000, q: 50_000 });
  }, 120_000);

  it('stops the lines of a batch whose key was revoked, and of one past its 24h window, as error lines', async () => {
    for (const ending of ['key_revoked', 'batch_expired'] as const) {
      const tenant = await newTenant();
      // A second key of the tenant reads the batch after the first is revoked.
      const reader = ((await (await adminFetch(`/admin/tenants/${tenant.tenantId}/keys`, { body: { name: 'reader' } })).json()) as any).key;
      const { text, seeds } = batchFile(4, []);
      const file = await upload(tenant.key, text);
      await stubOutage(seeds, 2500); // the lines wait on a GPU outage meanwhile
      const created = await createBatch(tenant.key, file.id);
      if (ending === 'key_revoked') expect((await adminFetch(`/admin/keys/${tenant.keyId}`, { method: 'DELETE' })).status).toBe(200);
      else await env.DB.prepare('UPDATE batches SET created_at = created_at - 25 * 3600000 WHERE id = ?').bind(created.id).run();
      const batch = await done(reader, created.id);
      expect(batch.request_counts).toEqual({ total: 4, completed: 0, failed: 4 });
      const errors = await jsonl(await api(`/v1/files/${batch.error_file_id}/content`, reader));
      expect(errors.map((e) => e.error.code)).toEqual(Array(4).fill(ending));
    }
  }, 120_000);

  it("lists a tenant's batches newest first, a page at a time (after, has_more)", async () => {
    const { key } = await newTenant();
    const input = await upload(key, line('b1', uniqueSeed()) + '\n');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await createBatch(key, input.id)).id);
    const list = async (query: string) => (await (await api(`/v1/batches${query}`, key)).json()) as any;
    const first = await list('?limit=2');
    expect(first).toMatchObject({ object: 'list', has_more: true });
    const second = await list(`?limit=2&after=${first.last_id}`);
    expect(second).toMatchObject({ has_more: false });
    expect([...first.data, ...second.data].map((b: any) => b.id).sort()).toEqual([...ids].sort());
    const unknown = await api('/v1/batches?after=batch_nope', key);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error.param).toBe('after');
    for (const id of ids) await done(key, id);
  });

  it("lists a tenant's files newest first, a page at a time (OpenAI's files.list)", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await upload(a.key, line(`f${n}`, uniqueSeed()) + '\n')).id);
    const list = async (key: string, query = '') => (await (await api(`/v1/files${query}`, key)).json()) as any;
    const all = await list(a.key);
    expect(all).toMatchObject({ object: 'list', has_more: false, first_id: ids[2], last_id: ids[0] });
    expect(all.data.map((f: any) => f.id)).toEqual([...ids].reverse());
    expect(all.data[0]).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl' });
    const first = await list(a.key, '?limit=2');
    expect(first).toMatchObject({ has_more: true, last_id: ids[1] });
    expect((await list(a.key, `?limit=2&after=${first.last_id}`)).data.map((f: any) => f.id)).toEqual([ids[0]]);
    expect((await list(a.key, '?order=asc')).data.map((f: any) => f.id)).toEqual(ids);
    expect((await list(a.key, '?purpose=batch_output')).data).toEqual([]);
    expect((await list(b.key)).data).toEqual([]);
    const bad = await api('/v1/files?limit=0', a.key);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.param).toBe('limit');
  });

  it('deletes a file (404 for another tenant, 409 while a running batch reads it) and enforces the storage quota', async () => {
    const a = await newTenant({ policy: { max_stored_file_bytes: 2000 } });
    const b = await newTenant();
    const small = await upload(a.key, line('q1', uniqueSeed()) + '\n');
    expect((await api(`/v1/files/${small.id}`, b.key, undefined, { method: 'DELETE' })).status).toBe(404);
    const big = 'x'.repeat(1900);
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new File([big], 'big.jsonl'));
    const over = await SELF.fetch('https://edge.test/v1/files', {
      method: 'POST',
      headers: { authorization: `Bearer ${a.key}` },
      body: form,
    });
    expect(over.status).toBe(400);
    expect(((await over.json()) as any).error).toMatchObject({ code: 'storage_quota_exceeded', param: 'file' });
    const deleted = await api(`/v1/files/${small.id}`, a.key, undefined, { method: 'DELETE' });
    expect(await deleted.json()).toEqual({ id: small.id, object: 'file', deleted: true });
    expect((await api(`/v1/files/${small.id}`, a.key)).status).toBe(404);
    expect(
      (await SELF.fetch('https://edge.test/v1/files', { method: 'POST', headers: { authorization: `Bearer ${a.key}` }, body: form }))
        .status,
    ).toBe(200); // space freed
    const seeds = [uniqueSeed()];
    const input = await upload(b.key, line('busy', seeds[0]) + '\n');
    await stubOutage(seeds, 2000);
    const running = await createBatch(b.key, input.id);
    const busy = await api(`/v1/files/${input.id}`, b.key, undefined, { method: 'DELETE' });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as any).error.code).toBe('file_in_use');
    await done(b.key, running.id);
    expect((await api(`/v1/files/${input.id}`, b.key, undefined, { method: 'DELETE' })).status).toBe(200);
  }, 120_000);
});
