import { sourceTypes } from '../sources/registry.ts'; console.log([...sourceTypes.keys()]);
