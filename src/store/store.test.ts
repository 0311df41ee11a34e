/**
 * The conformance suite over the in-memory backend (no disk, no etcd): the Kubernetes storage
 * semantics proven once here; the same suite runs against embedded and etcd in test/integration/store.
 */
import { openStore } from './index.ts';
import { runStoreConformance } from './conformance.ts';

runStoreConformance('memory', (tuning) => openStore({ backend: 'memory', ...tuning }));
