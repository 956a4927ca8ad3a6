// With the addon missing, opening a TAP NIC fails with one coded error that
// says what is missing and how to build it; loopback keeps working (esm.mjs).
import { Stack } from 'ustack';

try {
  await Stack.open({ nic: 'tap:ustnoaddon0', address: '10.99.0.2/24' });
  console.log(JSON.stringify({ opened: true }));
} catch (err) {
  console.log(JSON.stringify({ opened: false, code: err.code, message: err.message }));
}
