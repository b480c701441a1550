/* global document, Node, sessionStorage, alert, location, TextDecoderStream, addEventListener, CSS */
/**
 * The dashboard: plain ES module, no build step. Every page is drawn from the daemon's JSON
 * API (relative URLs, so it also works behind a reverse proxy under a sub-path) and kept live
 * by the Server-Sent Events of api/v1/events. Text is only ever set with textContent: nothing
 * the API returns is parsed as HTML. The token (when the daemon has one) lives in this tab's
 * sessionStorage and goes out as a bearer header, never in a URL or a cookie.
 */
const main = document.getElementById('main');
const TOKEN_KEY = 'lifeboat.token';

/** el('td', { class: 'x' }, 'text', child) */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function headers(json) {
  const h = { accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.authorization = `Bearer ${token}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

function askToken() {
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  input.value = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue === 'ok' && input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
      resolve(dialog.returnValue === 'ok' && input.value !== '');
    }, { once: true });
    dialog.showModal();
  });
}

/** GET or POST (JSON, the server's CSRF rule) under api/v1/; a 401 asks for the token once. */
async function api(path, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`api/v1/${path}`, {
      method: opts.method ?? 'GET',
      headers: headers(opts.method === 'POST'),
      body: opts.method === 'POST' ? JSON.stringify(opts.body ?? {}) : undefined,
    });
    if (res.status === 401 && attempt === 0 && (await askToken())) continue;
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error ? `${body.error.message}${body.error.hint ? ` (${body.error.hint})` : ''}` : `HTTP ${res.status}`);
    return body;
  }
}

function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return `${duration(Math.abs(s))} ${s >= 0 ? 'ago' : 'from now'}`;
}

function duration(s) {
  if (s === null || s === undefined) return '—';
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 129600) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}

const when = (iso) => (iso ? el('time', { datetime: iso, title: iso }, ago(iso)) : '—');
const badge = (state) => el('span', { class: `state state-${state}`, 'data-state': state }, state);

/** Green within the rpo, amber past 3/4 of it, red past it. */
function ageCell(src) {
  if (!src.last_backup) return el('span', { class: 'age-bad' }, 'never');
  const age = src.last_backup.age_seconds;
  const rpo = src.rpo_seconds;
  const cls = rpo === null ? '' : age > rpo ? 'age-bad' : age > rpo * 0.75 ? 'age-warn' : 'age-ok';
  return el('span', { class: cls, title: src.last_backup.at }, `${duration(age)}${rpo === null ? '' : ` / rpo ${duration(rpo)}`}`);
}

function strip(history) {
  const byDay = new Map(history.map((h) => [h.day, h.status]));
  const days = [];
  for (let i = 29; i >= 0; i--) {
    const day = new Date(Date.now() - i * 86_400_000).toISOString().slice(0, 10);
    const status = byDay.get(day);
    days.push(el('span', { class: status ? `d-${status}` : undefined, title: `${day}: ${status ?? 'no runs'}` }));
  }
  return el('span', { class: 'strip', 'aria-label': '30-day history' }, days);
}

function runLink(id, text) {
  return el('a', { href: `#/runs/${id}` }, text ?? `#${id}`);
}

async function backupNow(name, button) {
  button.disabled = true;
  try {
    await api(`sources/${encodeURIComponent(name)}/backup`, { method: 'POST' });
    button.textContent = 'Started';
  } catch (err) {
    button.textContent = 'Back up now';
    alert(err.message);
  } finally {
    button.disabled = false;
  }
}

async function overview() {
  const [{ sources }, status] = await Promise.all([api('sources'), api('status')]);
  const bad = sources.filter((s) => s.state === 'failed' || s.state === 'overdue' || s.state === 'never');
  const safe = bad.length === 0 && status.conditions.length === 0;
  return [
    el('h1', {}, 'Am I safe?'),
    status.all_paused ? el('div', { class: 'banner unsafe', id: 'paused-banner' }, 'Every job is paused: nothing runs on schedule until they are resumed (Runs page).') : null,
    el('div', { class: `banner ${safe ? 'safe' : 'unsafe'}`, id: 'verdict' },
      safe ? 'Yes: every source has a backup within its RPO and nothing is alerting.'
        : `No: ${[...bad.map((s) => `${s.name} is ${s.state}`), ...status.conditions.map((c) => c.title ?? c.key)].join('; ')}.`),
    el('table', { id: 'sources' },
      el('thead', {}, el('tr', {}, ['Source', 'State', 'Last good backup', 'Age / RPO', 'Last run', 'Next run', 'Last drill RTO / RPO', '30 days', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, sources.map((s) => el('tr', { 'data-source': s.name },
        el('td', {}, el('a', { href: `#/sources/${encodeURIComponent(s.name)}` }, el('strong', {}, s.name)), el('div', { class: 'muted' }, s.type)),
        el('td', {}, badge(s.state), s.restoring ? el('div', { class: 'muted' }, 'restoring') : null, s.paused ? el('div', { class: 'muted' }, 'paused') : null),
        el('td', {}, s.last_backup ? [when(s.last_backup.at), el('div', { class: 'muted' }, s.last_backup.snapshot_id?.slice(0, 8) ?? '')] : '—'),
        el('td', {}, ageCell(s)),
        el('td', {}, s.last_run ? [runLink(s.last_run.id), ' ', badge(s.last_run.status), s.last_run.error ? el('div', { class: 'error' }, s.last_run.error) : null] : '—'),
        el('td', {}, s.running ? [badge('running'), el('div', { class: 'muted live-progress', 'data-source': s.name })] : when(s.next_run)),
        el('td', {}, s.last_drill ? [duration(s.last_drill.rto_ms / 1000), ' / ', duration(s.last_drill.rpo_ms / 1000),
          s.rto_seconds !== null ? el('div', { class: 'muted' }, `target ${duration(s.rto_seconds)}`) : null] : '—'),
        el('td', {}, strip(s.history)),
        el('td', {}, el('button', { class: 'backup', onclick: (e) => backupNow(s.name, e.currentTarget) }, 'Back up now')),
      ))),
    ),
  ];
}

function runsTable(runs) {
  return el('table', { class: 'runs' },
    el('thead', {}, el('tr', {}, ['Run', 'Job', 'Trigger', 'Status', 'Started', 'Duration', 'Added', 'Error'].map((h) => el('th', {}, h)))),
    el('tbody', {}, runs.map((r) => el('tr', { 'data-run': r.id },
      el('td', {}, runLink(r.id)), el('td', {}, r.job), el('td', {}, r.trigger), el('td', {}, badge(r.status)),
      el('td', {}, when(r.started_at)), el('td', {}, duration(r.duration_ms === null || r.duration_ms === undefined ? null : r.duration_ms / 1000)),
      el('td', {}, bytes(r.bytes_added)), el('td', { class: 'error' }, r.error ?? ''),
    ))));
}

function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

async function runs() {
  const [{ runs: list }, { jobs, all_paused: allPaused }] = await Promise.all([api('runs?limit=100'), api('jobs')]);
  return [
    el('h1', {}, 'Jobs'),
    el('p', {}, allPaused ? el('span', { class: 'banner unsafe', id: 'all-paused' }, 'Every job is paused (kept across restarts). ') : null,
      el('button', { id: 'pause-all', onclick: (e) => jobAction(allPaused ? 'resume' : 'pause', undefined, e.currentTarget) }, allPaused ? 'Resume all' : 'Pause all')),
    el('table', { id: 'jobs' },
      el('thead', {}, el('tr', {}, ['Job', 'Next run', 'State', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, jobs.map((j) => el('tr', { 'data-job': j.id },
        el('td', {}, j.id), el('td', {}, when(j.next_run)),
        el('td', {}, j.running ? badge('running') : j.queued ? badge('queued') : j.paused ? 'paused' : j.retry_at ? ['retry ', when(j.retry_at)] : ''),
        // A restore starts from a source's snapshot page, with its confirmation; never from here.
        el('td', {}, j.kind === 'restore' ? el('span', { class: 'muted' }, 'started from a source\'s snapshots') : [
          el('button', { onclick: (e) => jobAction(j.id, 'run', e.currentTarget) }, 'Run now'), ' ',
          el('button', { onclick: (e) => jobAction(j.id, j.paused ? 'resume' : 'pause', e.currentTarget) }, j.paused ? 'Resume' : 'Pause')])),
      ))),
    el('h1', {}, 'Runs'),
    runsTable(list),
  ];
}

/** `action` on a job, or on every job when `action` is undefined and `id` is pause or resume. */
async function jobAction(id, action, button) {
  button.disabled = true;
  try {
    await api(action === undefined ? `jobs/${id}` : `jobs/${encodeURIComponent(id)}/${action}`, { method: 'POST' });
    render();
  } catch (err) {
    alert(err.message);
    button.disabled = false;
  }
}

async function checks() {
  const kinds = ['drill', 'verify', 'check'];
  const lists = await Promise.all(kinds.map((k) => api(`runs?limit=30&kind=${k}`)));
  return kinds.flatMap((k, i) => [el('h1', {}, { drill: 'Drills', verify: 'Verifications', check: 'Repository checks' }[k]),
    lists[i].runs.length ? runsTable(lists[i].runs) : el('p', { class: 'muted' }, `No ${k} runs yet.`)]);
}

async function testNotifications(button) {
  const out = document.getElementById('notify-results');
  button.disabled = true;
  out.replaceChildren('Sending…');
  try {
    const { results } = await api('notifications/test', { method: 'POST' });
    out.replaceChildren(...results.map((r) => el('div', { 'data-channel': r.channel }, badge(r.ok ? 'ok' : 'failed'), ` ${r.channel}: ${r.ok ? 'sent' : r.error ?? 'failed'}`)));
  } catch (err) {
    out.replaceChildren(el('span', { class: 'error' }, err.message));
  } finally {
    button.disabled = false;
  }
}

async function health() {
  const [status, { alerts }, { notifications }] = await Promise.all([api('status'), api('alerts'), api('notifications')]);
  return [
    el('h1', {}, 'Repository and watchdog'),
    el('p', {}, `lifeboat ${status.version}; ${status.jobs} jobs.`),
    status.conditions.length
      ? el('table', { id: 'conditions' }, el('tbody', {}, status.conditions.map((c) => el('tr', {},
        el('td', {}, badge(c.event === 'overdue' ? 'overdue' : 'failed')), el('td', {}, c.key), el('td', {}, c.title ?? ''), el('td', {}, c.message ?? ''), el('td', {}, when(c.since))))))
      : el('p', { class: 'banner safe' }, 'Every watchdog condition is fine (repository reachable, no stale lock, checks recent).'),
    el('h2', {}, 'Last alerts'),
    alerts.length
      ? el('table', {}, el('tbody', {}, alerts.map((a) => el('tr', {},
        el('td', {}, badge(a.event === 'recovery' ? 'ok' : a.event === 'overdue' ? 'overdue' : 'failed')), el('td', {}, a.title), el('td', {}, a.message), el('td', {}, when(a.at))))))
      : el('p', { class: 'muted' }, 'No alerts sent.'),
    el('h2', {}, 'Notifications'),
    notifications.length
      ? [el('table', { id: 'notifications' },
        el('thead', {}, el('tr', {}, ['Channel', 'Type', 'Events', 'Timeout'].map((h) => el('th', {}, h)))),
        el('tbody', {}, notifications.map((n) => el('tr', {}, el('td', {}, n.name), el('td', {}, n.type), el('td', {}, n.on.join(', ')), el('td', {}, duration(n.timeout_ms / 1000)))))),
      el('p', {}, el('button', { id: 'notify-test', onclick: (e) => testNotifications(e.currentTarget) }, 'Send a test notification'), ' ',
        el('span', { class: 'muted' }, 'URLs and tokens stay in lifeboat.yml; they are never shown here.')),
      el('div', { id: 'notify-results' })]
      : el('p', { class: 'muted' }, 'No notification channels in lifeboat.yml.'),
  ];
}

let currentRun;

/** The restore the source page started: its run's events are drawn under the plan. */
let restoreWatch;

/**
 * The guarded restore under a preview (daemon.allow_restore): the button stays disabled until
 * the user has typed the source and the snapshot's short ID, which the API checks again.
 */
function restoreBox(plan) {
  const want = `${plan.source} ${plan.snapshot_id.slice(0, 8)}`;
  const input = el('input', { id: 'restore-confirm', autocomplete: 'off', spellcheck: 'false', 'aria-label': `type ${want} to confirm` });
  const button = el('button', { id: 'restore-start', class: 'danger', disabled: true }, 'Restore');
  const status = el('div', { id: 'restore-status' });
  input.addEventListener('input', () => (button.disabled = input.value.trim() !== want));
  button.addEventListener('click', async () => {
    button.disabled = true;
    input.disabled = true;
    restoreWatch = { run: undefined };
    status.replaceChildren('Waiting for the repository (running jobs finish first)…');
    try {
      await api('restores', { method: 'POST', body: { sources: [plan.source], snapshot: plan.snapshot_id, confirm: input.value.trim() } });
    } catch (err) {
      restoreWatch = undefined;
      status.replaceChildren(el('p', { class: 'error' }, err.message));
      input.disabled = false;
      button.disabled = input.value.trim() !== want;
    }
  });
  const what = plan.to ? `restores ${plan.source} into ${plan.to}` : `replaces the live data of ${plan.source}${plan.safety_snapshot ? ' (a safety snapshot of it is taken first)' : ''}`;
  return el('div', { id: 'restore-box', class: 'danger-zone' },
    el('h2', {}, 'Restore from here'),
    el('p', {}, `This ${what}. To confirm, type `, el('code', {}, want), ' below.'),
    el('p', {}, input, ' ', button),
    status,
    el('div', { id: 'restore-progress' }),
    el('pre', { class: 'log', id: 'restore-log' }));
}

/** Events of the restore started from the source page. */
function onRestoreEvent(type, data) {
  if (!restoreWatch || data.job !== 'restore') return false;
  if (type === 'run_started' && restoreWatch.run === undefined) {
    restoreWatch.run = data.run_id;
    document.getElementById('restore-status')?.replaceChildren(badge('running'), ' ', runLink(data.run_id, `run #${data.run_id}`));
    return true;
  }
  if (data.run_id !== restoreWatch.run) return false;
  if (type === 'run_log') document.getElementById('restore-log')?.append(`${data.line}\n`);
  if (type === 'run_progress') {
    const box = document.getElementById('restore-progress');
    if (box) box.textContent = progressText(data.progress);
  }
  if (type === 'run_finished') {
    restoreWatch = undefined;
    document.getElementById('restore-status')?.replaceChildren(badge(data.status), ' ', runLink(data.run_id, `run #${data.run_id}`),
      data.status === 'ok' ? ': restored and verified' : data.error ? el('div', { class: 'error' }, data.error) : '');
  }
  return true;
}

/** A source's snapshots, each with a restore preview, then (when the daemon allows it) a guarded restore. */
async function sourcePage(name) {
  const [{ snapshots, probed_at }, status] = await Promise.all([api(`sources/${encodeURIComponent(name)}/snapshots`), api('status')]);
  const planBox = el('div', { id: 'restore-plan' });
  const preview = async (id, button) => {
    button.disabled = true;
    planBox.replaceChildren('Reading the snapshot…');
    try {
      const { plan } = await api(`sources/${encodeURIComponent(name)}/restore-plan?snapshot=${id}`);
      planBox.replaceChildren(
        el('h2', {}, `Restore plan: ${plan.source} from ${plan.snapshot_id.slice(0, 8)}`),
        el('ul', {},
          el('li', {}, `snapshot of ${new Date(plan.time).toISOString().replace('T', ' ').slice(0, 19)} UTC from host ${plan.host ?? '?'}`),
          el('li', {}, plan.to ? `restored into ${plan.to} (the live store is not touched)` : 'restored in place: the live data is replaced'),
          el('li', {}, plan.safety_snapshot ? 'a safety snapshot of the live data is taken first (undo possible)' : 'no safety snapshot is taken'),
          plan.depends_on.length ? el('li', {}, `after: ${plan.depends_on.join(', ')}`) : null,
          el('li', {}, `hooks: ${plan.hooks.before} before, ${plan.hooks.after} after`),
          ...plan.artifacts.map((a) => el('li', { class: 'artifact' }, `${a.name}: ${bytes(a.size)}`)),
          plan.files ? el('li', {}, `${plan.files.count} files, ${bytes(plan.files.bytes)}`) : null),
        el('p', {}, status.restore_allowed ? 'Or run on the host (it asks for confirmation):' : 'To restore, run on the host (it asks for confirmation; restores from the dashboard are off: daemon.allow_restore):'),
        el('pre', { class: 'log', id: 'restore-command' }, plan.command),
        status.restore_allowed ? restoreBox(plan) : null);
    } catch (err) {
      planBox.replaceChildren(el('p', { class: 'error' }, err.message));
    } finally {
      button.disabled = false;
    }
  };
  return [
    el('h1', {}, `Snapshots of ${name}`),
    el('p', { class: 'muted' }, probed_at ? `as of the repository probe ${ago(probed_at)}` : 'the repository has not been read yet'),
    snapshots.length
      ? el('table', { id: 'snapshots' },
        el('thead', {}, el('tr', {}, ['Snapshot', 'Time', ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, snapshots.map((sn) => el('tr', { 'data-snapshot': sn.id },
          el('td', {}, el('code', {}, sn.id.slice(0, 8)), sn.safety ? el('div', { class: 'muted', title: 'taken before a restore replaced the live data' }, 'pre-restore (safety)') : null), el('td', {}, when(sn.time)),
          el('td', {}, el('button', { class: 'preview', onclick: (e) => preview(sn.id, e.currentTarget) }, 'Preview restore'))))))
      : el('p', { class: 'muted' }, 'No snapshots.'),
    planBox,
  ];
}

async function runDetail(id) {
  const { run } = await api(`runs/${id}`);
  currentRun = run.id;
  const lines = run.log ?? run.report?.log ?? [];
  return [
    el('h1', {}, `Run #${run.id}: ${run.job}`),
    el('p', {}, badge(run.status), ' ', run.trigger, run.attempt > 1 ? ` (attempt ${run.attempt})` : '', ' · started ', when(run.started_at),
      run.finished_at ? [' · took ', duration(run.duration_ms / 1000)] : '',
      run.bytes_read !== null && run.bytes_read !== undefined ? ` · read ${bytes(run.bytes_read)}, added ${bytes(run.bytes_added)}` : '',
      run.snapshot_id ? ` · snapshot ${run.snapshot_id.slice(0, 8)}` : ''),
    run.error ? el('p', { class: 'error', id: 'run-error' }, run.error) : null,
    el('div', { id: 'run-progress' }),
    el('h2', {}, 'Log'),
    el('pre', { class: 'log', id: 'run-log' }, lines.map((l) => `${l}\n`).join('')),
  ];
}

/** One line per source: the same numbers as the CLI's progress (docs/reports.md). */
function progressText(p) {
  return [`${p.source}: ${bytes(p.bytes)}`, p.percent !== undefined ? `${p.percent}%` : null, `${bytes(p.bytes_per_second)}/s`,
    p.bytes_added !== undefined ? `+${bytes(p.bytes_added)} added` : null, p.eta_seconds !== undefined ? `ETA ${duration(p.eta_seconds)}` : null].filter(Boolean).join(' · ');
}

function showProgress(p) {
  const box = document.getElementById('run-progress');
  if (!box) return;
  const text = progressText(p);
  const line = [...box.children].find((c) => c.dataset.source === p.source) ?? box.appendChild(el('div', { class: 'progress', 'data-source': p.source }));
  line.textContent = text;
}

async function render() {
  const hash = location.hash.replace(/^#\/?/, '');
  currentRun = undefined;
  try {
    const m = /^runs\/(\d+)$/.exec(hash);
    const src = /^sources\/(.+)$/.exec(hash);
    const page = m ? await runDetail(m[1]) : src ? await sourcePage(decodeURIComponent(src[1])) : hash === 'runs' ? await runs() : hash === 'checks' ? await checks() : hash === 'health' ? await health() : await overview();
    main.replaceChildren(...page.flat().filter(Boolean));
  } catch (err) {
    main.replaceChildren(el('p', { class: 'error' }, `Could not load this page: ${err.message}`));
  }
}

/** Redraws at most every 300 ms, so a burst of events costs one fetch round. */
let pending;
function rerender() {
  if (pending) return;
  pending = setTimeout(() => ((pending = undefined), render()), 300);
}

function onEvent(type, data) {
  if (onRestoreEvent(type, data)) return;
  if (type === 'run_log' && data.run_id === currentRun) {
    document.getElementById('run-log')?.append(`${data.line}\n`);
    return;
  }
  // A source's page holds a restore preview the reader is looking at: no redraw under them.
  if (type === 'run_log' || location.hash.startsWith('#/sources/')) return;
  if (type === 'run_progress') {
    if (data.run_id === currentRun) showProgress(data.progress);
    const row = document.querySelector(`.live-progress[data-source="${CSS.escape(data.progress.source)}"]`);
    if (row) row.textContent = progressText(data.progress);
    return;
  }
  rerender();
}

/** SSE over fetch (not EventSource) so the bearer token can go in a header. */
async function listen() {
  const live = document.getElementById('live');
  for (;;) {
    try {
      const res = await fetch('api/v1/events', { headers: headers(false) });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      live.classList.add('on');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) onEvent(type, JSON.parse(data));
        }
      }
    } catch {
      // The daemon restarted or the network dropped: show it, and reconnect below.
    }
    live.classList.remove('on');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

addEventListener('hashchange', render);
render();
listen();
