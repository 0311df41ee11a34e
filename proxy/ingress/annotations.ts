/**
 * The ingress-nginx annotations the router understands, parsed once per Ingress per build.
 * Supported: rewrite-target, use-regex, ssl-redirect, force-ssl-redirect, backend-protocol
 * (HTTP, HTTPS), canary, canary-weight, canary-by-header, canary-by-header-value. Others are
 * ignored (a warning names invalid values of supported ones).
 */

/** Prefix of ingress-nginx annotations. */
export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';

/** Parsed annotations of one Ingress, with ingress-nginx's defaults. */
export interface IngressAnnotations {
  /** Replacement path; `$1`… refer to capture groups of the (regex) rule path. */
  rewriteTarget?: string;
  /** Paths are regexes (implied by rewrite-target, as in ingress-nginx). */
  useRegex: boolean;
  /** Redirect HTTP→HTTPS when the host has TLS (default true). */
  sslRedirect: boolean;
  /** Redirect HTTP→HTTPS even without TLS on the host (default false). */
  forceSslRedirect: boolean;
  backendProtocol: 'HTTP' | 'HTTPS';
  canary: boolean;
  canaryWeight: number;
  canaryByHeader?: string;
  canaryByHeaderValue?: string;
}

function bool(v: string | undefined, dflt: boolean, name: string, warnings: string[]): boolean {
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  warnings.push(`annotation ${NGINX_PREFIX}${name}: "${v}" is not "true" or "false"`);
  return dflt;
}

/** Parses the annotations of an Ingress. Invalid values fall back to the default with a warning. */
export function parseAnnotations(a: Record<string, string>): {
  annotations: IngressAnnotations;
  warnings: string[];
} {
  const w: string[] = [];
  const get = (n: string) => a[NGINX_PREFIX + n];
  let backendProtocol: 'HTTP' | 'HTTPS' = 'HTTP';
  const bp = get('backend-protocol');
  if (bp !== undefined) {
    const u = bp.toUpperCase();
    if (u === 'HTTP' || u === 'HTTPS') backendProtocol = u;
    else w.push(`annotation ${NGINX_PREFIX}backend-protocol: "${bp}" is not supported (HTTP, HTTPS)`);
  }
  let canaryWeight = 0;
  const cw = get('canary-weight');
  if (cw !== undefined) {
    const n = Number(cw);
    if (Number.isInteger(n) && n >= 0 && n <= 100) canaryWeight = n;
    else w.push(`annotation ${NGINX_PREFIX}canary-weight: "${cw}" is not an integer 0–100`);
  }
  const rewriteTarget = get('rewrite-target');
  const annotations: IngressAnnotations = {
    useRegex: bool(get('use-regex'), false, 'use-regex', w) || rewriteTarget !== undefined,
    sslRedirect: bool(get('ssl-redirect'), true, 'ssl-redirect', w),
    forceSslRedirect: bool(get('force-ssl-redirect'), false, 'force-ssl-redirect', w),
    backendProtocol,
    canary: bool(get('canary'), false, 'canary', w),
    canaryWeight,
    ...(rewriteTarget !== undefined ? { rewriteTarget } : {}),
    ...(get('canary-by-header') ? { canaryByHeader: get('canary-by-header')!.toLowerCase() } : {}),
    ...(get('canary-by-header-value') ? { canaryByHeaderValue: get('canary-by-header-value') } : {}),
  };
  return { annotations, warnings: w };
}
