// Which claims may touch what on a safekeeper (Neon's safekeeper/src/auth.rs check_permission).

import { SCOPE_DEBUG_NAMES, type Claims } from './jwt.js';

/** null when allowed, else the reason (logged; the client only sees `JWT authentication error`). */
export function permissionError(claims: Claims, tenantId: string | null): string | null {
  switch (claims.scope) {
    case 'safekeeperdata':
      return null;
    case 'tenant':
      if (tenantId === null) return 'Attempt to access management api with tenant scope. Permission denied';
      // Neon panics on a tenant-scoped token without tenant_id here; we refuse it.
      if (claims.tenantId === null || claims.tenantId !== tenantId.toLowerCase()) return 'Tenant id mismatch. Permission denied';
      return null;
    default:
      return `JWT scope '${SCOPE_DEBUG_NAMES[claims.scope]}' is ineligible for Safekeeper auth`;
  }
}
