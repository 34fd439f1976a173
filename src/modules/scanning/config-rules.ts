import { DomainError } from '../../domain/errors.js';
import type { RegistryScanConfig } from './store/sql-store.js';

// Registry scanning configuration as ECR validates and applies it: up to 2 rules, each with
// a frequency and up to 100 WILDCARD repository filters; BASIC scans on push only (the rest
// is manual), ENHANCED also scans continuously.

export const FILTER_PATTERN = /^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$/;

export function validateRegistryConfig(scanType: string | undefined, rules: unknown[] | undefined): Pick<RegistryScanConfig, 'scanType' | 'rules'> {
  const type = (scanType ?? 'BASIC') as 'BASIC' | 'ENHANCED';
  const list = (rules ?? []) as RegistryScanConfig['rules'];
  if (list.length > 2) throw new DomainError('InvalidParameter', "Invalid parameter at 'rules' failed to satisfy constraint: 'Member must have length less than or equal to 2'");
  for (const rule of list) {
    if (type === 'BASIC' && rule.scanFrequency === 'CONTINUOUS_SCAN') {
      throw new DomainError('InvalidParameter', "Invalid parameter at 'scanFrequency' failed to satisfy constraint: 'CONTINUOUS_SCAN is supported with the ENHANCED scan type only'");
    }
    if (rule.repositoryFilters.length > 100) throw new DomainError('InvalidParameter', "Invalid parameter at 'repositoryFilters' failed to satisfy constraint: 'Member must have length less than or equal to 100'");
    for (const f of rule.repositoryFilters) {
      if (f.filterType !== 'WILDCARD') throw new DomainError('InvalidParameter', "Invalid parameter at 'filterType' failed to satisfy constraint: 'Member must satisfy enum value set: [WILDCARD]'");
      if (!FILTER_PATTERN.test(f.filter)) throw new DomainError('InvalidParameter', `Invalid parameter at 'filter' failed to satisfy constraint: 'Member must satisfy regular expression pattern: ${FILTER_PATTERN.source}'`);
    }
  }
  return { scanType: type, rules: list.map((r) => ({ scanFrequency: r.scanFrequency, repositoryFilters: r.repositoryFilters.map((f) => ({ filter: f.filter, filterType: 'WILDCARD' as const })) })) };
}

export function wildcardMatches(filter: string, repository: string): boolean {
  const re = new RegExp(`^${filter.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(repository);
}

export interface EffectiveScanning {
  scanFrequency: 'SCAN_ON_PUSH' | 'CONTINUOUS_SCAN' | 'MANUAL';
  appliedScanFilters: { filter: string; filterType: 'WILDCARD' }[];
  scanOnPush: boolean;
}

/**
 * What applies to one repository. A continuous rule wins over a scan-on-push rule. The
 * deprecated repository-level scanOnPush counts only while the registry has no rules of its
 * own (ECR: registry-level configuration overrides it).
 */
export function effectiveScanning(config: RegistryScanConfig, repository: string, repositoryScanOnPush: boolean): EffectiveScanning {
  const matching = (freq: string) => config.rules.filter((r) => r.scanFrequency === freq).flatMap((r) => r.repositoryFilters.filter((f) => wildcardMatches(f.filter, repository)));
  if (config.scanType === 'ENHANCED') {
    const cont = matching('CONTINUOUS_SCAN');
    if (cont.length) return { scanFrequency: 'CONTINUOUS_SCAN', appliedScanFilters: cont, scanOnPush: true };
  }
  const push = matching('SCAN_ON_PUSH');
  if (push.length) return { scanFrequency: 'SCAN_ON_PUSH', appliedScanFilters: push, scanOnPush: true };
  if (config.rules.length === 0 && repositoryScanOnPush && config.scanType === 'BASIC') return { scanFrequency: 'SCAN_ON_PUSH', appliedScanFilters: [], scanOnPush: true };
  return { scanFrequency: 'MANUAL', appliedScanFilters: [], scanOnPush: false };
}
