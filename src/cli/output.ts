import type { Json, Page } from './backend.ts';

const cell = (value: unknown): string => {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(cell).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
};

/** The columns a readable listing shows, per collection; `--json` prints every field. */
export const COLUMNS = {
  client: ['client_id', 'client_name', 'token_endpoint_auth_method', 'grant_types', 'roles'],
  resource: ['id', 'identifier', 'name', 'scopes', 'accessTokenTtl'],
  role: ['id', 'name', 'description'],
  user: ['id', 'username', 'email', 'status', 'roles'],
  keys: ['kid', 'alg', 'current', 'created_at', 'expires_at'],
  secrets: ['id', 'name', 'createdAt', 'expiresAt', 'lastUsedAt'],
} as const;

function table(columns: readonly string[], rows: Json[]): string {
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

export function record(value: Json): string {
  const width = Math.max(...Object.keys(value).map((k) => k.length));
  return Object.entries(value)
    .map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`)
    .join('\n');
}

export function listing(columns: readonly string[], page: Page): string {
  const more = page.next ? `\n(more: --after ${page.next})` : '';
  return `${table(columns, page.data)}${more}`;
}
