(function (settings) {
  // Dresses one of datasette-claude's canned query pages: the chart, drawn on the server from the
  // same parameters as the results, goes above them; day parameters get a date picker, an
  // enumeration its choices, every parameter a hint of what to type.
  var form = document.querySelector("form.sql") || document.querySelector("form[action]");
  function field(name) { return document.querySelector("input[name='" + name + "']"); }
  settings.dates.forEach(function (name) {
    var input = field(name);
    if (input) { input.type = "date"; }
  });
  Object.keys(settings.choices).forEach(function (name) {
    var input = field(name);
    if (!input) return;
    var select = document.createElement("select");
    select.name = name; select.id = input.id;
    settings.choices[name].forEach(function (value) {
      var option = document.createElement("option");
      option.value = value; option.textContent = value === "" ? (settings.blank[name] || "(default)") : value;
      if (value === input.value) option.selected = true;
      select.appendChild(option);
    });
    input.replaceWith(select);
  });
  Object.keys(settings.hints).forEach(function (name) {
    var input = field(name);
    if (input && !input.placeholder) { input.placeholder = settings.hints[name]; input.size = Math.max(input.size || 20, settings.hints[name].length); }
  });
  if (!settings.chart) return;
  var figure = document.createElement("figure");
  figure.className = "claude-query-chart";
  figure.style.cssText = "margin: 0.8em 0 1.2em; max-width: 1100px";
  figure.innerHTML = "<p style='color:#777'>Drawing the chart…</p>";
  var results = document.querySelector(".table-wrapper") || document.querySelector("p.zero-results") ||
                document.querySelector("table.rows-and-columns");
  if (results) { results.parentNode.insertBefore(figure, results); }
  else if (form) { form.parentNode.insertBefore(figure, form.nextSibling); }
  else { document.body.appendChild(figure); }
  fetch(settings.chart + location.search, {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.text() : ""; })
    .then(function (svg) {
      figure.innerHTML = svg;
      var style = document.createElement("style");
      style.textContent = ".claude-chart text.tick, .claude-chart text.axis { font-size: 12px; fill: #444 } " +
                          ".claude-chart line.axis { stroke: #999 } .claude-chart rect.mark:hover { opacity: .8 }";
      figure.appendChild(style);
    });
})(%s);
