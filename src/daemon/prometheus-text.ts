/**
 * The Prometheus text exposition format (version 0.0.4): families with HELP and TYPE, label
 * values escaped (backslash, double quote, newline), histograms as cumulative `_bucket{le}`
 * plus `_sum` and `_count`. Pure, so `/metrics` and the textfile output write the same bytes.
 */

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

export interface HistogramSample {
  readonly labels: Labels;
  /** Observations, in the family's unit. */
  readonly values: readonly number[];
}

export type MetricFamily =
  | { readonly name: string; readonly help: string; readonly type: 'gauge' | 'counter'; readonly samples: readonly Sample[] }
  | { readonly name: string; readonly help: string; readonly type: 'histogram'; readonly buckets: readonly number[]; readonly samples: readonly HistogramSample[] };

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

export function renderPrometheus(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type !== 'histogram') {
      for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${num(s.value)}`);
      continue;
    }
    for (const s of f.samples) {
      for (const le of [...f.buckets, Number.POSITIVE_INFINITY]) {
        out.push(`${f.name}_bucket${labelText(s.labels, ['le', num(le)])} ${s.values.filter((v) => v <= le).length}`);
      }
      out.push(`${f.name}_sum${labelText(s.labels)} ${num(s.values.reduce((a, b) => a + b, 0))}`);
      out.push(`${f.name}_count${labelText(s.labels)} ${s.values.length}`);
    }
  }
  return out.join('\n') + '\n';
}

/** gobackup's buckets: 1 s doubling to about 4.5 h (15 buckets). */
export const DURATION_BUCKETS: readonly number[] = Array.from({ length: 15 }, (_, i) => 2 ** i);
