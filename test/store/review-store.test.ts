import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReviewStore, reviewSets } from '../../src/store/review-store.js';
import { Store } from '../../src/store/store.js';
import { endpoint, exact, hostDest, sender, workload } from '../helpers/inference.js';
import { tempDir } from '../helpers/tmp.js';

const web = sender(workload('shop', 'Deployment', 'web'));
const stripe = {
  ...endpoint(web, hostDest('api.stripe.com', [exact('54.187.174.169/32')])),
  id: 'aaaaaa0000000001',
};
const github = { ...endpoint(web, hostDest('api.github.com')), id: 'aaaaaa0000000002' };
const slack = { ...endpoint(web, hostDest('hooks.slack.com')), id: 'bbbbbb0000000003' };
const WINDOW = { since: 1000, until: 2000 };

function open(): ReviewStore {
  return new ReviewStore(new Store(join(tempDir(), 'r.db')).db);
}

describe('review store', () => {
  it('tells which candidates a run produced for the first time', () => {
    const r = open();
    expect([...r.recordRun([stripe, github], WINDOW, 10).fresh].sort()).toEqual([stripe.id, github.id]);
    const second = r.recordRun([github, slack], WINDOW, 20);
    expect([second.run, [...second.fresh]]).toEqual([2, [slack.id]]);
    expect(r.candidates(30, true).map((c) => c.id)).toEqual([github.id, slack.id]);
    expect(r.candidates(30).map((c) => [c.id, c.firstRun, c.lastRun])).toEqual([
      [github.id, 1, 2],
      [stripe.id, 1, 1],
      [slack.id, 2, 2],
    ]);
  });

  it('lets a narrowed run add candidates but change neither the stored evidence nor what is new', () => {
    const r = open();
    r.recordRun([stripe], WINDOW, 10);
    const hour = { ...stripe, evidence: { ...stripe.evidence, flows: 1 } };
    const narrowed = r.recordRun([hour, github], { since: 1900, until: 2000 }, 20, '{"workload":["x"]}');
    expect([...narrowed.fresh]).toEqual([github.id]);
    expect(r.candidates(30).map((c) => [c.id, c.endpoint.evidence.flows, c.lastRun])).toEqual([
      [github.id, github.evidence.flows, 2],
      [stripe.id, stripe.evidence.flows, 1],
    ]);
    // The next whole run still finds github new: only a whole run makes a candidate known.
    expect([...r.recordRun([stripe, github], WINDOW, 30).fresh]).toEqual([github.id]);
  });

  it('remembers the earliest first sighting over runs whose windows moved on', () => {
    const r = open();
    const at = (firstSeen: number) => ({ ...stripe, evidence: { ...stripe.evidence, firstSeen } });
    r.recordRun([at(1000)], WINDOW, 10);
    r.recordRun([at(1500)], { since: 1500, until: 2500 }, 20);
    r.recordRun([at(1200)], WINDOW, 30);
    expect(r.candidates(40).map((c) => [c.id, c.firstSeen, c.endpoint.evidence.firstSeen])).toEqual([
      [stripe.id, 1000, 1200],
    ]);
  });

  it('keeps every decision and applies the latest; a snooze runs out', () => {
    const r = open();
    r.recordRun([stripe, github, slack], WINDOW, 10);
    r.decide([stripe.id], { decision: 'reject', by: 'ana', at: 11, reason: 'not ours', until: null });
    r.decide([stripe.id], { decision: 'accept', by: 'bo', at: 12, reason: 'it is ours', until: null });
    r.decide([github.id], { decision: 'snooze', by: 'ana', at: 13, reason: 'ask team', until: 100 });
    r.decide([slack.id], { decision: 'reject', by: 'ana', at: 14, reason: 'exfil?', until: null });
    expect(r.history(stripe.id).map((d) => d.decision)).toEqual(['reject', 'accept']);
    const states = (now: number) => Object.fromEntries(r.candidates(now).map((c) => [c.id, c.state]));
    expect(states(50)).toEqual({ [stripe.id]: 'accepted', [github.id]: 'snoozed', [slack.id]: 'rejected' });
    expect(states(101)[github.id]).toBe('undecided');
    const sets = reviewSets(r, 50);
    expect([[...sets.accepted], [...sets.rejected]]).toEqual([[stripe.id], [slack.id]]);
  });

  it('resolves unique id prefixes and refuses ambiguous or unknown ones', () => {
    const r = open();
    r.recordRun([stripe, github, slack], WINDOW, 10);
    expect(r.resolve('BBBBBB')).toBe(slack.id);
    expect(() => r.resolve('aaaaaa')).toThrow(/ambiguous/);
    expect(() => r.resolve('cccccc')).toThrow(/no candidate/);
    expect(() => r.resolve('xyz')).toThrow(/hex digits/);
  });
});
