// Table rows for the small views (lanes, hosts, queues, schedules).

/** A `<tr>` with `data-*` from `data` and a cell per value: a Node is put in as it is, an
 * object gives the cell its `text` (or `node`), `className` and `title`. */
export function row(data, cells) {
  const tr = document.createElement("tr");
  Object.assign(tr.dataset, data);
  for (const value of cells) {
    const td = document.createElement("td");
    if (value instanceof Node) td.append(value);
    else if (value && typeof value === "object") {
      if (value.node) td.append(value.node);
      else td.textContent = value.text;
      if (value.className) td.className = value.className;
      if (value.title) td.title = value.title;
    } else td.textContent = value ?? "";
    tr.append(td);
  }
  return tr;
}

/** A number cell. */
export function num(value) {
  return { text: String(value ?? ""), className: "num" };
}

/** Replaces a table body's rows, or shows `empty` in a note when there are none. */
export function fill(bodyId, rows, noteId, empty) {
  document.getElementById(bodyId).replaceChildren(...rows);
  if (noteId) document.getElementById(noteId).textContent = rows.length ? "" : empty;
}
