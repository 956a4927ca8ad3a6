/**
 * The process-wide safety net of the userspace PCI NICs (E1000Nic,
 * VirtioNic): process exit, an uncaught exception about to end the process
 * (or this worker) and SIGINT/SIGTERM/SIGHUP (when nothing else handles
 * them) stop DMA on the devices this exit path takes down before their
 * memory is freed. The addon keeps one registry of such devices
 * (addon/registry), whatever their driver: e1000StopAll() / e1000StopEnv()
 * stop every one of them.
 */
import { isMainThread } from 'node:worker_threads';
import { loadAddon } from './addon.js';

let installed = false;

/**
 * Stops DMA on the devices this exit path takes down: on the main thread
 * every device in the process (its workers die with it); in a worker only the
 * devices that worker opened ('exit' and an uncaught exception end just that
 * thread). The addon also stops a worker's devices when its environment ends.
 */
function stopAllDma(): void {
  try {
    const addon = loadAddon();
    if (isMainThread) addon.e1000StopAll();
    else addon.e1000StopEnv();
  } catch {
    /* addon gone: nothing to stop */
  }
}

/** Installs the hooks once per thread (the first PCI NIC opened does it). */
export function installDmaSafetyHooks(): void {
  if (installed) return;
  installed = true;
  process.on('exit', stopAllDma);
  process.on('uncaughtExceptionMonitor', () => {
    // The process (or this worker) is about to die unless someone handles the exception.
    if (process.listenerCount('uncaughtException') === 0) stopAllDma();
  });
  // Workers receive no signals.
  if (!isMainThread) return;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      // Someone else handles the signal (e.g. a server closing its stack): leave it to them.
      if (process.listenerCount(sig) > 1) return;
      stopAllDma();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig); // default action now: terminate
    };
    process.on(sig, onSignal);
  }
}
