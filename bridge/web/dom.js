// Building elements safely: text always goes in as text nodes, never as
// markup, so nothing a user typed can become HTML.

/**
 * Creates an element. `props` may hold `class`, `data` (an object for
 * dataset), `on` (event name to listener) and plain attributes; every child
 * that is a string becomes a text node.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "data") Object.assign(el.dataset, value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** The element with this id. */
export function byId(id) {
  return document.getElementById(id);
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** One of eight colour classes, the same for the same name everywhere. */
export function tint(name) {
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  return `tint-${hash % 8}`;
}
