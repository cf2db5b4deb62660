/** The shape of a zod error this helper reads (zod's ZodError, without importing zod here). */
interface IssueList {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/**
 * The first issue of a zod error, as every error message in the project names it: `field` is its
 * dotted path (null at the root), `text` is "field: message" with `root` standing in for an empty path.
 */
export function firstIssue(error: IssueList, root = 'body'): { field: string | null; message: string; text: string } {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') || null;
  const message = issue?.message ?? 'invalid';
  return { field, message, text: `${field ?? root}: ${message}` };
}
