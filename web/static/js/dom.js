// A tiny DOM builder (no innerHTML anywhere: text is always text) and the form helpers that put
// each error next to the field it concerns.

/** `h('button', {class: 'primary', onclick: f}, 'Save')`. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (key === 'for') {
      node.htmlFor = value;
    } else if (key === 'value') {
      node.value = value;
    } else if (key === 'checked' || key === 'selected' || key === 'disabled') {
      node[key] = Boolean(value);
      if (value) node.setAttribute(key, '');
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

/**
 * A labelled control with a hint and an error slot, wired with `aria-describedby`.
 * `control` is an input/select/textarea element whose `id` is set.
 */
export function field(label, control, { hint, className } = {}) {
  const id = control.id;
  const described = [];
  let hintNode = null;
  if (hint) {
    hintNode = h('p', { class: 'hint', id: `${id}-hint` }, hint);
    described.push(hintNode.id);
  }
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  described.push(error.id);
  control.setAttribute('aria-describedby', described.join(' '));
  return h('div', { class: `field ${className || ''}`.trim() },
    h('label', { for: id }, label), hintNode, control, error);
}

/** A checkbox with its label after it. */
export function checkbox(id, label, checked, { hint } = {}) {
  const input = h('input', { type: 'checkbox', id, checked });
  const hintNode = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
  return h('div', { class: 'field checkbox' }, input, h('label', { for: id }, label), hintNode);
}

/** A group of radio buttons in a fieldset with a legend. */
export function radios(name, legend, options, value, { id } = {}) {
  const set = h('fieldset', { class: 'radios', id: id || name },
    h('legend', {}, legend));
  for (const option of options) {
    const inputId = `${name}-${option.value}`;
    const input = h('input', { type: 'radio', name, id: inputId, value: option.value, checked: option.value === value });
    const row = h('div', { class: 'radio' }, input, h('label', { for: inputId }, option.label));
    if (option.hint) {
      const hint = h('p', { class: 'hint', id: `${inputId}-hint` }, option.hint);
      input.setAttribute('aria-describedby', hint.id);
      row.append(hint);
    }
    set.append(row);
  }
  const error = h('p', { class: 'field-error', id: `${set.id}-error`, hidden: true });
  set.append(error);
  return set;
}

/** Shows `message` under the control (or fieldset) with this id and marks it invalid. */
export function setFieldError(id, message) {
  const control = document.getElementById(id);
  const error = document.getElementById(`${id}-error`);
  if (!control || !error) return false;
  error.textContent = message;
  error.hidden = false;
  control.setAttribute('aria-invalid', 'true');
  if (control.tagName === 'FIELDSET') {
    control.setAttribute('aria-describedby', error.id);
  }
  return true;
}

/** A message for the whole form, at its top, announced at once. */
export function setFormError(form, message) {
  let box = form.querySelector(':scope > .form-error');
  if (!box) {
    box = h('div', { class: 'form-error', role: 'alert', id: `${form.id}-error` });
    form.prepend(box);
  }
  box.textContent = message;
  box.hidden = false;
}

export function clearErrors(form) {
  for (const error of form.querySelectorAll('.field-error')) {
    error.textContent = '';
    error.hidden = true;
  }
  for (const invalid of form.querySelectorAll('[aria-invalid]')) invalid.removeAttribute('aria-invalid');
  const box = form.querySelector(':scope > .form-error');
  if (box) box.hidden = true;
}

/** Focuses the first invalid control of the form, if any. */
export function focusFirstError(form) {
  const invalid = form.querySelector('[aria-invalid="true"]');
  if (invalid) {
    const target = invalid.tagName === 'FIELDSET' ? invalid.querySelector('input, select, button') : invalid;
    (target || invalid).focus();
    return true;
  }
  return false;
}

/** Disables a button while `work` runs (no double submits) and marks it busy. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** Says something to everyone: visibly in the notice bar and to screen readers. */
export function announce(message, kind = 'info') {
  const notice = document.getElementById('notice');
  if (!notice) return;
  clear(notice);
  if (!message) {
    notice.hidden = true;
    return;
  }
  notice.className = `notice ${kind}`;
  notice.hidden = false;
  notice.append(h('span', {}, message));
}

/**
 * Marks a table to stack on narrow screens: each cell gets its column's heading as
 * `data-label`, which the stylesheet shows before the cell when rows become cards (no column
 * squeezed to one letter per line on a phone).
 */
export function stackable(table) {
  const headings = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
  table.classList.add('stack');
  for (const row of table.querySelectorAll('tbody tr')) {
    [...row.children].forEach((cell, index) => {
      if (headings[index] && !cell.hasAttribute('data-label')) cell.setAttribute('data-label', headings[index]);
    });
  }
  return table;
}
