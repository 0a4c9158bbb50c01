/** The admin CLI's HTTP client for the management API (global fetch): bearer token, JSON in and out, problems as typed errors. */

/** An RFC 9457 problem the API answered with. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly code: string | undefined;
  readonly field: string | undefined;
  readonly errors: { field: string; message: string }[];
  constructor(status: number, problem: Record<string, unknown>) {
    const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${status}`;
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.title = typeof problem.title === 'string' ? problem.title : `HTTP ${status}`;
    this.code = typeof problem.code === 'string' ? problem.code : undefined;
    this.field = typeof problem.field === 'string' ? problem.field : undefined;
    this.errors = Array.isArray(problem.errors) ? (problem.errors as { field: string; message: string }[]) : [];
  }
}

/** The API could not be reached at all (refused, no such host, timed out). */
export class ApiUnreachable extends Error {
  readonly base: string;
  constructor(base: string, cause: unknown) {
    const reason = (cause as { cause?: { code?: string; message?: string } })?.cause;
    super(`cannot reach the API at ${base}: ${reason?.code ?? reason?.message ?? (cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ApiUnreachable';
    this.base = base;
  }
}

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

const TIMEOUT_MS = 60_000;

export class ApiClient {
  readonly base: string;
  readonly #token: string;
  readonly #fetch: FetchFn;

  constructor(base: string, token: string, fetchFn: FetchFn = fetch) {
    this.base = base;
    this.#token = token;
    this.#fetch = fetchFn;
  }

  /** Sends one request; resolves to the JSON body (undefined for 204), throws ApiError or ApiUnreachable. */
  async request(method: string, path: string, body?: { json: unknown } | { bytes: Uint8Array; contentType: string }): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    let payload: string | Uint8Array<ArrayBuffer> | undefined;
    if (body !== undefined && 'json' in body) {
      payload = JSON.stringify(body.json);
      headers['content-type'] = 'application/json';
    } else if (body !== undefined) {
      payload = new Uint8Array(body.bytes);
      headers['content-type'] = body.contentType;
    }
    let res: Response;
    try {
      res = await this.#fetch(`${this.base}${path}`, {
        method,
        headers,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        ...(payload === undefined ? {} : { body: payload }),
      });
    } catch (error) {
      throw new ApiUnreachable(this.base, error);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const problem = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : { detail: text.slice(0, 200) || `HTTP ${res.status}` };
      throw new ApiError(res.status, problem);
    }
    return json;
  }
}
