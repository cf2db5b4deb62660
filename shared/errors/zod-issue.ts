/** One issue of a zod error, as this helper reads it (zod's, without importing zod here). */
interface Issue {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  /** `invalid_type`: the type that was expected. */
  expected?: string;
  /** `invalid_union`: each alternative's issues. */
  errors?: readonly (readonly Issue[])[];
}

/** The shape of a zod error this helper reads (zod's ZodError). */
interface IssueList {
  issues: readonly Issue[];
}

/**
 * Where a value fits none of a union's alternatives, the issue of the alternative it came closest
 * to (the deepest path: a list of parts fails inside a part, not at "expected a string"), its path
 * joined to the union's.
 */
function closest(issue: Issue): Issue {
  const branches = (issue.errors ?? []).map((issues) => issues[0]).filter((i): i is Issue => i !== undefined);
  if (branches.length === 0) return issue;
  const best = branches.reduce((a, b) => (b.path.length > a.path.length ? b : a));
  if (best.path.length === 0) {
    // All at the value itself: an alternative of the right type that failed a check says why;
    // otherwise the value is of none of the types, and the message lists them.
    const checked = branches.find((b) => b.code !== 'invalid_type');
    if (checked) return { ...checked, path: issue.path };
    const types = [...new Set(branches.map((b) => b.expected).filter((t) => t !== undefined))];
    return types.length > 0 ? { ...issue, message: `expected ${types.join(' or ')}` } : issue;
  }
  const inner = closest(best);
  return { ...inner, path: [...issue.path, ...inner.path] };
}

/**
 * The first issue of a zod error, as every error message in the project names it: `field` is its
 * dotted path (null at the root), `text` is "field: message" with `root` standing in for an empty path.
 */
export function firstIssue(error: IssueList, root = 'body'): { field: string | null; message: string; text: string } {
  const issue = error.issues[0] && closest(error.issues[0]);
  const field = issue?.path.map(String).join('.') || null;
  const message = issue?.message ?? 'invalid';
  return { field, message, text: `${field ?? root}: ${message}` };
}
