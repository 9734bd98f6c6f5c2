// The admin API reference page (GET /admin/docs): plain HTML rendered on the server from the
// OpenAPI document itself, so it shows exactly what /admin/openapi.json says. No script and no
// third-party resource: it lives under the same strict CSP as every other page (one stylesheet
// from /static/).

type Json = Record<string, unknown>;

const html = (value: unknown): string =>
  String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const refName = (ref: string) => ref.replace('#/components/schemas/', '');
const anchorOfSchema = (name: string) => `schema-${name}`;

/** A one-line type: `string`, `integer ≥ 60`, `array of Role`, `"web" | "native"`, `→ Client`. */
function typeOf(schema: Json): string {
  if (typeof schema.$ref === 'string') {
    const name = refName(schema.$ref);
    return `<a href="#${html(anchorOfSchema(name))}">${html(name)}</a>`;
  }
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => `<code>${html(JSON.stringify(v))}</code>`).join(' | ');
  if (schema.const !== undefined) return `<code>${html(JSON.stringify(schema.const))}</code>`;
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options)) return options.filter(isObject).map(typeOf).join(' | ');
  }
  const type = Array.isArray(schema.type)
    ? schema.type.join(' | ')
    : typeof schema.type === 'string'
      ? schema.type
      : 'any';
  if (type === 'array' && isObject(schema.items)) return `array of ${typeOf(schema.items)}`;
  if (type === 'object' && !isObject(schema.properties) && isObject(schema.additionalProperties)) {
    return `map of ${typeOf(schema.additionalProperties)}`;
  }
  const facts = [
    typeof schema.format === 'string' ? schema.format : undefined,
    typeof schema.minimum === 'number' ? `≥ ${schema.minimum}` : undefined,
    typeof schema.maximum === 'number' ? `≤ ${schema.maximum}` : undefined,
    typeof schema.maxLength === 'number' ? `≤ ${schema.maxLength} chars` : undefined,
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : undefined,
  ].filter(Boolean);
  return html(facts.length ? `${type} (${facts.join(', ')})` : type);
}

/** The fields of an object schema, nested objects and arrays of objects opened one level at a time. */
function renderSchema(schema: Json, depth = 0): string {
  const inner = isObject(schema.items) ? schema.items : schema;
  const props = isObject(inner.properties) ? inner.properties : undefined;
  if (!props || depth > 4) return `<p>${typeOf(schema)}</p>`;
  const required = new Set(Array.isArray(inner.required) ? inner.required.map(String) : []);
  const rows = Object.entries(props)
    .filter((entry): entry is [string, Json] => isObject(entry[1]))
    .map(([name, prop]) => {
      const nested = isObject(prop.properties) || (isObject(prop.items) && isObject(prop.items.properties));
      return `<dt>${html(name)}${required.has(name) ? '' : '?'}</dt><dd>${typeOf(prop)}${
        typeof prop.description === 'string' ? ` <span class="desc">— ${html(prop.description)}</span>` : ''
      }${nested ? renderSchema(prop, depth + 1) : ''}</dd>`;
    });
  const closed = inner.additionalProperties === false ? '<p class="muted">No other fields.</p>' : '';
  return `<dl class="schema">${rows.join('')}</dl>${closed}`;
}

interface Operation {
  operationId: string;
  summary?: string;
  security?: { adminToken?: string[] }[];
  parameters?: { name: string; in: string; required?: boolean; schema?: Json }[];
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
}

const tagOf = (path: string) => path.split('/')[2] ?? 'admin';

function renderOperation(method: string, path: string, op: Operation): string {
  const scope = op.security?.[0]?.adminToken?.join(' ');
  const params = op.parameters?.length
    ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th></tr>${op.parameters
        .map(
          (p) =>
            `<tr><td><code>${html(p.name)}</code>${p.required ? '' : '?'}</td><td>${html(p.in)}</td><td>${typeOf(p.schema ?? {})}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  const body = op.requestBody?.content?.['application/json']?.schema;
  const responses = Object.entries(op.responses ?? {})
    .map(([status, response]) => {
      const schema = response.content?.['application/json']?.schema;
      const ok = status.startsWith('2');
      return `<dt>${html(status)} ${html(response.description ?? '')}</dt><dd>${
        schema ? (ok && typeof schema.$ref !== 'string' ? renderSchema(schema) : typeOf(schema)) : 'no body'
      }</dd>`;
    })
    .join('');
  return `<section class="operation" id="${html(op.operationId)}">
<h3><span class="method">${html(method)}</span> <code>${html(path)}</code> <a href="#${html(op.operationId)}" aria-label="link to this operation">#</a></h3>
<p>${html(op.summary ?? '')}${scope ? ` — scope <code>${html(scope)}</code>` : ''}</p>
${params}${body ? `<h4>Request body</h4>${renderSchema(body)}` : ''}
<h4>Responses</h4><dl class="schema">${responses}</dl>
</section>`;
}

/** The reference page of an OpenAPI document: operations grouped by their first path segment, then the schemas. */
export function renderApiReference(doc: Json): string {
  const info = isObject(doc.info) ? doc.info : {};
  const paths = (isObject(doc.paths) ? doc.paths : {}) as Record<string, Record<string, Operation>>;
  const groups = new Map<string, string[]>();
  const toc = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = tagOf(path);
      groups.set(tag, [...(groups.get(tag) ?? []), renderOperation(method, path, op)]);
      toc.set(tag, [
        ...(toc.get(tag) ?? []),
        `<li><a href="#${html(op.operationId)}"><span class="method">${html(method)}</span> ${html(path)}</a></li>`,
      ]);
    }
  }
  const components = isObject(doc.components) && isObject(doc.components.schemas) ? doc.components.schemas : {};
  const schemas = Object.entries(components)
    .filter((entry): entry is [string, Json] => isObject(entry[1]))
    .map(
      ([name, schema]) =>
        `<section class="operation" id="${html(anchorOfSchema(name))}"><h3><code>${html(name)}</code></h3>${renderSchema(schema)}</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(info.title ?? 'API')} reference</title>
<link rel="stylesheet" href="/static/admin-docs/docs.css">
</head>
<body>
<header>
<h1>${html(info.title ?? 'API')} <span class="muted">${html(info.version ?? '')}</span></h1>
<p>${html(info.description ?? '')}</p>
<p>Every operation needs an access token for the admin API (client credentials) with the scope named. The machine-readable document: <a href="/admin/openapi.json">/admin/openapi.json</a>.</p>
</header>
<nav><h2>Operations</h2>${[...toc]
    .map(([tag, items]) => `<h3><a href="#tag-${html(tag)}">${html(tag)}</a></h3><ul>${items.join('')}</ul>`)
    .join('')}<h3><a href="#schemas">schemas</a></h3></nav>
<main>
${[...groups].map(([tag, ops]) => `<h2 id="tag-${html(tag)}">${html(tag)}</h2>\n${ops.join('\n')}`).join('\n')}
<h2 id="schemas">Schemas</h2>
${schemas}
</main>
</body>
</html>
`;
}
