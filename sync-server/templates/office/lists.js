// The desk's lists: over each alert list a filter box, and a click on a
// column's head sorts by it (again: the other way); in a form with a tick
// box per row (a dispatch from the alerts, a bulk decision on the visit
// list) the ticked rows are counted, "tick all" ticks the rows shown, and
// the form's buttons stay off while none is ticked.
'use strict';

(function () {
  const cellValue = (row, index) => {
    const cell = row.cells[index];
    if (!cell) return '';
    return cell.dataset.sort ?? cell.textContent.trim();
  };

  const compare = (a, b) => {
    const [x, y] = [Number(a), Number(b)];
    if (a !== '' && b !== '' && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    return a.localeCompare(b, 'zh-CN');
  };

  const rowBoxes = (form) => form.querySelectorAll('tbody input[type=checkbox]');

  const counted = (form) => {
    const ticked = [...rowBoxes(form)].filter((box) => box.checked).length;
    for (const count of form.querySelectorAll('.ticked')) count.textContent = String(ticked);
    for (const button of form.querySelectorAll('.dispatch-button, .bulk-button')) button.disabled = ticked === 0;
  };

  for (const table of document.querySelectorAll('table.alert-list')) {
    const body = table.tBodies[0];
    const filter = document.createElement('input');
    filter.type = 'search';
    filter.className = 'row-filter';
    filter.placeholder = table.dataset.filterLabel || '';
    filter.setAttribute('aria-label', filter.placeholder);
    table.before(filter);
    filter.addEventListener('input', () => {
      const words = filter.value.trim().toLowerCase();
      for (const row of body.rows) {
        row.hidden = words !== '' && !row.textContent.toLowerCase().includes(words);
        // A row filtered out is not dispatched by a tick the reader cannot see.
        const box = row.querySelector('input[type=checkbox]');
        if (row.hidden && box) box.checked = false;
      }
      const form = table.closest('form');
      if (form) counted(form);
    });
    [...table.tHead.rows[0].cells].forEach((head, index) => {
      if (head.classList.contains('tick')) return;
      head.classList.add('sortable');
      head.addEventListener('click', () => {
        const down = head.dataset.order !== 'up';
        for (const other of head.parentElement.cells) delete other.dataset.order;
        head.dataset.order = down ? 'up' : 'down';
        const rows = [...body.rows].sort((a, b) => compare(cellValue(a, index), cellValue(b, index)));
        if (!down) rows.reverse();
        body.append(...rows);
      });
    });
  }

  for (const form of document.querySelectorAll('form.dispatch')) {
    form.addEventListener('change', (event) => {
      if (event.target.classList.contains('tick-all')) {
        for (const box of form.querySelectorAll('tbody tr:not([hidden]) input[type=checkbox]')) {
          box.checked = event.target.checked;
        }
      }
      counted(form);
    });
    counted(form);
  }
})();
