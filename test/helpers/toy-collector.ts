import type { CollectorDescriptor } from '../../src/model/collector.js';
import { observation } from '../../src/model/observation.js';
import { ParseOutcome } from '../../src/model/parse-outcome.js';

/**
 * A minimal line format for testing the ingest machinery apart from any real parser:
 * `<start> <src> <dst> <port> <bytes> [reply]`; `#` lines are skipped, `hdr=<n>` lines set state that must
 * survive a resume (bytes are multiplied by it).
 */
export const toyCollector: CollectorDescriptor = {
  name: 'toy',
  sourceKind: 'vpcflow',
  description: 'test format',
  sample: '1700000000 10.0.0.1 10.0.0.2 443 100',
  options: [],
  createParser(_opts, resumeState) {
    let factor = resumeState ? Number(resumeState) : 1;
    return {
      parse(text) {
        if (text.startsWith('#')) return ParseOutcome.skip('comment');
        if (text.startsWith('hdr=')) {
          factor = Number(text.slice(4));
          return ParseOutcome.skip('header');
        }
        const f = text.split(' ');
        if (f.length < 5) return ParseOutcome.reject('field_count');
        const start = Number(f[0]);
        const bytes = Number(f[4]);
        if (!Number.isFinite(start)) return ParseOutcome.reject('bad_time');
        if (!Number.isInteger(bytes)) return ParseOutcome.reject('bad_count');
        const reply = f[5] === 'reply';
        return ParseOutcome.observation(
          observation({
            sourceKind: 'vpcflow',
            start,
            end: start + 10,
            srcAddr: f[1],
            dstAddr: f[2],
            dstPort: Number(f[3]),
            protocol: 6,
            reply,
            bytesOut: reply ? 0 : bytes * factor,
            bytesIn: reply ? bytes * factor : 0,
            packetsOut: reply ? 0 : 1,
            packetsIn: reply ? 1 : 0,
          }),
        );
      },
      snapshot: () => String(factor),
    };
  },
};
