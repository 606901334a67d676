/** The report as GitHub-flavoured markdown: for a pull request, a chat message or a mail. */
import type { ReportData } from './build.js';
import { day } from './format.js';
import { sections, summaryCounts, windowText, type Cell, type Section } from './sections.js';

/** A table cell: pipes and line breaks would break the table, and log values are attacker-controlled. */
function cell(v: Cell): string {
  return String(v)
    .replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`)
    .replace(/[\r\n]+/g, ' ');
}

function section(s: Section): string {
  const out = [`${'#'.repeat(s.level)} ${s.title}`, ''];
  if (s.text !== undefined) out.push(s.text, '');
  if (s.head !== undefined && s.rows !== undefined && s.rows.length > 0) {
    const line = (r: readonly Cell[]) => `| ${r.map(cell).join(' | ')} |`;
    out.push(line(s.head), `|${s.head.map(() => ' --- ').join('|')}|`, ...s.rows.map(line), '');
  } else if (s.head !== undefined || s.empty !== undefined) out.push(`_${s.empty ?? 'None.'}_`, '');
  return out.join('\n');
}

export function renderMarkdown(r: ReportData, staleDays: number): string {
  const counts = summaryCounts(r)
    .map(([what, n]) => `**${n}** ${what}`)
    .join(', ');
  return [
    `# egress-learner report ${day(r.window.until)}`,
    '',
    windowText(r),
    '',
    `${counts}${r.denied === null ? '; no policies audited' : ''}.`,
    '',
    ...sections(r, staleDays).map(section),
  ].join('\n');
}
