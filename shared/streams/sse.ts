import { EventSourceParserStream } from 'eventsource-parser/stream';

/** The `data:` payloads of a server-sent-event stream, one string per event (`[DONE]` included), parsed by eventsource-parser. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const events = body
    .pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
    .pipeThrough(new EventSourceParserStream());
  for await (const event of events as unknown as AsyncIterable<{ data: string }>) yield event.data;
}
