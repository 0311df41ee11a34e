/**
 * Resource quantities ("100m", "128Mi", "1G", "0.5", "1e3") and int-or-percent values
 * ("25%" of a replica count), as the scheduler, the node agent and the deployment controller
 * read them. Quantities are returned as plain numbers (cores, bytes).
 */
import { errors } from './errors.ts';

const QUANTITY_RE = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Upstream's message for a malformed quantity. */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/** Is `q` a syntactically valid quantity? */
export function isValidQuantity(q: unknown): boolean {
  if (typeof q === 'number') return Number.isFinite(q);
  return typeof q === 'string' && QUANTITY_RE.test(q.trim());
}

/**
 * The numeric value of a quantity: `"100m"` → 0.1, `"128Mi"` → 134217728, `"1G"` → 1e9,
 * `"0.5"` → 0.5, `"1e3"` → 1000. Numbers pass through. Throws 400 BadRequest when malformed.
 */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw errors.badRequest(QUANTITY_FORMAT_MESSAGE);
    return q;
  }
  const m = QUANTITY_RE.exec(String(q).trim());
  if (!m) throw errors.badRequest(`${QUANTITY_FORMAT_MESSAGE}: ${JSON.stringify(q)}`);
  const base = Number(m[1]);
  const suffix = m[2] ?? '';
  if (/^[eE]/.test(suffix)) return base * 10 ** Number(suffix.slice(1));
  return base * SUFFIX[suffix]!;
}

/**
 * Resolves an int-or-percent (`maxSurge`, `maxUnavailable`) against `total`: a number is itself;
 * `"25%"` is 25% of `total`, rounded up when `roundUp` (maxSurge) else down (maxUnavailable);
 * undefined is 0. Throws 400 BadRequest for a string that is not a percentage.
 */
export function intOrPercent(
  value: number | string | undefined | null,
  total: number,
  roundUp: boolean,
): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m)
    throw errors.badRequest(
      `invalid value for IntOrString: invalid type: string is not a percentage: ${JSON.stringify(value)}`,
    );
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}
