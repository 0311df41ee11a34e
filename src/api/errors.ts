/**
 * API errors as Kubernetes Status objects. The store and the API server throw ApiError; the HTTP
 * layer writes `err.status` with `err.status.code` as the HTTP status.
 */
import type { Status, StatusCause } from './types.ts';

/** An error that is a Kubernetes Status. */
export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? 'error');
    this.name = 'ApiError';
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

/** Is `e` an ApiError with this reason? */
export function isApiError(e: unknown, reason?: string): e is ApiError {
  return e instanceof ApiError && (reason === undefined || e.status.reason === reason);
}

function failure(code: number, reason: string, message: string, details?: Status['details']): ApiError {
  return new ApiError({
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
}

/** `resource` is the plural resource name with group, e.g. `pods` or `deployments.apps`. */
export const errors = {
  notFound: (resource: string, name: string, group = '') =>
    failure(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, {
      name,
      group: group || undefined,
      kind: resource,
    }),
  alreadyExists: (resource: string, name: string, group = '') =>
    failure(409, 'AlreadyExists', `${resource}${group ? `.${group}` : ''} "${name}" already exists`, {
      name,
      group: group || undefined,
      kind: resource,
    }),
  conflict: (resource: string, name: string, why: string, group = '') =>
    failure(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${resource}${group ? `.${group}` : ''} "${name}": ${why}`,
      { name, group: group || undefined, kind: resource },
    ),
  /** A resourceVersion older than the kept history (list or watch). */
  expired: (message = 'too old resource version') => failure(410, 'Expired', message),
  gone: (message: string) => failure(410, 'Gone', message),
  /** 422; as upstream, several causes are listed in brackets: `… is invalid: [a, b]`. */
  invalid: (kind: string, name: string, causes: StatusCause[], group = '') => {
    const parts = causes.map((c) => `${c.field ? `${c.field}: ` : ''}${c.message ?? c.reason}`);
    const list = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
    return failure(422, 'Invalid', `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${list}`, {
      name,
      group: group || undefined,
      kind,
      causes,
    });
  },
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  unauthorized: (message = 'Unauthorized') => failure(401, 'Unauthorized', message),
  forbidden: (message: string) => failure(403, 'Forbidden', message),
  methodNotAllowed: (message: string) => failure(405, 'MethodNotAllowed', message),
  notAcceptable: (message: string) => failure(406, 'NotAcceptable', message),
  requestEntityTooLarge: (message: string) => failure(413, 'RequestEntityTooLarge', message),
  unsupportedMediaType: (message: string) => failure(415, 'UnsupportedMediaType', message),
  timeout: (message: string) => failure(504, 'Timeout', message),
  tooManyRequests: (message: string) => failure(429, 'TooManyRequests', message),
  internal: (message: string) => failure(500, 'InternalError', message),
};

/** A Status of success (e.g. the body of some DELETE responses). */
export function successStatus(details?: Status['details']): Status {
  return {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Success',
    ...(details ? { details } : {}),
    code: 200,
  };
}
