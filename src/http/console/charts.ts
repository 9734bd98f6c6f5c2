import { type Html, html } from './html.ts';

export interface ChartSeries {
  label: string;
  /** a CSS class of console.css giving its colour */
  tone: string;
  values: readonly number[];
}

export interface ChartInput {
  id: string;
  title: string;
  /** the start of each bucket (ISO), oldest first */
  buckets: readonly string[];
  /** stacked bars, bottom first */
  series: readonly ChartSeries[];
  /** bucket indexes where a surge was detected: marked on the chart */
  surges: readonly number[];
  /** shows a bucket's start on the axis: HH:MM */
  tickEvery: number;
}

const W = 640;
const H = 220;
const PAD = { left: 48, right: 12, top: 18, bottom: 34 };

/** A round axis maximum at or above `max` (1, 2, 5 × 10^n). */
function niceMax(max: number): number {
  if (max <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

const label = (iso: string) => iso.slice(11, 16);

/**
 * A stacked bar chart drawn here as inline SVG (no script, no style attribute: colours come from
 * the stylesheet, so the strict CSP holds). It is an image with a title and a description for
 * screen readers, and the same numbers follow as a table.
 */
export function barChart(input: ChartInput): Html {
  const n = input.buckets.length;
  const totals = Array.from({ length: n }, (_, i) => input.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const top = niceMax(Math.max(0, ...totals));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, n);
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const sum = (s: ChartSeries) => s.values.reduce((a, b) => a + b, 0);
  const description = `${input.series.map((s) => `${s.label}: ${sum(s)}`).join('; ')}${
    input.surges.length > 0 ? `; surges detected in ${input.surges.length} interval(s)` : ''
  }.`;

  const bars: Html[] = [];
  for (let i = 0; i < n; i++) {
    let base = 0;
    const x = PAD.left + i * slot + (slot - barW) / 2;
    for (const s of input.series) {
      const v = s.values[i] ?? 0;
      if (v > 0) {
        bars.push(
          html`<rect class="${s.tone}" x="${x.toFixed(1)}" y="${y(base + v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(base) - y(base + v)).toFixed(1)}"><title>${label(input.buckets[i] ?? '')} ${s.label}: ${v}</title></rect>`,
        );
      }
      base += v;
    }
  }
  const marks = input.surges.map((i) => {
    const x = (PAD.left + i * slot + slot / 2).toFixed(1);
    return html`<g class="surge-mark"><line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${PAD.top + plotH}"></line><path d="M${x} ${PAD.top - 2} l-6 -9 h12 z"></path><title>Surge detected at ${label(input.buckets[i] ?? '')} UTC</title></g>`;
  });
  const yTicks = [0, top / 2, top].map(
    (v) =>
      html`<g class="tick"><line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"></line><text x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Number.isInteger(v) ? v : v.toFixed(1)}</text></g>`,
  );
  const xTicks = input.buckets.flatMap((iso, i) =>
    i % input.tickEvery === 0
      ? [
          html`<text class="axis" x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${H - 10}" text-anchor="middle">${label(iso)}</text>`,
        ]
      : [],
  );
  const titleId = `${input.id}-title`;
  const descId = `${input.id}-desc`;
  return html`<figure class="chart" id="${input.id}">
<figcaption id="${titleId}">${input.title}</figcaption>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${titleId}" aria-describedby="${descId}" focusable="false">
<desc id="${descId}">${description}</desc>
${yTicks}${bars}${marks}${xTicks}
</svg>
<ul class="legend">${input.series.map((s) => html`<li><span class="swatch ${s.tone}" aria-hidden="true"></span>${s.label}: ${sum(s)}</li>`)}${
    input.surges.length > 0 ? html`<li><span class="swatch surge" aria-hidden="true"></span>surge detected</li>` : ''
  }</ul>
<details><summary>Numbers for ${input.title}</summary>
<table><caption class="visually-hidden">${input.title} per interval</caption>
<thead><tr><th scope="col">From (UTC)</th>${input.series.map((s) => html`<th scope="col">${s.label}</th>`)}</tr></thead>
<tbody>${input.buckets.map(
    (iso, i) =>
      html`<tr><th scope="row">${label(iso)}</th>${input.series.map((s) => html`<td>${s.values[i] ?? 0}</td>`)}</tr>`,
  )}</tbody></table>
</details>
</figure>`;
}
