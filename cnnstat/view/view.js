/* cnnstat view: draws the layer graph that cnnstat/view/data.py serialized.
 *
 * Every number in the panel and the totals was formatted by cnnstat (Python) exactly as its tables
 * print it; this script only decides what is visible (collapsed blocks), lays it out with dagre
 * (Sugiyama-style layered layout, top to bottom), colours nodes by a metric, and navigates.
 *
 * Visible items: a layer whose enclosing blocks are all expanded is drawn as itself; otherwise as
 * its outermost collapsed block. An expanded block whose ancestors are expanded is drawn as a
 * cluster box around its items. Edges join the visible items of each layer's inputs and the layer.
 * Layouts are cached per set of collapsed blocks: each state is laid out once.
 */
(function () {
  'use strict';
  const DATA = JSON.parse(document.getElementById('cnnstat-data').textContent);
  const N = DATA.nodes, G = DATA.groups;
  const METRIC_INDEX = {};
  DATA.metrics.forEach((m, i) => { METRIC_INDEX[m[0]] = i; });

  // Ancestor chains, outermost first: chain of a layer = its enclosing blocks; of a block = its
  // enclosing blocks (without itself).
  function chainOf(g) {
    const out = [];
    while (g !== null && g !== undefined) { out.unshift(g); g = G[g].parent; }
    return out;
  }
  N.forEach(n => { n.chain = chainOf(n.group); });
  G.forEach(g => { g.chain = chainOf(g.parent); g.children = []; });
  G.forEach((g, j) => { if (g.parent !== null) G[g.parent].children.push(j); });

  const S = {
    collapsed: new Set(DATA.collapsed),
    selected: null,          // 'n<i>' (a layer or input) or 'g<j>' (a block)
    metric: DATA.metric,
    layouts: new Map(),      // collapsed-set key → laid-out view
    view: null,
    t: { x: 0, y: 0, k: 1 },
    unitMode: 'corner',      // which output unit the receptive-field drawing shows
    unitPick: null,          // [row fraction, col fraction] picked by a click
    lastLayoutMs: 0,
  };

  const $ = id => document.getElementById(id);
  const svg = $('graph'), viewport = $('viewport');

  const { el, h } = cnnstatDom;        // dom.js
  const entity = key => key[0] === 'g' ? G[+key.slice(1)] : N[+key.slice(1)];
  const nameOf = key => key[0] === 'g' ? G[+key.slice(1)].path : N[+key.slice(1)].name;

  // ---------------------------------------------------------------------------------------------
  // What is visible
  // ---------------------------------------------------------------------------------------------
  function rep(i) {
    for (const g of N[i].chain) if (S.collapsed.has(g)) return 'g' + g;
    return 'n' + i;
  }

  function computeView() {
    const items = new Map();     // key → {key, parent: cluster key or null}
    const clusters = new Map();  // 'c<j>' → {j, parent}
    const addClusters = chain => {
      chain.forEach((j, d) => {
        const key = 'c' + j;
        if (!clusters.has(key)) clusters.set(key, { j, parent: d ? 'c' + chain[d - 1] : null });
      });
    };
    N.forEach((n, i) => {
      const key = rep(i);
      if (items.has(key)) return;
      let chain;
      if (key[0] === 'n') chain = n.chain;
      else chain = G[+key.slice(1)].chain;
      addClusters(chain);
      items.set(key, { key, parent: chain.length ? 'c' + chain[chain.length - 1] : null });
    });
    const edges = new Map();
    N.forEach((n, i) => {
      const b = rep(i);
      n.in.forEach(s => {
        const a = rep(s);
        if (a !== b && !edges.has(a + '>' + b)) edges.set(a + '>' + b, { a, b });
      });
    });
    return { items, clusters, edges };
  }

  // ---------------------------------------------------------------------------------------------
  // Node labels and sizes
  // ---------------------------------------------------------------------------------------------
  const measureCtx = document.createElement('canvas').getContext('2d');
  const FONT = getComputedStyle(document.documentElement).fontFamily;
  function textWidth(text, weight, size) {
    measureCtx.font = `${weight} ${size}px ${FONT}`;
    return measureCtx.measureText(text).width;
  }

  // The text, cut with an ellipsis to fit a width in pixels.
  function fitText(text, width, weight, size) {
    if (textWidth(text, weight, size) <= width) return text;
    let n = text.length;
    while (n > 1 && textWidth(text.slice(0, n) + '…', weight, size) > width) n--;
    return text.slice(0, n) + '…';
  }

  // An item's name inside its block's box: relative to the block (cnnstat computed it); at the
  // top level, the full name.
  function shortName(ent, parentKey) {
    return parentKey ? ent.short : (ent.path || ent.name);
  }

  // Two lines: [name ·] operator, then the output shape (without the batch dimension).
  function labelsFor(item) {
    if (item.key[0] === 'g') {
      const g = entity(item.key);
      return { name: shortName(g, item.parent), op: g.label === 'group' ? 'block' : g.label,
               l2: `${g.shape}   ·   ${g.n} layers` };
    }
    const n = entity(item.key);
    if (n.kind === 'input') return { name: '', op: n.name === 'input' ? 'input' : 'input ' + n.name, l2: n.shape };
    const short = shortName(n, item.parent);
    const last = short.split('.').pop();
    const name = (last === n.op || last === n.label) ? '' : short;
    return { name, op: n.label, l2: n.shape };
  }

  // The box around the two lines, at most MAX_TEXT wide: longer texts are cut with an ellipsis
  // (the full name is in the tooltip and the panel).
  const MAX_TEXT = 320;
  function sizeFor(item, labels) {
    const sep = labels.name ? textWidth(' · ', 400, 12) : 0;
    let w1 = textWidth(labels.name, 400, 12) + sep + textWidth(labels.op, 600, 12);
    if (w1 > MAX_TEXT && labels.name) {
      labels.name = fitText(labels.name, Math.max(60, MAX_TEXT - sep - textWidth(labels.op, 600, 12)), 400, 12);
      w1 = textWidth(labels.name, 400, 12) + sep + textWidth(labels.op, 600, 12);
    }
    if (w1 > MAX_TEXT) {
      labels.op = fitText(labels.op, MAX_TEXT - sep - textWidth(labels.name, 400, 12), 600, 12);
      w1 = MAX_TEXT;
    }
    labels.l2 = fitText(labels.l2, MAX_TEXT, 400, 11.5);
    const w2 = textWidth(labels.l2, 400, 11.5);
    const extra = item.key[0] === 'g' ? 26 : 0;   // room for the expand button
    return { width: Math.ceil(Math.max(96, Math.max(w1, w2) + 20 + extra)), height: BOX_H };
  }

  // ---------------------------------------------------------------------------------------------
  // Layout (dagre), cached per collapsed set
  // ---------------------------------------------------------------------------------------------
  function stateKey() { return [...S.collapsed].sort((a, b) => a - b).join(','); }

  // Clusters are drawn around their items after a flat layout (dagre's compound layout drifts
  // nested clusters into a staircase and is several times slower). Room for them is reserved in
  // the items themselves: per enclosing cluster level, a label row above the items that start a
  // cluster, a margin above the items that follow one, and a margin at both sides. Ranks align
  // at the bottom so the visible boxes of one rank line up whatever room sits above them.
  const ROW = 20, GAP = 10, SIDE = 10, BOX_H = 38;

  function layout() {
    const key = stateKey();
    if (S.layouts.has(key)) return S.layouts.get(key);
    const t0 = performance.now();
    const v = computeView();
    const clustersOf = parent => { const out = []; for (let p = parent; p; p = v.clusters.get(p).parent) out.unshift(p); return out; };
    v.items.forEach(it => { it.in = clustersOf(it.parent); it.preds = []; });
    v.edges.forEach(e => v.items.get(e.b).preds.push(v.items.get(e.a)));
    const g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: 'TB', nodesep: 20, ranksep: 26, edgesep: 10, marginx: 30, marginy: 20,
                 rankalign: 'bottom' });
    g.setDefaultEdgeLabel(() => ({}));
    v.items.forEach((it, k) => {
      it.labels = labelsFor(it);
      const size = sizeFor(it, it.labels);
      it.width = size.width; it.height = BOX_H;
      // clusters this item starts (no item of the cluster feeds it) and clusters it follows
      const starts = it.in.filter(c => !it.preds.some(p => p.in.includes(c))).length;
      const left = new Set();
      it.preds.forEach(p => p.in.forEach(c => { if (!it.in.includes(c)) left.add(c); }));
      it.top = starts * ROW + left.size * GAP;
      g.setNode(k, { width: it.width + 2 * SIDE * it.in.length, height: BOX_H + it.top });
    });
    // Edges in reverse: dagre's first ordering pass then keeps parallel paths in the order the
    // definition lists them (Inception's branches 1..4 left to right).
    [...v.edges.values()].reverse().forEach(e => g.setEdge(e.a, e.b));
    dagre.layout(g);
    v.items.forEach((it, k) => { const p = g.node(k); it.x = p.x; it.y = p.y + p.height / 2 - BOX_H / 2; });
    // Edges end on the visible boxes, not on the reserved room.
    const clampX = (x, it) => Math.max(it.x - it.width / 2 + 6, Math.min(it.x + it.width / 2 - 6, x));
    v.edges.forEach(e => {
      const pts = g.edge(e.a, e.b).points.map(p => ({ x: p.x, y: p.y }));
      const a = v.items.get(e.a), b = v.items.get(e.b);
      const first = pts[0], last = pts[pts.length - 1];
      first.x = clampX(first.x, a); first.y = a.y + BOX_H / 2;
      last.x = clampX(last.x, b); last.y = b.y - BOX_H / 2;
      e.points = pts;
    });
    // Cluster boxes, innermost first: around their items and inner clusters, with a label row.
    const order = [...v.clusters.entries()].sort((p, q) => G[q[1].j].level - G[p[1].j].level);
    const box = new Map();
    const grow = (b, x0, y0, x1, y1) => { b.x0 = Math.min(b.x0, x0); b.y0 = Math.min(b.y0, y0); b.x1 = Math.max(b.x1, x1); b.y1 = Math.max(b.y1, y1); };
    order.forEach(([ck]) => box.set(ck, { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity }));
    v.items.forEach(it => {
      if (!it.parent) return;
      grow(box.get(it.parent), it.x - it.width / 2, it.y - BOX_H / 2, it.x + it.width / 2, it.y + BOX_H / 2);
    });
    order.forEach(([ck, c]) => {
      const b = box.get(ck);
      b.x0 -= SIDE; b.x1 += SIDE; b.y0 -= ROW; b.y1 += GAP - 4;
      c.x = (b.x0 + b.x1) / 2; c.y = (b.y0 + b.y1) / 2; c.width = b.x1 - b.x0; c.height = b.y1 - b.y0;
      if (c.parent) grow(box.get(c.parent), b.x0, b.y0, b.x1, b.y1);
    });
    v.width = g.graph().width; v.height = g.graph().height;
    S.lastLayoutMs = performance.now() - t0;
    S.layouts.set(key, v);
    return v;
  }

  // A smooth path through dagre's edge points (uniform cubic B-spline, as d3.curveBasis).
  function basis(points) {
    if (points.length < 3) return 'M' + points.map(p => `${p.x},${p.y}`).join('L');
    let d = `M${points[0].x},${points[0].y}`;
    const p = points;
    d += `L${(5 * p[0].x + p[1].x) / 6},${(5 * p[0].y + p[1].y) / 6}`;
    for (let i = 1; i < p.length - 1; i++) {
      const a = p[i - 1], b = p[i], c = p[i + 1];
      d += `C${(2 * a.x + b.x) / 3},${(2 * a.y + b.y) / 3} ${(a.x + 2 * b.x) / 3},${(a.y + 2 * b.y) / 3} `
         + `${(a.x + 4 * b.x + c.x) / 6},${(a.y + 4 * b.y + c.y) / 6}`;
    }
    const a = p[p.length - 2], b = p[p.length - 1];
    d += `C${(2 * a.x + b.x) / 3},${(2 * a.y + b.y) / 3} ${(a.x + 2 * b.x) / 3},${(a.y + 2 * b.y) / 3} ${b.x},${b.y}`;
    return d;
  }

  // ---------------------------------------------------------------------------------------------
  // Colour by metric: a log scale over the visible items (values span orders of magnitude).
  // Zero is grey ("does no such work"); a receptive field over the whole input has its own colour.
  // ---------------------------------------------------------------------------------------------
  const RAMP = ['#ffffcc', '#ffeda0', '#fed976', '#feb24c', '#fd8d3c', '#fc4e2a', '#e31a1c', '#b10026'];
  const ZERO = '#eef0f3', WHOLE = '#54278f', NONE = '#ffffff';
  function rampColor(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
    const a = RAMP[i], b = RAMP[i + 1];
    const c = k => Math.round(parseInt(a.substr(k, 2), 16) * (1 - f) + parseInt(b.substr(k, 2), 16) * f);
    return `rgb(${c(1)},${c(3)},${c(5)})`;
  }
  function metricValue(key) {
    if (S.metric === 'none') return 0;
    return entity(key).m[METRIC_INDEX[S.metric]];
  }
  function scaleFor(v) {
    let lo = Infinity, hi = -Infinity;
    v.items.forEach((it, k) => {
      const x = metricValue(k);
      if (x !== null && x > 0) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    });
    return { lo, hi };
  }
  function colorFor(key, sc) {
    if (S.metric === 'none') return { fill: NONE, dark: false };
    const x = metricValue(key);
    if (x === null) return { fill: WHOLE, dark: true };
    if (!(x > 0)) return { fill: ZERO, dark: false };
    const t = sc.hi > sc.lo ? (Math.log(x) - Math.log(sc.lo)) / (Math.log(sc.hi) - Math.log(sc.lo)) : 1;
    return { fill: rampColor(t), dark: t > 0.72 };
  }

  // Human-readable legend ends, as cnnstat prints counts (decimal prefixes) and memory (binary).
  function human(n, unit) {
    if (unit === 'bytes') {
      for (const [s, p] of [[2 ** 40, 'TiB'], [2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']])
        if (n >= s) return (n / s).toFixed(2) + ' ' + p;
      return n + ' B';
    }
    if (unit === 'px') return Math.round(n * 100) / 100 + ' px';
    for (const [s, p] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']])
      if (Math.abs(n) >= s) return (n / s).toFixed(2) + ' ' + p + unit;
    return (n + ' ' + unit).trim();
  }

  function drawLegend(sc) {
    const box = $('legend');
    box.textContent = '';
    if (S.metric === 'none') { box.appendChild(h('div', null, 'no colouring')); return; }
    const m = DATA.metrics[METRIC_INDEX[S.metric]];
    box.appendChild(h('div', null, `colour: ${m[1]} per node (log scale over the nodes drawn)`));
    if (sc.lo <= sc.hi) {
      const bar = h('div', { class: 'bar' });
      bar.style.background = `linear-gradient(to right, ${RAMP.join(', ')})`;
      box.appendChild(bar);
      const ends = h('div', { class: 'ends' });
      ends.appendChild(h('span', null, human(sc.lo, m[2])));
      ends.appendChild(h('span', null, human(sc.hi, m[2])));
      box.appendChild(ends);
    }
    const sw = h('div');
    const z = h('span', { class: 'swatch' }); z.style.background = ZERO;
    sw.appendChild(z); sw.appendChild(document.createTextNode(S.metric === 'rf' ? 'n/a' : '0'));
    sw.firstChild.style.marginLeft = '0';
    if (S.metric === 'rf') {
      const w = h('span', { class: 'swatch' }); w.style.background = WHOLE;
      sw.appendChild(w); sw.appendChild(document.createTextNode('whole input'));
    }
    box.appendChild(sw);
    box.appendChild(h('div', { class: 'hint' }, S.metric === 'rf'
      ? 'a block shows the field of its output'
      : 'a block counts the sum of its layers' + (S.metric === 'macs' ? '; MACs as counted above' : '')));
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering
  // ---------------------------------------------------------------------------------------------
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function render() {
    const v = layout();
    S.view = v;
    const gc = $('clusters'), ge = $('edges'), gn = $('nodes');
    clear(gc); clear(ge); clear(gn);
    // Clusters, outermost first so inner boxes draw on top.
    const order = [...v.clusters.entries()].sort((a, b) => G[a[1].j].level - G[b[1].j].level);
    order.forEach(([ck, c]) => {
      const g = G[c.j];
      const grp = el('g', { class: 'cluster', 'data-path': g.path, 'data-key': 'g' + c.j }, gc);
      el('rect', { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height }, grp);
      const tx = c.x - c.width / 2 + 24, ty = c.y - c.height / 2 + 14;
      const tog = el('g', { class: 'toggle', 'data-action': 'collapse' }, grp);
      el('rect', { x: tx - 20, y: ty - 10, width: 14, height: 14 }, tog);
      el('text', { x: tx - 13, y: ty + 1.5 }, tog).textContent = '−';
      el('title', {}, tog).textContent = 'collapse this block';
      const label = el('text', { x: tx, y: ty }, grp);
      const text = shortName(g, c.parent) + (g.label === 'group' ? '' : ` · ${g.label}`);
      label.textContent = fitText(text, c.width - 34, 400, 11);
      el('title', {}, grp).textContent = `${g.path} · ${g.label} (${g.n} layers) — click to select, − to collapse`;
    });
    v.edges.forEach(e => {
      el('path', { class: 'edge', d: basis(e.points), 'marker-end': 'url(#arrow)',
                   'data-a': e.a, 'data-b': e.b }, ge);
    });
    v.items.forEach((it, k) => {
      const ent = entity(k);
      const isBlock = k[0] === 'g';
      const cls = 'node ' + (isBlock ? 'block' : ent.kind);
      const grp = el('g', { class: cls, 'data-key': k, 'data-name': nameOf(k),
                            transform: `translate(${it.x - it.width / 2},${it.y - it.height / 2})` }, gn);
      if (isBlock) el('rect', { class: 'shadow', x: 3, y: 3, width: it.width, height: it.height }, grp);
      el('rect', { class: 'box', width: it.width, height: it.height }, grp);
      const t1 = el('text', { class: 'l1', x: 9, y: 15 }, grp);
      if (it.labels.name) {
        const s = el('tspan', { class: 'nm' }, t1);
        s.textContent = it.labels.name + ' · ';
      }
      const s2 = el('tspan', {}, t1); s2.textContent = it.labels.op;
      el('text', { class: 'l2', x: 9, y: 31 }, grp).textContent = it.labels.l2;
      if (isBlock) {
        const tog = el('g', { class: 'toggle', 'data-action': 'expand' }, grp);
        el('rect', { x: it.width - 22, y: 11, width: 16, height: 16 }, tog);
        el('text', { x: it.width - 14, y: 24 }, tog).textContent = '+';
        el('title', {}, tog).textContent = 'expand this block';
      }
      const title = isBlock ? `${ent.path} · ${ent.label} (${ent.n} layers) → ${ent.shape}`
                            : `${ent.name}: ${ent.label} → ${ent.shape}`;
      el('title', {}, grp).textContent = title;
    });
    recolor();
    highlight();
    document.body.dataset.nodes = String(v.items.size);
    document.body.dataset.ready = '1';
  }

  function recolor() {
    const v = S.view;
    const sc = scaleFor(v);
    $('nodes').querySelectorAll('g.node').forEach(grp => {
      const c = colorFor(grp.dataset.key, sc);
      grp.querySelector('rect.box').setAttribute('fill', c.fill);
      grp.querySelectorAll('text').forEach(t => t.setAttribute('fill', c.dark ? '#ffffff' : '#1d2330'));
    });
    drawLegend(sc);
  }

  // The visible item that shows an entity: itself, its box (an expanded block), or the collapsed
  // block that hides it.
  function visibleKeyOf(key) {
    const v = S.view;
    if (v.items.has(key)) return key;
    if (key[0] === 'g' && v.clusters.has('c' + key.slice(1))) return 'c' + key.slice(1);
    const chain = key[0] === 'g' ? G[+key.slice(1)].chain : N[+key.slice(1)].chain;
    const hidden = chain.find(j => S.collapsed.has(j));
    return hidden !== undefined && v.items.has('g' + hidden) ? 'g' + hidden : null;
  }

  function highlight() {
    document.querySelectorAll('.selected').forEach(e => e.classList.remove('selected'));
    document.querySelectorAll('.edge.hot').forEach(e => {
      e.classList.remove('hot'); e.setAttribute('marker-end', 'url(#arrow)');
    });
    if (!S.selected) return;
    const vk = visibleKeyOf(S.selected);
    if (!vk) return;
    if (vk[0] === 'c') {
      const c = $('clusters').querySelector(`g.cluster[data-key="${S.selected}"]`);
      if (c) c.classList.add('selected');
      return;
    }
    const node = $('nodes').querySelector(`g.node[data-key="${vk}"]`);
    if (node) node.classList.add('selected');
    $('edges').querySelectorAll('path.edge').forEach(p => {
      if (p.dataset.a === vk || p.dataset.b === vk) {
        p.classList.add('hot'); p.setAttribute('marker-end', 'url(#arrow-hot)');
        p.parentNode.appendChild(p);   // on top
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Pan and zoom
  // ---------------------------------------------------------------------------------------------
  function applyTransform() {
    viewport.setAttribute('transform', `translate(${S.t.x},${S.t.y}) scale(${S.t.k})`);
  }
  function zoomAt(factor, cx, cy) {
    const k = Math.max(0.03, Math.min(4, S.t.k * factor));
    S.t.x = cx - (cx - S.t.x) * (k / S.t.k);
    S.t.y = cy - (cy - S.t.y) * (k / S.t.k);
    S.t.k = k;
    applyTransform();
  }
  function fit() {
    const r = svg.getBoundingClientRect(), v = S.view;
    const k = Math.min(1.5, (r.width - 20) / v.width, (r.height - 20) / v.height);
    S.t = { k, x: (r.width - v.width * k) / 2, y: Math.max(0, (r.height - v.height * k) / 2) };
    applyTransform();
  }
  // Initial view: all of it when it fits; else the top, at a readable scale, centred on the input.
  function home() {
    const r = svg.getBoundingClientRect(), v = S.view;
    if (v.width <= r.width && v.height <= r.height) {
      S.t = { k: 1, x: (r.width - v.width) / 2, y: (r.height - v.height) / 2 };
    } else {
      const k = Math.max(0.5, Math.min(1, (r.width - 20) / v.width));
      const first = v.items.get('n0');
      const cx = v.width * k <= r.width ? v.width / 2 : (first ? first.x : v.width / 2);
      S.t = { k, x: r.width / 2 - cx * k, y: 0 };
    }
    applyTransform();
  }
  function position(key) {   // graph coordinates of an entity's visible item
    const vk = visibleKeyOf(key);
    if (!vk) return null;
    const it = vk[0] === 'c' ? S.view.clusters.get(vk) : S.view.items.get(vk);
    return { x: it.x, y: it.y, width: it.width, height: it.height };
  }
  function centerOn(key) {
    const p = position(key);
    if (!p) return;
    const r = svg.getBoundingClientRect();
    const y = p.height * S.t.k > r.height ? p.y - p.height / 2 + r.height / 2 / S.t.k - 20 : p.y;
    S.t.x = r.width / 2 - p.x * S.t.k;
    S.t.y = r.height / 2 - y * S.t.k;
    applyTransform();
  }

  let drag = null;
  svg.addEventListener('pointerdown', ev => {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, tx: S.t.x, ty: S.t.y, moved: false };
  });
  window.addEventListener('pointermove', ev => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    svg.classList.add('panning');
    S.t.x = drag.tx + dx; S.t.y = drag.ty + dy;
    applyTransform();
  });
  window.addEventListener('pointerup', () => {
    svg.classList.remove('panning');
    setTimeout(() => { drag = null; }, 0);
  });
  // Wheel scrolls the graph like a long page; Ctrl (trackpad pinch), Alt or Cmd + wheel zooms.
  svg.addEventListener('wheel', ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    if (ev.ctrlKey || ev.altKey || ev.metaKey) {
      zoomAt(Math.exp(-ev.deltaY * (ev.ctrlKey ? 0.01 : 0.0015)), ev.clientX - r.left, ev.clientY - r.top);
    } else {
      S.t.x -= ev.shiftKey ? ev.deltaY : ev.deltaX;
      S.t.y -= ev.shiftKey ? 0 : ev.deltaY;
      applyTransform();
    }
  }, { passive: false });

  // ---------------------------------------------------------------------------------------------
  // Expand, collapse, select
  // ---------------------------------------------------------------------------------------------
  function busy(fn) {
    // Large layouts take a moment: show a note first, lay out on the next frame.
    const key = stateKey();
    if (S.layouts.has(key)) { fn(); return; }
    $('busy').hidden = false;
    requestAnimationFrame(() => setTimeout(() => { try { fn(); } finally { $('busy').hidden = true; } }, 0));
  }

  // Change the collapsed set, keeping the entity `anchor` where it is on screen.
  function relayout(change, anchor) {
    const before = anchor ? position(anchor) : null;
    change();
    busy(() => {
      render();
      const after = anchor ? position(anchor) : null;
      if (before && after) {
        S.t.x += (before.x - before.width / 2 - (after.x - after.width / 2)) * S.t.k;
        S.t.y += (before.y - before.height / 2 - (after.y - after.height / 2)) * S.t.k;
        applyTransform();
      }
      showPanel();
    });
  }

  function toggleBlock(j, expand) {
    relayout(() => { if (expand) S.collapsed.delete(j); else S.collapsed.add(j); }, 'g' + j);
  }

  // Expand whatever hides an entity, select it and bring it into view.
  function reveal(key) {
    const chain = key[0] === 'g' ? G[+key.slice(1)].chain : N[+key.slice(1)].chain;
    const hidden = chain.filter(j => S.collapsed.has(j));
    S.selected = key;
    S.unitPick = null;
    const done = () => { highlight(); centerOn(key); showPanel(); };
    if (hidden.length) {
      hidden.forEach(j => S.collapsed.delete(j));
      busy(() => { render(); done(); });
    } else done();
  }

  function select(key) {
    S.selected = key;
    S.unitPick = null;
    highlight();
    showPanel();
  }

  $('nodes').addEventListener('click', ev => {
    if (drag && drag.moved) return;
    const grp = ev.target.closest('g.node');
    if (!grp) return;
    const key = grp.dataset.key;
    if (ev.target.closest('.toggle')) { toggleBlock(+key.slice(1), true); return; }
    select(key);
  });
  $('nodes').addEventListener('dblclick', ev => {
    const grp = ev.target.closest('g.node');
    if (grp && grp.dataset.key[0] === 'g') toggleBlock(+grp.dataset.key.slice(1), true);
  });
  $('clusters').addEventListener('click', ev => {
    if (drag && drag.moved) return;
    const grp = ev.target.closest('g.cluster');
    if (!grp) return;
    if (ev.target.closest('.toggle')) { toggleBlock(+grp.dataset.key.slice(1), false); return; }
    if (ev.target.tagName === 'text' || ev.target.tagName === 'rect') select(grp.dataset.key);
  });
  svg.addEventListener('click', ev => {
    if (drag && drag.moved) return;
    if (ev.target === svg) { S.selected = null; highlight(); showPanel(); }
  });

  // Every layer at once is a long layout for the largest models; past this many, expand blocks
  // one by one (or a level at a time) instead.
  const EXPAND_ALL_LIMIT = 1500;
  if (N.length > EXPAND_ALL_LIMIT) {
    $('expand-all').disabled = true;
    $('expand-all').title = `${N.length} layers are too many to draw at once: expand blocks one by one, or a level at a time`;
  }
  $('expand-all').addEventListener('click', () => relayout(() => S.collapsed.clear(), S.selected));
  // One level: expand every block that is drawn collapsed now.
  $('expand-level').addEventListener('click', () => relayout(() => {
    [...S.view.items.keys()].filter(k => k[0] === 'g').forEach(k => S.collapsed.delete(+k.slice(1)));
  }, S.selected));
  $('collapse-all').addEventListener('click', () => {
    relayout(() => { G.forEach((g, j) => S.collapsed.add(j)); }, null);
    requestAnimationFrame(() => home());
  });
  $('reset').addEventListener('click', () => {
    S.collapsed = new Set(DATA.collapsed); S.selected = null; S.metric = DATA.metric;
    $('metric').value = S.metric;
    busy(() => { render(); home(); showPanel(); });
  });
  $('fit').addEventListener('click', fit);
  $('zoom-in').addEventListener('click', () => { const r = svg.getBoundingClientRect(); zoomAt(1.25, r.width / 2, r.height / 2); });
  $('zoom-out').addEventListener('click', () => { const r = svg.getBoundingClientRect(); zoomAt(0.8, r.width / 2, r.height / 2); });

  const metricSel = $('metric');
  DATA.metrics.forEach(m => metricSel.appendChild(h('option', { value: m[0] }, m[1])));
  metricSel.appendChild(h('option', { value: 'none' }, 'nothing'));
  metricSel.value = S.metric;
  metricSel.addEventListener('change', () => { S.metric = metricSel.value; recolor(); });

  // ---------------------------------------------------------------------------------------------
  // Search by layer name
  // ---------------------------------------------------------------------------------------------
  const search = $('search'), results = $('results');
  const INDEX = N.map((n, i) => ({ key: 'n' + i, name: n.name, low: n.name.toLowerCase(), what: n.label }))
    .concat(G.map((g, j) => ({ key: 'g' + j, name: g.path, low: g.path.toLowerCase(), what: 'block · ' + g.label })));
  let active = 0, found = [];
  function runSearch() {
    const q = search.value.trim().toLowerCase();
    clear(results);
    if (!q) { results.hidden = true; return; }
    found = INDEX.filter(e => e.low.includes(q));
    found.sort((a, b) => (b.low === q) - (a.low === q) || (b.low.startsWith(q)) - (a.low.startsWith(q))
      || a.name.split('.').length - b.name.split('.').length);
    active = 0;
    if (!found.length) results.appendChild(h('li', { class: 'none' }, 'no layer or block matches'));
    found.slice(0, 60).forEach((e, i) => {
      const li = h('li', { 'data-key': e.key });
      li.appendChild(h('span', { class: 'nm' }, e.name));
      li.appendChild(h('small', null, e.what));
      if (i === 0) li.classList.add('active');
      li.addEventListener('mousedown', ev => { ev.preventDefault(); choose(e.key); });
      results.appendChild(li);
    });
    if (found.length > 60) results.appendChild(h('li', { class: 'none' }, `… ${found.length - 60} more`));
    results.hidden = false;
  }
  function choose(key) { results.hidden = true; search.blur(); reveal(key); }
  search.addEventListener('input', runSearch);
  search.addEventListener('focus', runSearch);
  search.addEventListener('blur', () => { setTimeout(() => { results.hidden = true; }, 100); });
  search.addEventListener('keydown', ev => {
    const lis = results.querySelectorAll('li[data-key]');
    if (ev.key === 'Enter' && lis.length) { choose(lis[active].dataset.key); ev.preventDefault(); }
    else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      if (!lis.length) return;
      lis[active].classList.remove('active');
      active = (active + (ev.key === 'ArrowDown' ? 1 : lis.length - 1)) % lis.length;
      lis[active].classList.add('active');
      lis[active].scrollIntoView({ block: 'nearest' });
      ev.preventDefault();
    } else if (ev.key === 'Escape') { search.value = ''; runSearch(); search.blur(); }
  });
  document.addEventListener('keydown', ev => {
    if (ev.key === '/' && document.activeElement !== search) { ev.preventDefault(); search.focus(); }
    else if (ev.key === 'Escape' && document.activeElement !== search) { S.selected = null; highlight(); showPanel(); }
  });

  // ---------------------------------------------------------------------------------------------
  // The side panel
  // ---------------------------------------------------------------------------------------------
  function table(rows) {
    const t = h('table');
    rows.forEach(([k, v]) => {
      const tr = h('tr');
      tr.appendChild(h('td', null, k));
      tr.appendChild(h('td', null, v));
      t.appendChild(tr);
    });
    return t;
  }
  function links(indices, emptyText) {
    const box = h('div', { class: 'links' });
    if (!indices.length) box.appendChild(h('span', { class: 'empty' }, emptyText));
    indices.forEach(i => {
      const a = h('a', { 'data-key': 'n' + i, title: N[i].label + ' → ' + N[i].shape }, N[i].name);
      a.addEventListener('click', () => reveal('n' + i));
      box.appendChild(a);
    });
    return box;
  }

  function showPanel() {
    const p = $('panel');
    clear(p);
    if (!S.selected) { p.appendChild(intro()); return; }
    const key = S.selected, e = entity(key), isBlock = key[0] === 'g';
    p.dataset.key = key;
    p.appendChild(h('h2', null, isBlock ? e.path : e.name));
    p.appendChild(h('div', { class: 'kind' }, isBlock ? `block · ${e.label} · ${e.n} layers`
                                                       : (e.kind === 'input' ? 'model input' : e.label)));
    const actions = h('div', { class: 'actions' });
    if (isBlock) {
      const j = +key.slice(1), open = !S.collapsed.has(j);
      const b = h('button', { type: 'button', 'data-action': open ? 'collapse' : 'expand' },
                  open ? 'collapse this block' : 'expand this block');
      b.addEventListener('click', () => toggleBlock(j, !open));
      actions.appendChild(b);
    }
    const chain = e.chain;
    if (chain.length) {
      const j = chain[chain.length - 1];
      const b = h('button', { type: 'button', 'data-action': 'parent' }, `enclosing block: ${G[j].path}`);
      b.addEventListener('click', () => reveal('g' + j));
      actions.appendChild(b);
    }
    if (actions.childNodes.length) p.appendChild(actions);
    if (DATA.input.spatial) {
      p.appendChild(h('h3', null, 'Receptive field on the input'));
      const box = h('div', { id: 'rf' });
      p.appendChild(box);
      drawRF(box, e);
    }
    e.sections.forEach(s => { p.appendChild(h('h3', null, s.title)); p.appendChild(table(s.rows)); });
    p.appendChild(h('h3', null, isBlock ? 'Inputs from outside the block' : 'Inputs'));
    p.appendChild(links(e.in, isBlock ? 'none' : 'none (a model input)'));
    p.appendChild(h('h3', null, isBlock ? 'Read outside the block by' : 'Read by'));
    const outs = e.out;
    const isOutput = !isBlock && DATA.outputs.includes(+key.slice(1));
    p.appendChild(links(outs, isOutput ? 'nothing: a model output' : 'nothing'));
    if (isOutput && outs.length) p.appendChild(h('div', { class: 'empty' }, 'and a model output'));
  }

  function intro() {
    const d = h('div', { id: 'intro' });
    d.innerHTML = '<p><b>Click a node</b> for its full record: hyperparameters, shapes, parameters, '
      + 'buffers, connections, MACs/FLOPs and its receptive field drawn on the input.</p>'
      + '<p><b>⊞ / double-click</b> expands a block, <b>−</b> on a box collapses it. '
      + '<b>Wheel</b> scrolls, <b>Ctrl/Alt + wheel</b> zooms, <b>drag</b> pans, <b>/</b> searches.</p>';
    const p = h('p');
    p.textContent = `${N.length} nodes (inputs and layers) in ${G.length} blocks; `
      + `${document.body.dataset.nodes || '?'} drawn now.`;
    d.appendChild(p);
    return d;
  }

  // ---------------------------------------------------------------------------------------------
  // Receptive field drawing: the input pixels one output unit sees.
  // Unit u of a tensor with effective size r, stride S and padding P (per axis) sees input
  // coordinates [u*S - P, u*S - P + r - 1] (cnnstat/receptive.py, Araujo et al. 2019); coordinates
  // below 0 or past the input are padding.
  // ---------------------------------------------------------------------------------------------
  function unitRange(ax, u, size) {
    const [r, s, p, whole] = ax;
    if (whole) return { lo: 0, hi: size - 1, whole: true };
    const lo = u * s - p;
    return { lo, hi: lo + r - 1, whole: false };
  }
  function fmtNum(x) { return Number.isInteger(x) ? String(x) : (Math.round(x * 100) / 100).toString(); }

  // One drawing of the input grid over rows [y0, y1) × columns [x0, x1) in input pixel
  // coordinates (pixel i covers [i, i+1)): padding hatched, the image, the field of the unit
  // (blue) and of the next unit (dashed). A 1-D input is one row of positions, drawn as a strip.
  const GRID_MAX = 100;   // most input pixels across a drawing that still shows the pixel grid
  const RANK = DATA.input.rank || 2, UNIT = DATA.input.unit || 'px';
  function gridDrawing(box, geo, [y0, y1], [x0, x1], onPick, view) {
    const { H, W, rh, rw, nh, nw } = geo;
    const span = RANK === 1 ? x1 - x0 : Math.max(y1 - y0, x1 - x0);
    const PX = 340, pad = 8, k = (PX - 2 * pad) / span;
    const ky = RANK === 1 ? Math.max(k, 24) : k;    // a 1-D strip keeps a visible height
    const X = x => pad + (x - x0) * k, Y = y => pad + (y - y0) * ky;
    const hgt = Math.ceil(2 * pad + (y1 - y0) * ky), wid = Math.ceil(2 * pad + (x1 - x0) * k);
    const s = el('svg', { width: wid, height: hgt, viewBox: `0 0 ${wid} ${hgt}`, class: 'rf-drawing',
                          'data-view': view });
    s.setAttribute('aria-label', `receptive field on the input grid (${view})`);
    box.appendChild(s);
    el('rect', { x: X(x0), y: Y(y0), width: (x1 - x0) * k, height: (y1 - y0) * ky, fill: 'url(#hatch)' }, s);
    const cx0 = Math.max(0, x0), cx1 = Math.min(W, x1), cy0 = Math.max(0, y0), cy1 = Math.min(H, y1);
    if (cx1 > cx0 && cy1 > cy0) {
      el('rect', { x: X(cx0), y: Y(cy0), width: (cx1 - cx0) * k, height: (cy1 - cy0) * ky, fill: '#e9eef8',
                   class: 'rf-input' }, s);
    }
    if (span <= GRID_MAX) {    // the pixel grid
      const grid = [];
      for (let i = Math.ceil(y0); i <= y1; i++) grid.push(`M${X(x0)},${Y(i)}H${X(x1)}`);
      for (let j = Math.ceil(x0); j <= x1; j++) grid.push(`M${X(j)},${Y(y0)}V${Y(y1)}`);
      el('path', { d: grid.join(''), stroke: '#c3cad8', 'stroke-width': 0.6, fill: 'none' }, s);
    }
    el('rect', { x: X(0), y: Y(0), width: W * k, height: H * ky, fill: 'none', stroke: '#4d5a78',
                 'stroke-width': 1.4 }, s);   // the image border
    if (geo.hasNext) {
      el('rect', { x: X(nw.lo), y: Y(nh.lo), width: (nw.hi - nw.lo + 1) * k, height: (nh.hi - nh.lo + 1) * ky,
                   fill: 'none', stroke: '#6f7a8c', 'stroke-dasharray': '4 3', 'stroke-width': 1.3,
                   class: 'rf-next' }, s);
    }
    el('rect', { x: X(rw.lo), y: Y(rh.lo), width: (rw.hi - rw.lo + 1) * k, height: (rh.hi - rh.lo + 1) * ky,
                 fill: 'rgba(31,99,214,0.22)', stroke: '#1f63d6', 'stroke-width': 2, class: 'rf-box' }, s);
    const tag = el('text', { x: wid - pad - 3, y: hgt - pad - 4, 'font-size': 11, fill: '#2f3a52',
                             'text-anchor': 'end', 'paint-order': 'stroke', stroke: '#ffffff',
                             'stroke-width': 3 }, s);
    tag.textContent = view === 'close-up'
      ? `close-up: 1 square = 1 input ${RANK === 1 ? 'position' : RANK === 3 ? 'voxel' : 'pixel'}`
      : (RANK === 1 ? `input length ${W}` : RANK === 3 ? `input ${H}×${W} (height × width)` : `input ${H}×${W}`);
    s.addEventListener('click', ev => {
      const b = s.getBoundingClientRect();
      onPick(x0 + (ev.clientX - b.left - pad) / k, y0 + (ev.clientY - b.top - pad) / ky);
    });
  }

  function drawRF(box, e) {
    const H = DATA.input.h, W = DATA.input.w, D = DATA.input.d || 1;
    const os = e.oshape || [];
    // the output's sizes along the drawn plane (rows Ho, columns Wo) and along the depth (Do)
    const map = os.length === RANK + 2;
    const Ho = map && RANK >= 2 ? os[os.length - 2] : 1, Wo = map ? os[os.length - 1] : 1;
    const Do = map && RANK === 3 ? os[2] : 1;
    let uy = 0, ux = 0;
    if (S.unitPick) { uy = Math.round(S.unitPick[0] * (Ho - 1)); ux = Math.round(S.unitPick[1] * (Wo - 1)); }
    else if (S.unitMode === 'centre') { uy = Math.floor((Ho - 1) / 2); ux = Math.floor((Wo - 1) / 2); }
    const ud = S.unitMode === 'centre' ? Math.floor((Do - 1) / 2) : 0;
    const rh = unitRange(e.rf.h, uy, H), rw = unitRange(e.rf.w, ux, W);
    // the next unit along both axes, to show the effective stride
    const ny = uy + 1 < Ho ? uy + 1 : uy - 1, nx = ux + 1 < Wo ? ux + 1 : ux - 1;
    const hasNext = Ho > 1 || Wo > 1;
    const nh = unitRange(e.rf.h, Math.max(0, ny), H), nw = unitRange(e.rf.w, Math.max(0, nx), W);
    const buttons = h('div', { class: 'unit-buttons' });
    buttons.appendChild(h('span', null, 'output unit:'));
    [['corner', RANK === 1 ? 'first' : 'top-left corner'], ['centre', 'centre']].forEach(([mode, text]) => {
      const b = h('button', { type: 'button', 'data-unit': mode }, text);
      if (!S.unitPick && S.unitMode === mode) b.classList.add('on');
      b.addEventListener('click', () => { S.unitMode = mode; S.unitPick = null; showPanel(); });
      buttons.appendChild(b);
    });
    buttons.appendChild(h('span', null, 'or click a drawing'));
    box.appendChild(buttons);

    const geo = { H, W, rh, rw, nh, nw, hasNext: hasNext && !(rh.whole && rw.whole) };
    const pickUnit = (px, py) => {
      const pick = (ax, pos, n) => {   // the unit whose field is centred nearest the pixel
        if (n <= 1 || ax[3]) return 0;
        const [r, st, p] = ax;
        const u = Math.round((Math.floor(pos) + p - (r - 1) / 2) / st);
        return Math.max(0, Math.min(n - 1, u)) / (n - 1);
      };
      S.unitPick = [pick(e.rf.h, py, Ho), pick(e.rf.w, px, Wo)];
      showPanel();
    };
    // The whole input with the field; then, when the field is small, a close-up with the pixels.
    const lo = (a, b) => Math.min(a.lo, geo.hasNext ? b.lo : a.lo);
    const hi = (a, b) => Math.max(a.hi, geo.hasNext ? b.hi : a.hi);
    const whole = [[Math.min(0, lo(rh, nh)), Math.max(H, hi(rh, nh) + 1)],
                   [Math.min(0, lo(rw, nw)), Math.max(W, hi(rw, nw) + 1)]];
    gridDrawing(box, geo, whole[0], whole[1], pickUnit, 'whole input');
    const span = Math.max(whole[0][1] - whole[0][0], whole[1][1] - whole[1][0]);
    const fieldSpan = Math.max(hi(rh, nh) - lo(rh, nh) + 1, hi(rw, nw) - lo(rw, nw) + 1);
    // a close-up when the whole drawing is too coarse for pixels and the field is small in it
    if (!(rh.whole || rw.whole) && span > GRID_MAX && fieldSpan * 4 <= span) {
      const m = Math.max(2, Math.ceil(fieldSpan * 0.35));
      const rows = RANK === 1 ? [0, 1] : [lo(rh, nh) - m, hi(rh, nh) + 1 + m];
      gridDrawing(box, geo, rows, [lo(rw, nw) - m, hi(rw, nw) + 1 + m], pickUnit, 'close-up');
    }

    const cap = h('div', { class: 'caption' });
    const approx = e.rf.exact ? '' : '≈ ';
    const lines = [];
    const rd = RANK === 3 ? unitRange(e.rf.d, ud, D) : null;
    if (RANK === 1) lines.push(`Output unit (position ${ux}) of ${Wo}`);
    else if (RANK === 3) lines.push(`Output unit (depth ${ud}, row ${uy}, col ${ux}) of ${Do}×${Ho}×${Wo}`);
    else lines.push(`Output unit (row ${uy}, col ${ux}) of ${Ho}×${Wo}`);
    if (rh.whole && rw.whole) lines.push('sees the whole input (a global pooling or fully connected layer mixes every position).');
    else if (RANK === 1) {
      const outside = rw.lo < 0 || rw.hi > W - 1;
      lines.push(`sees ${approx}input positions ${fmtNum(rw.lo)} … ${fmtNum(rw.hi)}: ${approx}${fmtNum(rw.hi - rw.lo + 1)} ${UNIT}.`);
      lines.push(outside ? 'Part of it lies in the padding (hatched: zeros, not input).' : 'All of it lies inside the input.');
      if (hasNext) lines.push(`Dashed: the next unit, ${fmtNum(e.rf.w[1])} ${UNIT} further on (the effective stride).`);
    } else {
      if (rd) lines.push(rd.whole ? 'Along the depth: all of it.'
        : `Along the depth: ${approx}slices ${fmtNum(rd.lo)} … ${fmtNum(rd.hi)} of ${D} (${approx}${fmtNum(rd.hi - rd.lo + 1)} deep); the drawing is its height × width plane.`);
      // rows (columns) of the range below 0 or past the last input row: padding
      const outside = (r, n) => (r.lo < 0 ? Math.min(r.hi, -1) - r.lo + 1 : 0)
                              + (r.hi > n - 1 ? r.hi - Math.max(r.lo, n) + 1 : 0);
      lines.push(`sees ${approx}input rows ${fmtNum(rh.lo)} … ${fmtNum(rh.hi)} and columns ${fmtNum(rw.lo)} … ${fmtNum(rw.hi)}: `
        + `${approx}${fmtNum(rh.hi - rh.lo + 1)}×${fmtNum(rw.hi - rw.lo + 1)} ${UNIT}.`);
      const ph = rh.whole ? 0 : outside(rh, H), pw = rw.whole ? 0 : outside(rw, W);
      const what = RANK === 2 ? 'image' : 'input';
      lines.push(ph || pw ? `${fmtNum(ph)} of its rows and ${fmtNum(pw)} of its columns lie in the padding (hatched: zeros, not ${what}).`
                          : `All of it lies inside the ${what}.`);
      if (hasNext) lines.push(`Dashed: the next unit, ${fmtNum(e.rf.h[1])} ${UNIT} further down and ${fmtNum(e.rf.w[1])} ${UNIT} right (the effective stride).`);
    }
    lines.forEach(t => cap.appendChild(h('div', null, t)));
    box.appendChild(cap);
  }

  // ---------------------------------------------------------------------------------------------
  // Header: totals always visible
  // ---------------------------------------------------------------------------------------------
  function header() {
    $('title').textContent = DATA.title;
    const dl = $('totals');
    DATA.facts.forEach(([label, value]) => {
      if (label === 'model' || label === 'convention' || label === 'paper') return;
      const d = h('div');
      d.appendChild(h('dt', null, label));
      d.appendChild(h('dd', { 'data-total': label }, value));
      dl.appendChild(d);
    });
    $('convention').textContent = DATA.convention;
  }

  // ---------------------------------------------------------------------------------------------
  header();
  render();
  home();
  showPanel();
  // For scripts and tests: entities are named as in cnnstat's tables (layers) or by block path.
  const keyOf = name => {
    const j = G.findIndex(g => g.path === name);
    if (j >= 0) return 'g' + j;
    const i = N.findIndex(n => n.name === name);
    return i >= 0 ? 'n' + i : null;
  };
  window.cnnstatView = {
    data: DATA, state: S, keyOf,
    visibleCount: () => S.view.items.size,
    reveal: name => reveal(keyOf(name)),
    center: name => centerOn(keyOf(name)),
    layoutMs: () => S.lastLayoutMs,
  };
})();
