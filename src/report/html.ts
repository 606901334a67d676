/**
 * The report as one self-contained HTML file: inline CSS and inline SVG charts, no script, no external resource,
 * so it opens from a mail attachment or an artifact store without a server. Every value is escaped.
 */
import type { ReportData } from './build.js';
import { day } from './format.js';
import { sections, summaryCounts, windowText, type Section } from './sections.js';

export function escapeHtml(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Point {
  readonly label: string;
  readonly value: number;
}

/** A bar chart with a y-axis maximum, day labels under the bars and the value in each bar's tooltip. */
export function barChart(
  title: string,
  points: readonly Point[],
  format: (v: number) => string,
  max?: number,
): string {
  const w = 640;
  const h = 220;
  const pad = { left: 56, right: 12, top: 28, bottom: 40 };
  const top = max ?? Math.max(1, ...points.map((p) => p.value));
  const innerW = w - pad.left - pad.right;
  const innerH = h - pad.top - pad.bottom;
  const step = points.length === 0 ? innerW : innerW / points.length;
  const bars = points
    .map((p, i) => {
      const bh = (p.value / top) * innerH;
      const x = pad.left + i * step + step * 0.1;
      const y = pad.top + innerH - bh;
      const label =
        points.length <= 16 || i % Math.ceil(points.length / 16) === 0
          ? `<text x="${(x + step * 0.4).toFixed(1)}" y="${h - pad.bottom + 16}" class="tick" text-anchor="middle">${escapeHtml(p.label.slice(5))}</text>`
          : '';
      return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(step * 0.8).toFixed(1)}" height="${bh.toFixed(1)}" class="bar"><title>${escapeHtml(`${p.label}: ${format(p.value)}`)}</title></rect>${label}`;
    })
    .join('');
  const axis = [0, 0.5, 1]
    .map((f) => {
      const y = pad.top + innerH - f * innerH;
      return `<line x1="${pad.left}" x2="${w - pad.right}" y1="${y}" y2="${y}" class="grid"/><text x="${pad.left - 6}" y="${y + 4}" class="tick" text-anchor="end">${escapeHtml(format(top * f))}</text>`;
    })
    .join('');
  const empty =
    points.length === 0
      ? `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" class="tick">no data</text>`
      : '';
  return `<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${escapeHtml(title)}"><text x="${pad.left}" y="18" class="title">${escapeHtml(title)}</text>${axis}${bars}${empty}</svg></figure>`;
}

function section(s: Section): string {
  const out = [`<h${s.level}>${escapeHtml(s.title)}</h${s.level}>`];
  if (s.text !== undefined) out.push(`<p>${escapeHtml(s.text)}</p>`);
  if (s.head !== undefined && s.rows !== undefined && s.rows.length > 0) {
    out.push(
      `<table><thead><tr>${s.head.map((x) => `<th>${escapeHtml(x)}</th>`).join('')}</tr></thead><tbody>${s.rows
        .map((r) => `<tr>${r.map((x) => `<td>${escapeHtml(x)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`,
    );
  } else if (s.head !== undefined || s.empty !== undefined)
    out.push(`<p class="none">${escapeHtml(s.empty ?? 'None.')}</p>`);
  return out.join('\n');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1100px;color:#1b1f24;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;font-size:13px;vertical-align:top}
th{background:#f6f8fa}td{word-break:break-word}.none{color:#57606a;font-style:italic}
.summary{display:flex;flex-wrap:wrap;gap:8px}.summary div{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}
.summary b{display:block;font-size:20px}.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
svg .bar{fill:#2f81f7}svg .grid{stroke:#d0d7de}svg .tick{font-size:11px;fill:#57606a}svg .title{font-size:13px;font-weight:600;fill:#1b1f24}`;

export function renderHtml(r: ReportData, staleDays: number): string {
  const stat = (what: string, n: number) => `<div><b>${escapeHtml(n)}</b>${escapeHtml(what)}</div>`;
  const traffic = r.charts.trafficPerDay.map((t) => ({ label: day(t.day), value: t.flows }));
  const news = r.charts.trafficPerDay.map((t) => ({
    label: day(t.day),
    value: r.charts.newEndpointsPerDay.find((n) => n.day === t.day)?.count ?? 0,
  }));
  const coverage = r.charts.coveragePerDay.map((c) => ({ label: day(c.day), value: c.attributed }));
  const count = (v: number) => String(Math.round(v));
  const body = [
    `<h1>egress-learner report ${escapeHtml(day(r.window.until))}</h1>`,
    `<p>${escapeHtml(windowText(r))}</p>`,
    `<div class="summary">${summaryCounts(r)
      .map(([what, n]) => stat(what, n))
      .join('')}</div>`,
    `<div class="charts">${barChart('Egress flows per day', traffic, count)}${barChart('New endpoints per day', news, count)}${barChart('Flows attributed to a workload (%)', coverage, (v) => `${v.toFixed(0)}%`, 100)}</div>`,
    ...sections(r, staleDays).map(section),
  ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>egress-learner report ${escapeHtml(day(r.window.until))}</title><style>${CSS}</style></head>
<body>
${body}
</body></html>
`;
}
