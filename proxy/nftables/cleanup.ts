/**
 * Removing the nftables backend's state: everything lives in our one table, so deleting it is
 * the whole cleanup (the `table` line first makes the delete succeed even if it is absent).
 */
import { NFT_TABLE } from './render.ts';
import type { NftRunner } from './runner.ts';

/** Deletes table `ip <table>` (default kube-proxy) if present. */
export async function cleanupNftables(runner: NftRunner, table = NFT_TABLE): Promise<void> {
  await runner.run(`table ip ${table}\ndelete table ip ${table}\n`);
}
