/** RFC 9457 problem details: the one error shape of the management API, and the error class routes throw to produce it. */
import * as v from 'valibot';

/** One invalid input: the dotted field (`config.maxRecipients`, `capabilities[1]`) and what is wrong with it. */
export const FieldErrorSchema = v.object({ field: v.string(), message: v.string() });
export type FieldError = v.InferOutput<typeof FieldErrorSchema>;

export const ProblemSchema = v.object({
  type: v.string(),
  title: v.string(),
  status: v.pipe(v.number(), v.integer()),
  detail: v.string(),
  /** A stable machine-readable code (`VALIDATION`, `DOWNGRADE`, `BAD_SIGNATURE`, …). */
  code: v.string(),
  /** The (first) field the problem is about, when there is one. */
  field: v.optional(v.string()),
  /** Every invalid field, for validation problems. */
  errors: v.optional(v.array(FieldErrorSchema)),
});
export type Problem = v.InferOutput<typeof ProblemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The problem `type` URI for a code: `urn:sluice:problem:same-version-different-code`. */
export function problemType(code: string): string {
  return `urn:sluice:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/** Thrown by routes and middleware; the app's error handler renders it as problem+json. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly field: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: string,
    detail: string,
    options: { title?: string; field?: string; errors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = 'ApiProblem';
    this.status = status;
    this.code = code;
    this.title = options.title ?? TITLES[status] ?? 'Error';
    this.field = options.field ?? options.errors?.[0]?.field;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }

  toJSON(): Problem {
    return {
      type: problemType(this.code),
      title: this.title,
      status: this.status,
      detail: this.message,
      code: this.code,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.errors === undefined ? {} : { errors: this.errors }),
    };
  }
}

/** A problem+json response. */
export function problemResponse(problem: ApiProblem): Response {
  return new Response(JSON.stringify(problem.toJSON()), {
    status: problem.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...problem.headers },
  });
}
