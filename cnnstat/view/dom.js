/* Shared by the pages of cnnstat/view (the layer graph, the family tree), inlined before each
 * page's script: make SVG and HTML elements; text only ever goes in as textContent. */
const cnnstatDom = (function () {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg'; // the SVG namespace name (an identifier, not fetched)
  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  return { NS, el, h };
})();
