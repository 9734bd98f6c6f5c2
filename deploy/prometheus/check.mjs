// Checks the monitoring artefacts (npm run deploy:check):
//
// - deploy/prometheus/alerts.yml: `promtool check rules`, then `promtool test rules` on
//   alerts.test.yml; every alert has a severity, a summary, a description and a test that
//   fires it and one in which it stays quiet;
// - deploy/grafana/idp-dashboard.json: parses, has unique panel ids, a data-source variable
//   on every target, and every PromQL expression parses (`promtool check rules` on a generated
//   file of recording rules, with Grafana's variables replaced);
// - every `idp_*` metric that the rules or the dashboard name is one the server exports
//   (declared under src/, or one of prom-client's default metrics with our `idp_` prefix).
//
// promtool comes with Debian's `prometheus` package (.ci/run installs it).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const alertsFile = join(here, 'alerts.yml');
const testsFile = join(here, 'alerts.test.yml');
const dashboardFile = join(root, 'deploy/grafana/idp-dashboard.json');
const problems = [];

function promtool(...args) {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (err.code === 'ENOENT') {
      console.error('promtool not found: install Debian\'s "prometheus" package (apt-get install prometheus)');
      process.exit(1);
    }
    problems.push(`promtool ${args.join(' ')}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Metric names the server exports

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

function exportedMetrics() {
  const names = new Set();
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/name: '(idp_[a-z0-9_]+)'/g)) names.add(m[1]);
  }
  // collectDefaultMetrics({ prefix: 'idp_' }): the names prom-client's default collectors use
  const defaults = join(root, 'node_modules/prom-client/lib/metrics');
  for (const file of readdirSync(defaults).filter((f) => f.endsWith('.js'))) {
    for (const m of readFileSync(join(defaults, file), 'utf8').matchAll(/'((?:process|nodejs)_[a-z0-9_]+)'/g)) {
      names.add(`idp_${m[1]}`);
    }
  }
  for (const name of [...names]) for (const suffix of ['_bucket', '_count', '_sum']) names.add(name + suffix);
  return names;
}

function checkMetricNames(where, expr, known) {
  for (const m of expr.matchAll(/\bidp_[a-z0-9_]+/g)) {
    if (!known.has(m[0])) problems.push(`${where}: ${m[0]} is not a metric the server exports`);
  }
}

// ---------------------------------------------------------------------------------------------

const known = exportedMetrics();

// alerts
promtool('check', 'rules', alertsFile);
const alerts = parse(readFileSync(alertsFile, 'utf8'))
  .groups.flatMap((g) => g.rules)
  .filter((r) => r.alert);
for (const rule of alerts) {
  const where = `alerts.yml ${rule.alert}`;
  if (!['critical', 'warning', 'info'].includes(rule.labels?.severity)) problems.push(`${where}: severity label`);
  if (!rule.annotations?.summary || !rule.annotations?.description) problems.push(`${where}: summary and description`);
  checkMetricNames(where, rule.expr, known);
}

// tests: each alert must be shown firing and shown quiet
const tests = parse(readFileSync(testsFile, 'utf8')).tests ?? [];
const firing = new Set();
const quiet = new Set();
for (const test of tests) {
  for (const t of test.alert_rule_test ?? []) (t.exp_alerts?.length ? firing : quiet).add(t.alertname);
}
for (const { alert } of alerts) {
  if (!firing.has(alert)) problems.push(`alerts.test.yml: no case where ${alert} fires`);
  if (!quiet.has(alert)) problems.push(`alerts.test.yml: no case where ${alert} stays quiet`);
}
const tested = promtool('test', 'rules', testsFile);

// dashboard
let dashboard;
try {
  dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8'));
} catch (err) {
  problems.push(`${relative(root, dashboardFile)}: ${err.message}`);
}
let expressions = 0;
if (dashboard) {
  if (!dashboard.uid || !dashboard.title) problems.push('dashboard: uid and title are required');
  const variables = new Set((dashboard.templating?.list ?? []).map((v) => v.name));
  if (!variables.has('datasource')) problems.push('dashboard: a `datasource` variable lets it be imported anywhere');
  const ids = new Set();
  const rules = [];
  const datasource = '$' + '{datasource}'; // Grafana's syntax, not a template literal
  for (const panel of dashboard.panels ?? []) {
    const where = `dashboard panel "${panel.title}"`;
    if (ids.has(panel.id)) problems.push(`${where}: duplicate id ${panel.id}`);
    ids.add(panel.id);
    if (!panel.gridPos) problems.push(`${where}: no gridPos`);
    if (panel.type === 'row') continue;
    if (!panel.targets?.length) problems.push(`${where}: no query`);
    for (const target of panel.targets ?? []) {
      if (target.datasource?.uid !== datasource) problems.push(`${where}: target must use ${datasource}`);
      checkMetricNames(where, target.expr, known);
      for (const v of target.expr.matchAll(/\$(?:\{)?([a-z_]+)/gi)) {
        if (!variables.has(v[1]) && !v[1].startsWith('__')) problems.push(`${where}: unknown variable $${v[1]}`);
      }
      // Grafana's variables replaced by what they stand for, then parsed as a recording rule
      const expr = target.expr
        .replaceAll(/\$__(?:rate_)?interval|\$__range/g, '5m')
        .replaceAll(/\$\{?instance\}?/g, '.*');
      rules.push({ record: `dashboard:panel_${panel.id}_${target.refId}`, expr });
      expressions++;
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'idp-dashboard-'));
  try {
    const file = join(dir, 'dashboard-rules.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    promtool('check', 'rules', file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const p of problems) console.error(`problem: ${p}`);
const summary = /SUCCESS|FAILED/.exec(tested)?.[0] ?? 'not run';
console.log(
  `deploy/prometheus: ${alerts.length} alerts, promtool test rules ${summary} (${tests.length} cases); ` +
    `dashboard: ${expressions} expressions; ${problems.length} problems`,
);
process.exit(problems.length > 0 ? 1 : 0);
