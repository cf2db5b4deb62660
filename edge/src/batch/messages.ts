import { z } from 'zod';

export const BATCH_ENDPOINTS = ['/v1/completions', '/v1/chat/completions'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** One queue message = one valid batch line (the request body travels with it, ≤ 64 KiB). */
export const BatchMessageSchema = z.object({
  batch_id: z.string(),
  line: z.number().int().min(0),
  custom_id: z.string(),
  url: z.enum(BATCH_ENDPOINTS),
  body: z.record(z.string(), z.unknown()),
});
export type BatchMessage = z.infer<typeof BatchMessageSchema>;
