export { ndjsonLines, ndjsonStream } from './ndjson';
export { sseData } from './sse';
