// Reads {name: statement} as JSON on stdin; writes {name: ["error: …" | "warning: …"]} as JSON.
// Parameters are bound at run time, so the parser's "Parameter $x is not defined" is dropped.
import { lintCypherQuery } from '@neo4j-cypher/language-support';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const statements = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const found = {};
for (const [name, text] of Object.entries(statements)) {
  const { diagnostics } = lintCypherQuery(text, {}, false);
  found[name] = diagnostics
    .filter((d) => !/^Parameter \$\w+ is not defined\.$/.test(d.message))
    .map((d) => `${d.severity === 1 ? 'error' : 'warning'}: ${d.message}`);
}
process.stdout.write(JSON.stringify(found));
