/**
 * Name and identifier syntax checks shared by selectors and validation: DNS-1123 labels and
 * subdomains, DNS-1035 labels, qualified names (label/annotation keys), label values and IANA
 * service names. Each `xxxErrors` function returns upstream's messages (empty when valid), so
 * callers can turn them into StatusCauses or selector errors with the same wording Kubernetes uses.
 * Also `generateName`, the random suffix the API server appends to `metadata.generateName`.
 */
import { randomInt } from 'node:crypto';

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;

const dns1123LabelRe = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const dns1123SubdomainRe = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const dns1035LabelRe = new RegExp(`^${DNS1035_LABEL_FMT}$`);
const qualifiedNameRe = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const labelValueRe = new RegExp(`^${LABEL_VALUE_FMT}$`);

/** Maximum length of a DNS-1123 / DNS-1035 label. */
export const DNS1123_LABEL_MAX = 63;
/** Maximum length of a DNS-1123 subdomain. */
export const DNS1123_SUBDOMAIN_MAX = 253;

/** Upstream's "must be no more than N characters" message. */
export function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

function regexError(what: string, fmt: string, ...examples: string[]): string {
  const ex = examples.map((e) => `'${e}'`).join(',  or ');
  return `${what} (e.g. ${ex}, regex used for validation is '${fmt}')`;
}

/** Errors for a DNS-1123 label (Namespace names, port names' DNS form...). */
export function dns1123LabelErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123_LABEL_MAX) errs.push(maxLenError(DNS1123_LABEL_MAX));
  if (!dns1123LabelRe.test(v))
    errs.push(
      regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        DNS1123_LABEL_FMT,
        'my-name',
        '123-abc',
      ),
    );
  return errs;
}

/** Errors for a DNS-1123 subdomain (most object names). */
export function dns1123SubdomainErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!dns1123SubdomainRe.test(v))
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        'example.com',
      ),
    );
  return errs;
}

/** Errors for a DNS-1035 label (Service names: must start with a letter). */
export function dns1035LabelErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123_LABEL_MAX) errs.push(maxLenError(DNS1123_LABEL_MAX));
  if (!dns1035LabelRe.test(v))
    errs.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT,
        'my-name',
        'abc-123',
      ),
    );
  return errs;
}

/** Is `v` a DNS-1123 label (at most 63 chars of [a-z0-9-], alphanumeric at both ends)? */
export function isDNS1123Label(v: string): boolean {
  return dns1123LabelErrors(v).length === 0;
}

/** Is `v` a DNS-1123 subdomain (dot-separated labels, at most 253 chars)? */
export function isDNS1123Subdomain(v: string): boolean {
  return dns1123SubdomainErrors(v).length === 0;
}

/** Is `v` a DNS-1035 label (a DNS-1123 label that starts with a letter)? */
export function isDNS1035Label(v: string): boolean {
  return dns1035LabelErrors(v).length === 0;
}

/**
 * Errors for a qualified name: `[prefix/]name`, the syntax of label and annotation keys and of
 * finalizers. The prefix is a DNS-1123 subdomain, the name at most 63 characters.
 */
export function qualifiedNameErrors(v: string): string[] {
  const errs: string[] = [];
  const parts = v.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const e of dns1123SubdomainErrors(prefix)) errs.push(`prefix part ${e}`);
  } else {
    return [
      regexError(
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        QUALIFIED_NAME_FMT,
        'MyName',
        'my.name',
        '123-abc',
      ) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push(`name part ${maxLenError(63)}`);
  if (name.length > 0 && !qualifiedNameRe.test(name))
    errs.push(
      'name part ' +
        regexError(
          "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
          QUALIFIED_NAME_FMT,
          'MyName',
          'my.name',
          '123-abc',
        ),
    );
  return errs;
}

/** Errors for a label value: empty, or at most 63 chars of [A-Za-z0-9-_.] alphanumeric at both ends. */
export function labelValueErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!labelValueRe.test(v))
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  return errs;
}

/** Is `v` a valid label or annotation key? */
export function isQualifiedName(v: string): boolean {
  return qualifiedNameErrors(v).length === 0;
}

/** Is `v` a valid label value? */
export function isValidLabelValue(v: string): boolean {
  return labelValueErrors(v).length === 0;
}

/**
 * Errors for an IANA service name (named ports, RFC 6335): at most 15 characters of [a-z0-9-],
 * at least one letter, no leading/trailing or doubled hyphen.
 */
export function ianaSvcNameErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]*$/.test(v))
    errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (v.includes('--')) errs.push('must not contain consecutive hyphens');
  if (!/[a-z]/.test(v)) errs.push('must contain at least one letter (a-z)');
  if (v.startsWith('-') || v.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

/** Is `v` a valid IANA service name (a named port)? */
export function isIANASvcName(v: string): boolean {
  return ianaSvcNameErrors(v).length === 0;
}

/** The alphabet of generated names: no vowels (no words) and no look-alikes (0/o, 1/l, 3/e). */
export const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A random string of `n` characters from Kubernetes' name alphabet. */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += NAME_ALPHABET[randomInt(NAME_ALPHABET.length)];
  return s;
}

/**
 * The name for an object created with `metadata.generateName: prefix`: the prefix (cut so the
 * result stays within 63 characters, as upstream does) followed by 5 random characters.
 */
export function generateName(prefix: string): string {
  const maxPrefix = 63 - 5;
  return `${prefix.length > maxPrefix ? prefix.slice(0, maxPrefix) : prefix}${randomSuffix(5)}`;
}
