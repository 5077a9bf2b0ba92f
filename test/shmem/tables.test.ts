// The status and info tables exist twice: in the addon (C++ enums) and in TypeScript, which must
// work without the addon. The addon exports its tables; they must equal the TypeScript ones.
import t from '../harness/mod.ts';
import { SHMEM_STATUS } from '../../src/shmem/mod.ts';
import { addon, INFO } from '../../src/shmem/native.ts';

t.test('SHMEM_STATUS equals the addon status table', async (t) => {
  t.strictSame({ ...addon().statusCodes }, { ...SHMEM_STATUS });
  t.strictSame(Object.keys(addon().statusCodes), Object.keys(SHMEM_STATUS), 'in the same order');
});

t.test('INFO equals the addon info slots', async (t) => {
  t.strictSame({ ...addon().infoSlots }, { ...INFO });
});
