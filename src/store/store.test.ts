/**
 * The conformance suite over the in-memory backend (no disk, no etcd): the Kubernetes storage
 * semantics proven once here; the same suite runs against embedded and etcd in test/integration/store.
 */

import { runStoreConformance } from './conformance.ts';
import { openStore } from './index.ts';

runStoreConformance('memory', (tuning) => openStore({ backend: 'memory', ...tuning }));
