/** Progress of a stack backup or restore on the terminal (a redrawn line) or as `--json` events. */
import { ProgressMeter } from '../ops/progress-meter.ts';
import type { SourceProgress, SourceRunResult } from '../ops/run-report.ts';
import type { Output } from './output.ts';

/** The options a stack backup or restore takes to show its progress on `out` (none when it would show nothing). */
export function stackProgressOptions(out: Output, now: () => number = Date.now): { onSourceProgress?: (p: SourceProgress) => void; onSourceDone: (r: SourceRunResult) => void } {
  const meter = new ProgressMeter();
  const onSourceDone = (r: SourceRunResult): void => {
    meter.done(r.source);
    out.progress(`${r.source}: ${r.status}`);
  };
  if (!out.json && !out.isInteractive) return { onSourceDone };
  return {
    onSourceProgress: (p) => {
      const { line, event } = meter.update(p, now());
      if (line) out.progress(line);
      if (event) out.result(event);
    },
    onSourceDone,
  };
}
