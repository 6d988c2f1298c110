// What syncs and how: the contact folder and task list (from the mailbox's real lists), which
// calendar events (by category), the direction of each kind, the conflict rule, the poll
// interval and pause.
import * as api from '../api.js';
import { busy, checkbox, clearErrors, field, focusFirstError, h, radios, setFieldError, setFormError } from '../dom.js';
import { errorText, has, t } from '../i18n.js';

const DIRECTIONS = ['two_way', 'outlook_to_zoho', 'zoho_to_outlook'];

const DEFAULTS = {
  contact_folder_id: null,
  contacts: { enabled: true, direction: 'two_way' },
  task_list_id: null,
  tasks: { enabled: false, direction: 'two_way' },
  events: { enabled: false, direction: 'two_way' },
  calendar_categories: { mode: 'zoho_only' },
  conflict_rule: 'zoho_wins',
  poll_interval_secs: 300,
  paused: false,
};

/** Which control an API error about `field` belongs next to. */
const FIELD_IDS = {
  contact_folder_id: 'contact-folder',
  task_list_id: 'task-list',
  calendar_categories: 'category-mode',
  poll_interval_secs: 'poll-interval',
  conflict_rule: 'conflict-rule',
};

async function list(url) {
  try {
    const answer = await api.get(url);
    return { items: answer.value || [] };
  } catch (error) {
    return { error };
  }
}

function choice(id, label, found, stored, nameOf, { hint, preferred } = {}) {
  const select = h('select', { id, name: id });
  select.append(h('option', { value: '' }, t('settings.choose')));
  const items = found.items || [];
  // Nothing chosen yet: offer the mailbox's default (the only or the preferred one).
  const fallback = items.length === 1 ? items[0] : items.find(preferred || (() => false));
  const current = stored || (fallback && fallback.id);
  for (const item of items) {
    select.append(h('option', { value: item.id, selected: item.id === current }, nameOf(item)));
  }
  if (current && !items.some((item) => item.id === current)) {
    // The stored choice is not in the list (renamed, deleted, or the list could not be read).
    select.append(h('option', { value: current, selected: true }, t('settings.currentChoice')));
  }
  const problem = found.error ? t('settings.listFailed', { reason: errorText(found.error) }) : null;
  return field(label, select, { hint: problem || hint });
}

function direction(kind, value) {
  const select = h('select', { id: `${kind}-direction`, name: `${kind}-direction` },
    DIRECTIONS.map((d) => h('option', { value: d, selected: d === value }, t(`settings.direction.${d}`))));
  return field(t('settings.direction'), select);
}

