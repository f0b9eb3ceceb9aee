/* cnnstat history: draws the family tree that cnnstat/view/history.py serialized.
 *
 * The layout is cnnstat's (cnnstat/report/history.py, the same as the figure): one row per
 * architecture, x = its date on a time axis with empty years cut out. Every number and text was
 * formatted by cnnstat; this script draws, selects and fills the side panel. Text goes in as
 * textContent only.
 */
(function () {
  'use strict';
  const DATA = JSON.parse(document.getElementById('cnnstat-data').textContent);
  const PX_PER_YEAR = 96, ROW = 36, LEFT = 24, TOP = 40, BOTTOM = 24, RIGHT = 24;
  const $ = id => document.getElementById(id);
  const A = DATA.architectures, S = DATA.steps;
  const byName = new Map(A.map((a, i) => [a.name, i]));
  const X = x => LEFT + x * PX_PER_YEAR;
  const Y = row => TOP + row * ROW;

  const { el, h } = cnnstatDom;        // dom.js
  function tint(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  // -- header ------------------------------------------------------------------------------------
  $('title').textContent = DATA.title;
  DATA.summary.forEach(([label, value]) => {
    const d = h('div');
    d.appendChild(h('dt', null, label));
    d.appendChild(h('dd', null, value));
    $('totals').appendChild(d);
  });
  $('convention').textContent = DATA.convention;

  // -- the tree ----------------------------------------------------------------------------------
  const svg = $('tree');
  const axis = $('axis'), stepsG = $('steps'), nodesG = $('nodes');
  const rows = A.length;
  const bottom = Y(rows - 1) + BOTTOM;
  DATA.axis.year_starts.forEach(x => {
    el('line', { x1: X(x), x2: X(x), y1: TOP - 22, y2: bottom }, axis);
  });
  DATA.axis.breaks.forEach(x => {
    const w = DATA.axis.break_width * PX_PER_YEAR;
    el('rect', { class: 'cut', x: X(x) - w / 2, y: TOP - 22, width: w, height: bottom - TOP + 22 },
       axis);
  });
  DATA.axis.ticks.forEach(([x, year]) => {
    el('text', { x: X(x), y: TOP - 26 }, axis).textContent = String(year);
  });

  const stepEls = S.map((s, i) => {
    const p = A[byName.get(s.from)], c = A[byName.get(s.to)];
    const x1 = X(p.x), y1 = Y(p.row), x2 = X(c.x), y2 = Y(c.row);
    let d;
    if (s.primary) {
      d = `M${x1},${y1 + 7} L${x1},${y2} L${x2 - 7},${y2}`;
    } else {
      const mx = (x1 + x2) / 2 + (y2 - y1) * 0.12;
      d = `M${x1},${y1} Q${mx},${(y1 + y2) / 2} ${x2},${y2 - 8}`;
    }
    const g = el('g', {}, stepsG);
    const path = el('path', { d, class: 'step' + (s.primary ? '' : ' also') }, g);
    if (!s.primary) path.setAttribute('marker-end', 'url(#arrow)');
    const hit = el('path', { d, class: 'step-hit' }, g);
    el('title', {}, hit).textContent = `${s.from} → ${s.to}: ${s.idea} (${s.source.short})`;
    return path;
  });

  let right = 0;
  const archEls = A.map((a, i) => {
    const g = el('g', { class: 'arch', tabindex: '0', role: 'button' }, nodesG);
    const x = X(a.x), y = Y(a.row);
    el('circle', { cx: x, cy: y, r: 6, fill: a.color, stroke: '#222', 'stroke-width': 0.8 }, g);
    const box = el('rect', { fill: tint(a.color, 0.16), stroke: a.color }, g);
    const name = el('text', { class: 'name', x: x + 14, y: y + 4.5 }, g);
    name.textContent = a.name;
    const bb = name.getBBox();
    box.setAttribute('x', bb.x - 5);
    box.setAttribute('y', bb.y - 3);
    box.setAttribute('width', bb.width + 10);
    box.setAttribute('height', bb.height + 6);
    const idea = el('text', { class: 'idea', x: bb.x + bb.width + 12, y: y + 4.5 }, g);
    idea.textContent = a.year + (a.idea ? ' · ' + a.idea : '');
    right = Math.max(right, idea.getBBox().x + idea.getBBox().width);
    g.addEventListener('click', ev => { ev.stopPropagation(); select(i); });
    g.addEventListener('keydown', ev => { if (ev.key === 'Enter') select(i); });
    return g;
  });
  svg.setAttribute('width', Math.max(right, X(DATA.axis.width)) + RIGHT);
  svg.setAttribute('height', bottom + 8);
  svg.addEventListener('click', () => select(null));
  document.addEventListener('keydown', ev => { if (ev.key === 'Escape') select(null); });

  // -- lineage -----------------------------------------------------------------------------------
  function lineage(i) {
    const name = A[i].name, up = new Set([name]), down = new Set([name]);
    let grew = true;
    while (grew) {
      grew = false;
      S.forEach(s => {
        if (up.has(s.to) && !up.has(s.from)) { up.add(s.from); grew = true; }
        if (down.has(s.from) && !down.has(s.to)) { down.add(s.to); grew = true; }
      });
    }
    return { up, down };
  }

  function select(i) {
    archEls.forEach(g => g.classList.remove('selected', 'dim'));
    stepEls.forEach(p => {
      p.classList.remove('hot', 'dim');
      if (p.classList.contains('also')) p.setAttribute('marker-end', 'url(#arrow)');
    });
    if (i === null) { intro(); return; }
    const { up, down } = lineage(i);
    const near = new Set([...up, ...down]);
    archEls.forEach((g, j) => {
      if (j === i) g.classList.add('selected');
      else if (!near.has(A[j].name)) g.classList.add('dim');
    });
    S.forEach((s, k) => {
      const onPath = (up.has(s.from) && up.has(s.to)) || (down.has(s.from) && down.has(s.to));
      stepEls[k].classList.add(onPath ? 'hot' : 'dim');
      if (onPath && !s.primary) stepEls[k].setAttribute('marker-end', 'url(#arrow-hot)');
    });
    panelFor(A[i]);
  }

  // -- the panel ---------------------------------------------------------------------------------
  const panel = $('panel');
  function section(title) {
    panel.appendChild(h('h3', null, title));
  }
  function cite(src) {
    const span = h('span', { class: 'cite' });
    span.appendChild(document.createTextNode(src.cite));
    if (src.url) {
      span.appendChild(document.createTextNode(' '));
      span.appendChild(h('a', { class: 'ext', href: src.url, target: '_blank',
                                rel: 'noopener noreferrer' }, 'link'));
    }
    return span;
  }
  function archLink(name) {
    const a = h('a', { class: 'ext', href: '#' }, name);
    a.addEventListener('click', ev => { ev.preventDefault(); select(byName.get(name)); });
    return a;
  }
  function stepList(steps, other) {
    const ul = h('ul', { class: 'steps' });
    steps.forEach(s => {
      const li = h('li');
      li.appendChild(archLink(s[other]));
      li.appendChild(document.createTextNode(s.primary ? ': ' : ' (also): '));
      li.appendChild(h('span', { class: 'idea' }, s.idea));
      if (s.detail) li.appendChild(h('div', null, s.detail));
      const c = h('div', { class: 'cite' }, s.source.short);
      if (s.origin) c.textContent += '; the idea first in ' + s.origin.short;
      li.appendChild(c);
      ul.appendChild(li);
    });
    return ul;
  }

  function intro() {
    panel.textContent = '';
    panel.appendChild(h('h2', null, DATA.title));
    panel.appendChild(h('div', { id: 'intro' }, DATA.intro));
    section('zoo families');
    const fam = h('div', { class: 'families' });
    DATA.families.forEach(f => {
      const d = h('div');
      d.appendChild(h('span', { class: 'swatch', style: 'background:' + f.color }));
      d.appendChild(document.createTextNode(f.name));
      fam.appendChild(d);
    });
    panel.appendChild(fam);
    panel.appendChild(h('div', { class: 'note' }, DATA.note));
  }

  function panelFor(a) {
    panel.textContent = '';
    panel.appendChild(h('h2', null, a.name));
    const kind = h('div', { class: 'kind' });
    kind.appendChild(h('span', { class: 'swatch', style: 'background:' + a.color }));
    kind.appendChild(document.createTextNode(`${a.family} family · ${a.date_text}`));
    panel.appendChild(kind);
    section('paper');
    panel.appendChild(cite(a.source));
    const into = S.filter(s => s.to === a.name), from = S.filter(s => s.from === a.name);
    if (into.length) { section('built on'); panel.appendChild(stepList(into, 'from')); }
    if (from.length) { section('led to'); panel.appendChild(stepList(from, 'to')); }
    section(`zoo models (${a.models.length})`);
    const table = h('table', { class: 'models' });
    const head = h('tr');
    ['model', 'params', 'MACs', 'top-1'].forEach(t => head.appendChild(h('th', null, t)));
    table.appendChild(head);
    a.models.forEach(m => {
      const tr = h('tr', m.headline ? { class: 'headline' } : null);
      tr.appendChild(h('td', null, m.name));
      [m.params, m.macs, m.top1].forEach(v => tr.appendChild(h('td', { class: 'num' }, v)));
      table.appendChild(tr);
    });
    panel.appendChild(table);
    panel.appendChild(h('div', { class: 'note' }, DATA.note));
  }

  intro();
  document.body.dataset.ready = '1';
})();
