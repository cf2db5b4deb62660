import { createServer, request as httpRequest, type Server } from 'node:http';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The request body as the edge sent it. */
  requestBody: string;
  status: number;
  /** Bytes of the response body as the worker sent it. */
  responseBytes: number;
  /** The response body when it is JSON (the step replies); streams are not kept. */
  responseJson: unknown;
  /** Wall time from the request arriving to the response's last byte. */
  ms: number;
  /** performance.now() when the request arrived and when its response ended (this process's clock). */
  start: number;
  end: number;
}

export interface RecordingProxy {
  url: string;
  log: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy between the edge and a GPU worker that records every request body, so
 * a test can say what the worker received (and a benchmark can count bytes and time each step).
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const to = new URL(target);
  const log: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const upstream = httpRequest(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          const out: Buffer[] = [];
          let bytes = 0;
          up.on('data', (c: Buffer) => {
            bytes += c.length;
            if (up.headers['content-type']?.includes('application/json')) out.push(c);
            res.write(c);
          });
          up.on('end', () => {
            res.end();
            const end = performance.now();
            let json: unknown = null;
            try {
              json = out.length ? JSON.parse(Buffer.concat(out).toString()) : null;
            } catch {
              /* not JSON */
            }
            log.push({
              method: req.method ?? '',
              path: req.url ?? '',
              requestBody: body.toString(),
              status: up.statusCode ?? 0,
              responseBytes: bytes,
              responseJson: json,
              ms: end - started,
              start: started,
              end,
            });
          });
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      // The edge hung up before the answer ended (a stop sequence, a caller gone): so does the proxy, as a direct connection would.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
