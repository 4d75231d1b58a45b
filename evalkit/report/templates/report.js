(function () {
  "use strict";
  // The case table: rows are built from the JSON data block, 100 per page; a case's details are built
  // when it is opened. Every text goes in with textContent: nothing from a run is ever parsed as HTML.
  var PAGE = 100, MAX_TOKENS = 3000, MAX_CELLS = 4000000;
  var data = JSON.parse(document.getElementById("case-data").textContent);
  var runs = data.runs, cases = data.cases;
  var list = document.getElementById("case-list");
  var filter = document.getElementById("filter"), search = document.getElementById("search");
  var shown = document.getElementById("shown"), pageLabel = document.getElementById("page");
  var page = 0, matching = cases;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- word diff: longest common subsequence of words, spaces and punctuation marks ----
  var TOKEN = /[\p{L}\p{N}_]+|\s+|[^\p{L}\p{N}_\s]/gu;
  function tokens(text) {
    var found = text.match(TOKEN) || [];
    if (found.length > MAX_TOKENS) found = found.slice(0, MAX_TOKENS - 1).concat([found.slice(MAX_TOKENS - 1).join("")]);
    return found;
  }
  function wordDiff(oldText, newText) {
    var a = tokens(oldText), b = tokens(newText), out = [];
    function add(op, text) {
      if (!text) return;
      if (out.length && out[out.length - 1][0] === op) out[out.length - 1][1] += text;
      else out.push([op, text]);
    }
    var pre = 0;
    while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
    var suf = 0;
    while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
    var x = a.slice(pre, a.length - suf), y = b.slice(pre, b.length - suf), n = x.length, m = y.length;
    add("equal", a.slice(0, pre).join(""));
    if ((n + 1) * (m + 1) > MAX_CELLS) {
      add("delete", x.join(""));
      add("insert", y.join(""));
    } else {
      var w = m + 1, lcs = new Uint32Array((n + 1) * w), i, j;
      for (i = n - 1; i >= 0; i--)
        for (j = m - 1; j >= 0; j--)
          lcs[i * w + j] = x[i] === y[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      var removed = [], added = [];
      var flush = function () { add("delete", removed.join("")); add("insert", added.join("")); removed = []; added = []; };
      i = 0; j = 0;
      while (i < n && j < m) {
        if (x[i] === y[j]) { flush(); add("equal", x[i]); i++; j++; }
        else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) { removed.push(x[i]); i++; }
        else { added.push(y[j]); j++; }
      }
      while (i < n) removed.push(x[i++]);
      while (j < m) added.push(y[j++]);
      flush();
    }
    add("equal", a.slice(a.length - suf).join(""));
    return out;
  }
  function diffBlock(oldText, newText, cls) {
    var pre = el("pre", "diff " + cls);
    wordDiff(oldText, newText).forEach(function (seg) {
      pre.appendChild(seg[0] === "equal" ? document.createTextNode(seg[1]) : el(seg[0] === "delete" ? "del" : "ins", "", seg[1]));
    });
    return pre;
  }
  // JSON outputs are compared as JSON: re-serialised, keys in the expected value's order
  function ordered(value, like) {
    if (!value || typeof value !== "object" || Array.isArray(value) || !like || typeof like !== "object" || Array.isArray(like)) return value;
    var out = {};
    Object.keys(like).forEach(function (k) { if (Object.prototype.hasOwnProperty.call(value, k)) out[k] = ordered(value[k], like[k]); });
    Object.keys(value).forEach(function (k) { if (!Object.prototype.hasOwnProperty.call(out, k)) out[k] = value[k]; });
    return out;
  }
  function parsed(text) { try { return { ok: true, value: JSON.parse(text) }; } catch (e) { return { ok: false }; } }
  function comparable(text, expected) {
    if (text === null || text === undefined) return "";
    var got = parsed(text);
    if (!got.ok || !expected.ok || typeof expected.value !== "object" || expected.value === null) return text;
    return JSON.stringify(ordered(got.value, expected.value));
  }

  // ---- rows and details ----
  function verdictSpan(side) {
    return side ? el("span", "v-" + side.v, side.v) : el("span", "muted", "absent");
  }
  function joined(parent, items, make) {
    items.forEach(function (item, i) {
      if (i) parent.appendChild(document.createTextNode(" → "));
      parent.appendChild(make(item));
    });
    return parent;
  }
  function tag(text) { return el("span", text === "critical" ? "tag critical" : "tag", text); }
  function details(c) {
    var body = el("div", "body"), expected = c.exp === null ? { ok: false } : parsed(c.exp);
    var expectedText = c.exp === null ? null : (expected.ok ? JSON.stringify(expected.value) : c.exp);
    body.appendChild(el("div", "label", "input"));
    body.appendChild(el("pre", "input", c.in));
    if (c.s.length === 2 && c.s[0] && c.s[1] && c.s[0].out !== null && c.s[1].out !== null) {
      var a = comparable(c.s[0].out, expected), b = comparable(c.s[1].out, expected);
      if (a !== b) {
        body.appendChild(el("div", "label", "output A → output B (removed in B struck out, added underlined)"));
        body.appendChild(diffBlock(a, b, "versions"));
      }
    }
    var grid = el("div", c.s.length > 1 ? "sides" : "");
    c.s.forEach(function (side, k) {
      var col = el("div", c.s.length > 1 ? "side-" + runs[k].key : "");
      if (c.s.length > 1) col.appendChild(el("div", "label", runs[k].key.toUpperCase() + " · " + runs[k].label));
      if (!side) { col.appendChild(el("span", "muted", "not in this run")); grid.appendChild(col); return; }
      if (side.e) { col.appendChild(el("b", "v-error", "error ")); col.appendChild(document.createTextNode(side.e)); }
      if (expectedText !== null && side.v !== "error") {
        col.appendChild(el("div", "label", "expected → output (expected only struck out, output only underlined)"));
        col.appendChild(diffBlock(expectedText, comparable(side.out, expected), "expected"));
      } else if (expectedText !== null) {
        col.appendChild(el("div", "label", "expected"));
        col.appendChild(el("pre", "", expectedText));
      }
      if (side.out !== null) {
        col.appendChild(el("div", "label", "raw output"));
        col.appendChild(el("pre", "output", side.out));
      }
      var notes = el("ul", "notes");
      side.n.forEach(function (n) {
        var li = el("li"), mark = n[4] ? "error" : (n[2] ? "pass" : "fail");
        li.appendChild(el("span", "v-" + mark, mark));
        li.appendChild(document.createTextNode(" " + n[0] + " (" + scoreText(n[1], n[2] || n[4]) + "): " + (n[4] || n[3])));
        if (n[5]) li.appendChild(el("div", "reasoning judge-reasoning", n[5]));
        notes.appendChild(li);
      });
      col.appendChild(notes);
      grid.appendChild(col);
    });
    body.appendChild(grid);
    return body;
  }
  // two decimals, rounded down for anything that failed: a failure never reads "1.00"
  function scoreText(value, passed) {
    var v = Number(value);
    return (passed ? v : Math.min(Math.floor(v * 100) / 100, 0.99)).toFixed(2);
  }
  function row(c) {
    var item = el("details", "case"), summary = el("summary");
    item.dataset.id = c.id;
    item.dataset.failing = String(c.fail);
    summary.appendChild(el("div", "cell")).appendChild(el("code", "", c.id));
    summary.appendChild(joined(el("div"), c.s, verdictSpan));
    summary.appendChild(joined(el("div", "num"), c.s, function (side) {
      return document.createTextNode(side && side.sc !== null ? scoreText(side.sc, side.v === "pass") : "–");
    }));
    var tags = el("div", "cell");
    c.tags.forEach(function (t) { tags.appendChild(tag(t)); });
    summary.appendChild(tags);
    summary.appendChild(el("div", "cell muted", c.why));
    item.appendChild(summary);
    item.addEventListener("toggle", function () {
      if (item.open && item.childNodes.length === 1) item.appendChild(details(c));
    });
    return item;
  }

  // ---- filtering and paging ----
  function matches(c, mode, needle) {
    if (mode === "failing" && !c.fail) return false;
    if (mode === "errors" && !c.err) return false;
    if (mode === "flipped" && !c.flip) return false;
    if (!needle) return true;
    return (c.id + " " + c.tags.join(" ") + " " + c.why).toLowerCase().indexOf(needle) !== -1;
  }
  function render() {
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var fragment = document.createDocumentFragment();
    matching.slice(page * PAGE, page * PAGE + PAGE).forEach(function (c) { fragment.appendChild(row(c)); });
    list.textContent = "";
    list.appendChild(fragment);
    shown.textContent = matching.length + " of " + cases.length + " cases";
    pageLabel.textContent = " page " + (page + 1) + " of " + pages + " ";
  }
  function apply() {
    var mode = filter.value, needle = search.value.trim().toLowerCase();
    matching = cases.filter(function (c) { return matches(c, mode, needle); });
    page = 0;
    render();
  }
  function openAll() {
    Array.prototype.forEach.call(list.querySelectorAll("details.case"), function (d) {
      d.open = true;
      if (d.childNodes.length === 1) d.dispatchEvent(new Event("toggle"));
    });
  }
  filter.addEventListener("change", apply);
  search.addEventListener("input", apply);
  document.getElementById("prev").addEventListener("click", function () { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; render(); });
  document.getElementById("expand").addEventListener("click", openAll);
  // links into the report: #failures, #flipped, #errors, and "&open" to open the shown cases
  var wanted = location.hash.slice(1).split("&");
  ["failing", "errors", "flipped"].forEach(function (mode) {
    if (wanted.indexOf(mode) !== -1 || (mode === "failing" && wanted.indexOf("failures") !== -1)) filter.value = mode;
  });
  apply();
  if (wanted.indexOf("open") !== -1) openAll();
  document.documentElement.setAttribute("data-report-ready", "1");
  window.addEventListener("load", function () {
    var loaded = Array.prototype.filter.call(document.querySelectorAll("img.chart"), function (img) {
      return img.complete && img.naturalWidth > 0;
    }).length;
    document.documentElement.setAttribute("data-charts-loaded", String(loaded));
  });
})();
