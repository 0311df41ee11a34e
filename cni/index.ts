/**
 * podnet's CNI plugins: public face. The node agent embeds the service (`startCniService`) and runs
 * network lists (`addNetworkList`…); tools can run a plugin in-process (`makePlugins` +
 * `pluginMain`). The executables are built by scripts/setup.d/cni.sh into cni/bin/.
 */
export { type Delegate, findInPath, makeDelegate } from './delegate.ts';
export { type HostLocalConfig, parseHostLocalConfig } from './ipam/config.ts';
export { DiskStore, type IpamStore, MemoryStore } from './ipam/store.ts';
export { type BridgeConfig, parseBridgeConfig } from './plugins/bridge.ts';
export { makePlugins, PLUGIN_NAMES, type PluginSetOptions, pluginNameOf } from './plugins/index.ts';
export {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  type NetConfList,
  type RuntimeConf,
  type RuntimeOptions,
  statusNetworkList,
} from './runtime.ts';
export { type CniServiceOptions, DEFAULT_CNI_SOCKET, startCniService } from './service.ts';
export {
  type CmdArgs,
  type CniCommand,
  type CniPlugin,
  type HostContext,
  type PluginIo,
  pluginMain,
} from './skel.ts';
export * from './spec.ts';
