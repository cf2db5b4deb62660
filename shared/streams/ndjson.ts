/**
 * Newline-delimited JSON, the wire form of every internal event stream (worker → edge fused
 * generation, Generation Durable Object → route): one reader, one writer.
 */

/** The JSON values of a newline-delimited JSON byte stream, one per line. */
export async function* ndjsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) yield JSON.parse(line);
      }
    }
    if (buffer.trim()) yield JSON.parse(buffer);
  } finally {
    await reader.cancel().catch(() => {});
  }
}

const ndjson = (value: unknown): Uint8Array => new TextEncoder().encode(`${JSON.stringify(value)}\n`);

/**
 * A byte stream of `events`, one JSON line each, pulled as the reader reads. An error thrown by
 * the events (the headers are gone by then) becomes the stream's last line, `errorLine(err)`; a
 * reader that goes away calls `onCancel` and ends the events.
 */
export function ndjsonStream<T>(
  events: AsyncIterator<T>,
  errorLine: (err: unknown) => unknown,
  onCancel?: () => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await events.next();
        if (next.done) controller.close();
        else controller.enqueue(ndjson(next.value));
      } catch (err) {
        controller.enqueue(ndjson(errorLine(err)));
        controller.close();
      }
    },
    cancel() {
      onCancel?.();
      void events.return?.(undefined);
    },
  });
}
