/** An error the edge answered, in OpenAI's shape. */
export class EdgeError extends Error {
  override name = 'EdgeError';
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
  ) {
    super(`${status}${code ? ` ${code}` : ''}: ${message}`);
  }

  static async from(res: Response): Promise<EdgeError> {
    const text = await res.text();
    try {
      const { error } = JSON.parse(text) as { error: { code: string | null; message: string; param: string | null } };
      return new EdgeError(res.status, error.code, error.message, error.param);
    } catch {
      return new EdgeError(res.status, null, text.slice(0, 200) || res.statusText);
    }
  }
}
