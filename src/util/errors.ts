/**
 * The error catalog for user-facing, non-API errors (CLI, cluster bring-up, scenarios). Each has a
 * stable code; messages name the field and the reason. API errors are Kubernetes Status objects
 * (src/api/errors.ts); CNI errors carry the spec's codes (cni/).
 */

/** Stable codes; documented in the README's error table. */
export type PodnetErrorCode =
  | 'PN_ERR_USAGE'
  | 'PN_ERR_CONFIG'
  | 'PN_ERR_NOT_ROOT'
  | 'PN_ERR_NOT_FOUND'
  | 'PN_ERR_KERNEL'
  | 'PN_ERR_TIMEOUT'
  | 'PN_ERR_SCENARIO'
  | 'PN_ERR_INTERNAL';

/** A user-facing error: the CLI prints `error: <message>` and exits non-zero, no stack trace. */
export class PodnetError extends Error {
  constructor(
    readonly code: PodnetErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'PodnetError';
  }
}
