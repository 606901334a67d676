import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildReport } from '../../src/report/build.js';
import { ReviewStore } from '../../src/store/review-store.js';
import { Store } from '../../src/store/store.js';
import { endpoint, hostDest, sender, workload } from '../helpers/inference.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400;
const T0 = 1_763_596_800;
const web = sender(workload('shop', 'Deployment', 'web'));
const seen = (host: string, id: string, firstSeen: number) => {
  const e = endpoint(web, hostDest(host));
  return { ...e, id, evidence: { ...e.evidence, firstSeen, lastSeen: T0 + 40 * DAY } };
};

describe('report', () => {
  it('counts as new only endpoints first seen in its window, over every suggest run so far', () => {
    const store = new Store(join(tempDir(), 'r.db'));
    const review = new ReviewStore(store.db);
    const old = 'aaaaaa0000000001';
    const fresh = 'aaaaaa0000000002';
    // A month ago a 14-day run saw the old endpoint; tonight's 14-day window starts after that sighting, so
    // the old endpoint's evidence now says "first seen" at tonight's window start.
    review.recordRun(
      [seen('api.github.com', old, T0 + 2 * DAY)],
      { since: T0, until: T0 + 14 * DAY },
      T0 + 14 * DAY,
    );
    const window = { since: T0 + 27 * DAY, until: T0 + 41 * DAY };
    review.recordRun(
      [seen('api.github.com', old, window.since), seen('hooks.slack.com', fresh, T0 + 40 * DAY)],
      window,
      window.until,
    );
    const report = buildReport(store.db, {
      since: T0 + 20 * DAY,
      until: window.until,
      chartSince: T0,
      now: window.until,
      staleDays: 7,
      bucketSeconds: 3600,
      attribution: false,
      topN: 10,
    });
    expect(report.newEndpoints.map((c) => c.id)).toEqual([fresh]);
    expect(report.newEndpoints[0]!.firstSeen).toBe(T0 + 40 * DAY);
    expect(report.charts.newEndpointsPerDay).toEqual([
      { day: T0 + 2 * DAY, count: 1 },
      { day: T0 + 40 * DAY, count: 1 },
    ]);
    store.close();
  });

  it('compares whole runs: a run narrowed to one workload neither removes nor lists the others', () => {
    const store = new Store(join(tempDir(), 'r.db'));
    const review = new ReviewStore(store.db);
    const window = { since: T0, until: T0 + 14 * DAY };
    const github = seen('api.github.com', 'bbbbbb0000000001', T0 + DAY);
    const slack = seen('hooks.slack.com', 'bbbbbb0000000002', T0 + DAY);
    const stripe = seen('api.stripe.com', 'bbbbbb0000000003', T0 + DAY);
    review.recordRun([github, slack], window, window.until);
    review.recordRun([github, slack, stripe], window, window.until + DAY);
    // Someone's ad-hoc look at one workload, after the nightly run.
    review.recordRun([github], window, window.until + DAY + 60, '{"workload":["shop/Deployment/web"]}');
    const report = buildReport(store.db, {
      since: T0,
      until: window.until + DAY,
      chartSince: T0,
      now: window.until + DAY,
      staleDays: 7,
      bucketSeconds: 3600,
      attribution: false,
      topN: 10,
    });
    expect(report.ruleChanges.added.map((c) => c.id)).toEqual([stripe.id]);
    expect(report.ruleChanges.removed).toEqual([]);
    expect(
      review
        .candidates(window.until + DAY, true)
        .map((c) => c.id)
        .sort(),
    ).toEqual([github.id, slack.id, stripe.id].sort());
    store.close();
  });
});
