(function (settings) {
  // Dresses a table of a database claude-ingest wrote: what people read first comes first (the ids
  // stay, further right), and the column descriptions fold away into a list and the headers' tooltips.
  var table = document.querySelector("table.rows-and-columns");
  var dl = document.querySelector("dl.column-descriptions");
  if (dl) {
    var box = document.createElement("details");
    box.className = "cl-descriptions";
    box.innerHTML = "<summary>What the columns mean</summary>";
    dl.parentNode.insertBefore(box, dl);
    box.appendChild(dl);
  }
  if (!table) return;
  table.querySelectorAll("th[data-column-description]").forEach(function (th) {
    th.title = th.getAttribute("data-column-description");
  });
  var heads = Array.prototype.slice.call(table.querySelectorAll("thead th"));
  var names = heads.map(function (th) { return th.getAttribute("data-column") || ""; });
  var first = settings.order.filter(function (name) { return names.indexOf(name) !== -1; });
  if (!first.length) return;
  var order = first.map(function (name) { return names.indexOf(name); });
  names.forEach(function (name, i) { if (order.indexOf(i) === -1) order.push(i); });
  table.querySelectorAll("tr").forEach(function (tr) {
    var cells = Array.prototype.slice.call(tr.children);
    if (cells.length !== names.length) return;
    order.forEach(function (i) { tr.appendChild(cells[i]); });
  });
})(%s);
