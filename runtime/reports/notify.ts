/**
 * Which DSNs a recipient asked for (RFC 3461 §4.1, the NOTIFY parameter of RCPT TO). Without NOTIFY
 * the MTA chooses; like Postfix we report failures and delays. `relayed` and `expanded` say that
 * delivery succeeded as far as we can see, so they answer NOTIFY=SUCCESS.
 */
import type { DsnAction } from './dsn-types.ts';

export type NotifyCondition = 'SUCCESS' | 'FAILURE' | 'DELAY';

const CONDITION: Record<DsnAction, NotifyCondition> = {
  failed: 'FAILURE',
  delayed: 'DELAY',
  delivered: 'SUCCESS',
  relayed: 'SUCCESS',
  expanded: 'SUCCESS',
};

/** RFC 3461 §4.1: does this recipient's NOTIFY ask for a report of this action? */
export function wantsReport(notify: 'NEVER' | readonly NotifyCondition[] | undefined, action: DsnAction): boolean {
  if (notify === 'NEVER') return false;
  const condition = CONDITION[action];
  if (notify === undefined) return condition === 'FAILURE' || condition === 'DELAY';
  return notify.includes(condition);
}
