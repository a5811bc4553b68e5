// `npm run generate`: writes every generated file from its source (see scripts/generated.ts) and
// removes those no source makes any more. `npm run generate -- --check` writes nothing, and fails
// naming what is not current.
import { rmSync, writeFileSync } from 'node:fs';
import { generatedFiles, rootUrl, staleFiles } from './generated.js';

const files = await generatedFiles();
const { changed, orphans } = staleFiles(files);
if (process.argv.includes('--check')) {
  for (const path of [...changed, ...orphans]) console.error(`not current: ${path}`);
  if (changed.length + orphans.length > 0) {
    console.error('run `npm run generate`');
    process.exit(1);
  }
  console.log('every generated file is current');
} else {
  for (const path of changed) {
    writeFileSync(new URL(path, rootUrl), files.get(path) ?? '');
    console.log(`wrote ${path}`);
  }
  for (const path of orphans) {
    rmSync(new URL(path, rootUrl));
    console.log(`removed ${path}`);
  }
  console.log('every generated file is current');
}
