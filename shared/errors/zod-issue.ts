/** One issue of a zod error, as this helper reads it (zod's, without importing zod here). */
interface Issue {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  /** `invalid_type`: the type that was expected. */
  expected?: string;
  /** `invalid_value`: the values that were allowed. */
  values?: readonly unknown[];
  /** `invalid_union`: each alternative's issues. */
  errors?: readonly (readonly Issue[])[];
}

/** The shape of a zod error this helper reads (zod's ZodError). */
interface IssueList {
  issues: readonly Issue[];
}

/** A value of the wrong type or outside a set: says what the value is not, not what is wrong inside it. */
const mismatch = (i: Issue) => i.code === 'invalid_type' || i.code === 'invalid_value';

/**
 * Where a value fits none of a union's alternatives, the issue of the alternative it came closest
 * to, its path joined to the union's: the one that got deepest into the value (a list of parts
 * fails inside a part, not at "expected a string"), then the one with the fewest issues, then a
 * failed check over a type mismatch. When every alternative refuses the value's type outright,
 * the message lists what they expected.
 */
function closest(issue: Issue): Issue {
  const branches = (issue.errors ?? []).filter((b) => b.length > 0);
  if (branches.length === 0) return issue;
  const [best] = [...branches].sort(
    (a, b) => b[0].path.length - a[0].path.length || a.length - b.length || Number(mismatch(a[0])) - Number(mismatch(b[0])),
  );
  const first = best[0];
  if (first.path.length === 0 && mismatch(first)) {
    const expected = branches.flatMap(([i]) =>
      i.code === 'invalid_type' && i.expected
        ? [i.expected]
        : i.code === 'invalid_value'
          ? (i.values ?? []).map((v) => JSON.stringify(v))
          : [],
    );
    return expected.length > 0 ? { ...issue, message: `expected ${[...new Set(expected)].join(' or ')}` } : issue;
  }
  const inner = first.code === 'invalid_union' ? closest(first) : first;
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
