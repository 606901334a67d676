import type { SingleBar } from 'cli-progress';
import { cliProgress } from '../util/lazy.js';
import type { IngestProgress } from '../ingest/ingest.js';

/** A live records/s line on a terminal; nothing at all when stderr is not a TTY or --quiet is set. */
export class ProgressLine {
  readonly #bar: SingleBar | null;
  readonly #started = Date.now();
  #last = 0;

  constructor(enabled: boolean) {
    this.#bar = enabled
      ? new (cliProgress().SingleBar)(
          {
            format: '{source} | {value} records | {rate} records/s',
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: true,
            fps: 5,
          },
          cliProgress().Presets.shades_classic,
        )
      : null;
    this.#bar?.start(0, 0, { source: '', rate: 0 });
  }

  update(p: IngestProgress): void {
    if (this.#bar === null) return;
    const now = Date.now();
    if (now - this.#last < 100) return;
    this.#last = now;
    const rate = Math.round(p.records / Math.max(0.001, (now - this.#started) / 1000));
    this.#bar.setTotal(p.records);
    this.#bar.update(p.records, { source: p.source, rate: rate.toLocaleString('en-US') });
  }

  stop(): void {
    this.#bar?.stop();
  }
}