export async function render(main, app) {
  let current;
  try {
    current = { ...DEFAULTS, ...(await api.get('/api/sync/v1/settings')) };
  } catch (error) {
    if (error.status !== 404) throw error;
    current = { ...DEFAULTS };
  }
  const [folders, lists, categories] = await Promise.all([
    list('/api/discovery/outlook/contact-folders'),
    list('/api/discovery/outlook/todo-lists'),
    list('/api/discovery/outlook/categories'),
  ]);

  const folderName = (f) => f.displayName || f.id;
  const listName = (l) => (l.wellknownListName === 'defaultList' ? t('settings.defaultList', { name: l.displayName }) : l.displayName || l.id);

  // Calendar categories: the "Zoho" category, all, or chosen ones from the mailbox's list.
  const chosen = current.calendar_categories.mode === 'chosen' ? (current.calendar_categories.names || []) : [];
  const categoryMode = radios('category-mode', t('settings.categories'), [
    { value: 'zoho_only', label: t('settings.categories.zoho_only'), hint: t('settings.categories.zoho_onlyHint') },
    { value: 'all', label: t('settings.categories.all'), hint: t('settings.categories.allHint') },
    { value: 'chosen', label: t('settings.categories.chosen'), hint: t('settings.categories.chosenHint') },
  ], current.calendar_categories.mode);
  const names = new Set([...(categories.items || []).map((c) => c.displayName), ...chosen]);
  const choices = h('fieldset', { class: 'category-choices', id: 'category-choices' },
    h('legend', { class: 'visually-hidden' }, t('settings.categories.pick')));
  if (categories.error) choices.append(h('p', { class: 'hint' }, t('settings.listFailed', { reason: errorText(categories.error) })));
  else if (names.size === 0) choices.append(h('p', { class: 'hint' }, t('settings.categories.none')));
  let index = 0;
  for (const name of names) {
    const colour = (categories.items || []).find((c) => c.displayName === name)?.color;
    const input = h('input', { type: 'checkbox', id: `category-${index}`, name: 'category', value: name, checked: chosen.includes(name) });
    choices.append(h('div', { class: 'field checkbox' }, input,
      h('label', { for: input.id }, h('span', { class: `swatch ${colour || 'none'}`, 'aria-hidden': 'true' }), name)));
    index += 1;
  }
  const syncChoices = () => {
    const on = categoryMode.querySelector('input:checked')?.value === 'chosen';
    choices.hidden = !on;
    choices.disabled = !on;
  };
  categoryMode.addEventListener('change', syncChoices);
  categoryMode.append(choices);
  syncChoices();

  const poll = h('input', { type: 'number', id: 'poll-interval', name: 'poll_interval_secs', min: '1', max: '86400', step: '1', inputmode: 'numeric', value: String(current.poll_interval_secs) });

  const save = h('button', { type: 'submit', id: 'settings-save', class: 'primary' }, t('settings.save'));
  const form = h('form', { id: 'settings-form', novalidate: true },
    h('div', { class: 'grid three' },
    h('fieldset', { class: 'card kind', id: 'contacts-settings' },
      h('legend', {}, t('kind.contact')),
      checkbox('contacts-enabled', t('settings.syncContacts'), current.contacts.enabled),
      choice('contact-folder', t('settings.contactFolder'), folders, current.contact_folder_id, folderName,
        { hint: t('settings.contactFolderHint'), preferred: (f) => f.displayName === 'Contacts' }),
      direction('contacts', current.contacts.direction)),
    h('fieldset', { class: 'card kind', id: 'tasks-settings' },
      h('legend', {}, t('kind.task')),
      checkbox('tasks-enabled', t('settings.syncTasks'), current.tasks.enabled),
      choice('task-list', t('settings.taskList'), lists, current.task_list_id, listName,
        { hint: t('settings.taskListHint'), preferred: (l) => l.wellknownListName === 'defaultList' }),
      direction('tasks', current.tasks.direction)),
    h('fieldset', { class: 'card kind', id: 'events-settings' },
      h('legend', {}, t('kind.event')),
      checkbox('events-enabled', t('settings.syncEvents'), current.events.enabled),
      direction('events', current.events.direction),
      categoryMode)),
    h('p', { class: 'hint', id: 'scope-change-hint' }, t('settings.scopeChangeHint')),
    h('div', { class: 'grid two' },
    h('div', { class: 'card' },
      radios('conflict-rule', t('settings.conflictRule'), [
        { value: 'zoho_wins', label: t('settings.rule.zoho_wins'), hint: t('settings.rule.zoho_winsHint') },
        { value: 'outlook_wins', label: t('settings.rule.outlook_wins'), hint: t('settings.rule.outlook_winsHint') },
        { value: 'review', label: t('settings.rule.review'), hint: t('settings.rule.reviewHint') },
      ], current.conflict_rule)),
    h('div', { class: 'card' },
      field(t('settings.pollInterval'), poll, { hint: t('settings.pollIntervalHint') }),
      checkbox('paused', t('settings.paused'), current.paused, { hint: t('settings.pausedHint') }))),
    h('div', { class: 'actions' }, save));

  // Unsaved changes: leaving asks first; "Settings saved" shows next to the button.
  let dirty = false;
  const saved = h('p', { class: 'saved-note', id: 'settings-saved', role: 'status' });
  const markDirty = () => {
    dirty = true;
    saved.textContent = '';
  };
  form.addEventListener('input', markDirty);
  form.addEventListener('change', markDirty);
  const guard = () => !dirty || window.confirm(t('settings.leaveUnsaved'));
  guard.dirty = () => dirty;
  app.leaveGuard = guard;
  form.querySelector('.actions:last-child').append(saved);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const value = (id) => document.getElementById(id).value;
    const checked = (id) => document.getElementById(id).checked;
    const mode = categoryMode.querySelector('input:checked')?.value || 'zoho_only';
    const seconds = Number(poll.value);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86400) {
      setFieldError('poll-interval', t('settings.pollIntervalInvalid'));
    }
    if (mode === 'chosen' && !choices.querySelector('input:checked')) {
      setFieldError('category-mode', t('settings.categories.pickOne'));
    }
    if (focusFirstError(form)) return;
    const body = {
      contact_folder_id: value('contact-folder') || null,
      contacts: { enabled: checked('contacts-enabled'), direction: value('contacts-direction') },
      task_list_id: value('task-list') || null,
      tasks: { enabled: checked('tasks-enabled'), direction: value('tasks-direction') },
      events: { enabled: checked('events-enabled'), direction: value('events-direction') },
      calendar_categories: mode === 'chosen'
        ? { mode, names: [...choices.querySelectorAll('input:checked')].map((c) => c.value) }
        : { mode },
      conflict_rule: form.querySelector('input[name="conflict-rule"]:checked')?.value || 'zoho_wins',
      poll_interval_secs: seconds,
      paused: checked('paused'),
    };
    await busy(save, async () => {
      try {
        await api.put('/api/sync/v1/settings', body);
        dirty = false;
        saved.textContent = `✓ ${t('settings.saved')}`;
      } catch (error) {
        const id = FIELD_IDS[error.field];
        const message = has(`settings.error.${error.field}`) ? t(`settings.error.${error.field}`) : errorText(error);
        if (!(id && setFieldError(id, message))) setFormError(form, message);
        if (!focusFirstError(form)) form.querySelector('.form-error')?.focus?.();
      }
    });
  });

  main.append(
    h('h1', {}, t('settings.title')),
    h('p', { class: 'lead' }, t('settings.lead')),
    form,
  );
}
