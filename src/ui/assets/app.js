// tcrane's web page: what a registry holds. Plain DOM, no framework. Everything that comes from the
// registry (names, tags, labels, annotations, history) is untrusted and reaches the page only as text
// nodes or attribute values (never parsed as markup). Data comes from tcrane's JSON API at ui/api/.
"use strict";
(() => {
  const main = document.getElementById("main");
  const crumbs = document.getElementById("crumbs");
  const SHOW_REPOS = 500;
  const BATCH = 200;
  let info = { registry: location.host, mode: "serve" };
  let routeId = 0;
  const state = { repoFilter: "", tagFilter: "", hideDigestTags: false, sort: { key: "tag", dir: 1 }, repos: null };

  // --- DOM helpers: text only -------------------------------------------------------------------
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
        else if (k === "class") el.className = v;
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    append(el, kids);
    return el;
  }
  function append(el, kids) {
    for (const k of kids) {
      if (k === undefined || k === null || k === false) continue;
      if (Array.isArray(k)) append(el, k);
      else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }
  const link = (params, ...kids) => h("a", { href: "#" + new URLSearchParams(params).toString() }, ...kids);
  const mono = (text, title) => h("code", { title }, text);
  const short = (d) => (typeof d === "string" && d.includes(":") ? d.slice(0, d.indexOf(":") + 13) : String(d || ""));

  function size(n) {
    if (typeof n !== "number") return "";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < u.length - 1) {
      v /= 1024;
      i++;
    }
    return i === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
  }
  function date(s) {
    if (typeof s !== "string" || !s) return "";
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(s);
    return m ? `${m[1]} ${m[2]}` : s;
  }
  const TYPES = {
    "application/vnd.oci.image.index.v1+json": "OCI index",
    "application/vnd.oci.image.manifest.v1+json": "OCI manifest",
    "application/vnd.docker.distribution.manifest.list.v2+json": "Docker list",
    "application/vnd.docker.distribution.manifest.v2+json": "Docker v2",
    "application/vnd.docker.distribution.manifest.v1+json": "Docker v1",
    "application/vnd.docker.distribution.manifest.v1+prettyjws": "Docker v1 (signed)",
  };
  const typeLabel = (mt) => h("span", { title: mt, "data-media-type": mt }, TYPES[mt] || mt || "");

  async function api(path, params) {
    const url = new URL("ui/api/" + path, document.baseURI);
    if (params) for (const [k, v] of params) url.searchParams.append(k, v);
    const r = await fetch(url, { headers: { accept: "application/json" } });
    let body;
    try {
      body = await r.json();
    } catch {
      throw new Error(`${r.status} ${r.statusText}`);
    }
    if (!r.ok) throw new Error(body && typeof body.error === "string" ? body.error : `${r.status} ${r.statusText}`);
    return body;
  }

  async function copy(text, btn) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = h("textarea", { readonly: true, class: "offscreen" }, text);
      document.body.append(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    btn.textContent = "Copied";
    setTimeout(() => (btn.textContent = "Copy"), 1500);
  }
  const copyLine = (text) => {
    const btn = h("button", { type: "button", class: "copy", "data-copy": text }, "Copy");
    btn.addEventListener("click", () => copy(text, btn));
    return h("div", { class: "copyline" }, h("code", null, text), btn);
  };

  function setCrumbs(parts) {
    crumbs.replaceChildren(...parts.flatMap((p, i) => (i ? [h("span", { class: "sep" }, "/"), p] : [p])));
  }
  function show(...kids) {
    main.replaceChildren();
    append(main, kids);
  }
  const fail = (err) => h("p", { class: "error", role: "alert" }, String(err && err.message ? err.message : err));
  const table = (head, rows, cls) =>
    h("div", { class: "scroll" }, h("table", { class: cls }, h("thead", null, h("tr", null, head.map((x) => h("th", null, x)))), h("tbody", null, rows)));
  const kv = (pairs) =>
    h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && !v.length)).map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
  const section = (title, ...kids) => h("section", null, h("h2", null, title), ...kids);

  // --- repositories --------------------------------------------------------------------------------
  async function home(id) {
    setCrumbs([h("span", null, "Repositories")]);
    document.title = `${info.registry} · tcrane`;
    if (!state.repos) {
      show(h("p", { class: "muted" }, "Loading repositories…"));
      try {
        state.repos = (await api("repositories")).repositories;
      } catch (err) {
        // Many registries refuse the catalog (Docker Hub, GHCR): a repository can still be named.
        if (id !== routeId) return;
        const name = h("input", { type: "text", placeholder: "e.g. library/alpine", "aria-label": "Repository", class: "filter", id: "goto" });
        const form = h("form", { class: "tools" }, name, h("button", { type: "submit" }, "Open"));
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          if (name.value.trim()) location.hash = new URLSearchParams({ repo: name.value.trim() }).toString();
        });
        show(h("h1", null, "Repositories"), h("p", { class: "error", role: "alert" }, `The catalog could not be listed: ${err.message || err}`), h("p", null, "Open a repository by name:"), form);
        return;
      }
      if (id !== routeId) return;
    }
    const all = state.repos;
    const list = h("ul", { class: "repos" });
    const count = h("p", { class: "muted" });
    const input = h("input", { type: "search", placeholder: "Filter repositories", "aria-label": "Filter repositories", value: state.repoFilter, class: "filter" });
    let limit = SHOW_REPOS;
    const render = () => {
      const f = state.repoFilter.toLowerCase();
      const matches = f ? all.filter((r) => r.toLowerCase().includes(f)) : all;
      const shown = matches.slice(0, limit);
      list.replaceChildren(...shown.map((r) => h("li", null, link({ repo: r }, r))));
      count.replaceChildren(`${matches.length} of ${all.length} repositories`);
      if (matches.length > shown.length) {
        const more = h("button", { type: "button" }, `Show all ${matches.length}`);
        more.addEventListener("click", () => {
          limit = Infinity;
          render();
        });
        list.append(h("li", null, more));
      }
    };
    input.addEventListener("input", () => {
      state.repoFilter = input.value;
      limit = SHOW_REPOS;
      render();
    });
    render();
    show(h("h1", null, "Repositories"), input, count, all.length ? list : h("p", null, "This registry holds no repositories."));
  }

  // --- one repository's tags -----------------------------------------------------------------------
  const COLS = [
    ["tag", "Tag"],
    ["digest", "Digest"],
    ["mediaType", "Type"],
    ["size", "Size"],
    ["platforms", "Platforms"],
    ["created", "Created"],
  ];
  const collator = new Intl.Collator(undefined, { numeric: true });
  function cmp(key) {
    return (a, b) => {
      const x = a.s[key];
      const y = b.s[key];
      if (key === "tag") return collator.compare(x, y);
      if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
      if (key === "size") return x - y;
      const sx = Array.isArray(x) ? x.join(",") : String(x);
      const sy = Array.isArray(y) ? y.join(",") : String(y);
      return sx < sy ? -1 : sx > sy ? 1 : 0;
    };
  }

  async function repository(id, repo) {
    performance.mark("tcrane:tags-start");
    setCrumbs([link({}, "Repositories"), h("span", null, repo)]);
    document.title = `${repo} · tcrane`;
    show(h("h1", null, repo), h("p", { class: "muted" }, "Loading tags…"));
    const { tags } = await api("tags", [["repo", repo]]);
    if (id !== routeId) return;
    const rows = tags.map((t) => ({ s: { tag: t }, tr: null, cells: null }));
    for (const r of rows) {
      r.cells = COLS.map(([k]) => h("td", { class: `c-${k}` }));
      r.cells[0].append(link({ repo, ref: r.s.tag }, r.s.tag));
      r.cells[1].append(h("span", { class: "muted" }, "…"));
      r.tr = h("tr", { "data-tag": r.s.tag }, r.cells);
    }
    const tbody = h("tbody");
    const status = h("p", { class: "muted", "data-state": "loading" });
    const heads = COLS.map(([k, label]) => {
      const b = h("button", { type: "button", class: "sort" }, label);
      b.addEventListener("click", () => {
        state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : 1 };
        render();
      });
      return h("th", { "data-key": k, class: `c-${k}` }, b);
    });
    const input = h("input", { type: "search", placeholder: "Filter tags", "aria-label": "Filter tags", value: state.tagFilter, class: "filter" });
    const hide = h("input", { type: "checkbox", id: "hide-digest-tags", checked: state.hideDigestTags });
    const render = () => {
      const f = state.tagFilter.toLowerCase();
      const { key, dir } = state.sort;
      const c = cmp(key);
      const shown = rows.filter((r) => (!f || r.s.tag.toLowerCase().includes(f)) && !(state.hideDigestTags && /^sha256-/.test(r.s.tag)));
      shown.sort((a, b) => dir * c(a, b) || collator.compare(a.s.tag, b.s.tag));
      tbody.replaceChildren(...shown.map((r) => r.tr));
      for (const th of heads) {
        const on = th.dataset.key === key;
        if (on) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        else th.removeAttribute("aria-sort");
      }
    };
    input.addEventListener("input", () => {
      state.tagFilter = input.value;
      render();
    });
    hide.addEventListener("change", () => {
      state.hideDigestTags = hide.checked;
      render();
    });
    render();
    show(
      h("h1", null, repo),
      h("div", { class: "tools" }, input, h("label", { for: "hide-digest-tags", class: "check" }, hide, " hide sha256-… tags")),
      status,
      h("div", { class: "scroll" }, h("table", { class: "tags" }, h("thead", null, h("tr", null, heads)), tbody)),
    );
    if (!rows.length) status.replaceChildren("This repository has no tags.");
    let loaded = 0;
    const fill = (r, s) => {
      r.s = s;
      const [, cd, ct, cs, cp, cc] = r.cells;
      if (s.error) {
        cd.replaceChildren(h("span", { class: "error" }, s.error));
        return;
      }
      cd.replaceChildren(link({ repo, ref: s.digest }, mono(short(s.digest), s.digest)));
      ct.replaceChildren(typeLabel(s.mediaType));
      cs.replaceChildren(h("span", { title: `${s.size} bytes` }, size(s.size)));
      cp.replaceChildren(...(s.platforms || []).map((p) => h("span", { class: "pill" }, p)));
      cc.replaceChildren(h("time", { datetime: s.created || "", title: s.created || "" }, date(s.created)));
    };
    const batches = [];
    for (let i = 0; i < rows.length; i += BATCH) batches.push(rows.slice(i, i + BATCH));
    // Rows are filled once per frame: batches answered close together cost one table layout.
    let queue = [];
    let frame;
    const flush = () => {
      frame = undefined;
      for (const [r, s] of queue) fill(r, s);
      loaded += queue.length;
      queue = [];
      status.replaceChildren(loaded < rows.length ? `Loading details… ${loaded} of ${rows.length}` : `${rows.length} tags`);
    };
    const later = (pairs) => {
      queue.push(...pairs);
      frame ??= requestAnimationFrame(flush);
    };
    const worker = async () => {
      while (batches.length && id === routeId) {
        const b = batches.shift();
        try {
          const { summaries } = await api("summaries", [["repo", repo], ...b.map((r) => ["tag", r.s.tag])]);
          later(summaries.map((s, i) => [b[i], s]));
        } catch (err) {
          later(b.map((r) => [r, { tag: r.s.tag, error: String(err.message || err) }]));
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    if (frame !== undefined) {
      cancelAnimationFrame(frame);
      flush();
    }
    if (id !== routeId) return;
    if (state.sort.key !== "tag") render();
    status.dataset.state = "done";
    performance.mark("tcrane:tags-done");
    performance.measure("tcrane:tags", "tcrane:tags-start", "tcrane:tags-done");
  }

  // --- one tag or digest ---------------------------------------------------------------------------
  const annotations = (a) =>
    a && Object.keys(a).length
      ? table(
          ["Key", "Value"],
          Object.entries(a).map(([k, v]) => h("tr", null, h("td", null, mono(k)), h("td", { class: "wrap" }, v))),
          "annotations",
        )
      : null;
  const argv = (a) => (Array.isArray(a) ? mono(JSON.stringify(a)) : undefined);

  function pullLines(repo, ref, v) {
    const base = `${info.registry}/${repo}`;
    const lines = [copyLine(`docker pull ${base}@${v.digest}`), copyLine(`tcrane copy ${base}@${v.digest} oci-archive:./${repo.split("/").pop()}.tar`)];
    if (!ref.includes(":")) lines.push(copyLine(`tcrane copy ${base}:${ref} oci:./${repo.split("/").pop()}:${ref}`));
    return h("div", { class: "copies" }, lines);
  }

  function config(repo, ref, v) {
    const c = v.config;
    const layerLink = (d) => {
      return link({ repo, ref: v.digest, layer: d }, mono(short(d), d));
    };
    return [
      section(
        "Config",
        kv([
          ["Digest", v.configDescriptor ? mono(v.configDescriptor.digest) : undefined],
          ["Created", c.created],
          ["Author", c.author],
          ["Platform", c.platform],
          ["User", c.user],
          ["Working dir", c.workingDir],
          ["Entrypoint", argv(c.entrypoint)],
          ["Cmd", argv(c.cmd)],
          ["Env", c.env.length ? h("ul", { class: "plain env" }, c.env.map((e) => h("li", null, mono(e)))) : undefined],
          ["Exposed ports", c.exposedPorts.join(", ")],
          ["Volumes", c.volumes.join(", ")],
          ["Stop signal", c.stopSignal],
        ]),
      ),
      section(
        "Labels",
        Object.keys(c.labels).length
          ? table(
              ["Label", "Value"],
              Object.entries(c.labels).map(([k, val]) => h("tr", null, h("td", null, mono(k)), h("td", { class: "wrap" }, val))),
              "labels",
            )
          : h("p", { class: "muted" }, "No labels."),
      ),
      section(
        "History",
        c.history.length
          ? table(
              ["#", "Created", "Created by", "Layer"],
              c.history.map((e, i) =>
                h(
                  "tr",
                  { class: e.empty ? "empty" : "" },
                  h("td", null, String(i + 1)),
                  h("td", null, h("time", { title: e.created || "" }, date(e.created))),
                  h("td", { class: "wrap" }, mono(e.createdBy || ""), e.comment ? h("div", { class: "muted" }, e.comment) : null),
                  h("td", null, e.empty ? h("span", { class: "pill muted" }, "empty layer") : e.layer ? layerLink(e.layer) : ""),
                ),
              ),
              "history",
            )
          : h("p", { class: "muted" }, "No history."),
      ),
    ];
  }

  async function manifest(id, repo, ref) {
    setCrumbs([link({}, "Repositories"), link({ repo }, repo), h("span", null, ref.includes(":") ? short(ref) : ref)]);
    document.title = `${repo}${ref.includes(":") ? "@" : ":"}${ref} · tcrane`;
    show(h("p", { class: "muted" }, "Loading…"));
    const v = await api("manifest", [["repo", repo], ["ref", ref]]);
    if (id !== routeId) return;
    const title = ref.includes(":") ? `${repo}@${short(ref)}` : `${repo}:${ref}`;
    const out = [
      h("h1", null, title),
      kv([
        ["Digest", mono(v.digest)],
        ["Media type", mono(v.mediaType)],
        ["Artifact type", v.artifactType ? mono(v.artifactType) : undefined],
        ["Manifest size", h("span", { title: `${v.size} bytes` }, size(v.size))],
        ["Total size", v.totalSize !== undefined ? h("span", { title: `${v.totalSize} bytes`, class: "total-size" }, size(v.totalSize)) : undefined],
        ["Subject", v.subject ? link({ repo, ref: v.subject.digest }, mono(short(v.subject.digest), v.subject.digest)) : undefined],
      ]),
      pullLines(repo, ref, v),
    ];
    if (v.annotations) out.push(section("Annotations", annotations(v.annotations)));
    if (v.kind === "index") {
      out.push(
        section(
          "Platforms",
          table(
            ["Platform", "Digest", "Type", "Size", ""],
            v.manifests.map((m) =>
              h(
                "tr",
                { "data-digest": m.digest },
                h("td", null, m.platform || (m.attestation ? "attestation" : "—")),
                h("td", null, link({ repo, ref: m.digest }, mono(short(m.digest), m.digest))),
                h("td", null, typeLabel(m.mediaType)),
                h("td", { title: `${m.size} bytes` }, size(m.size)),
                h("td", { class: "muted" }, m.attestation ? (m.annotations?.["vnd.docker.reference.digest"] ? `attestation of ${short(m.annotations["vnd.docker.reference.digest"])}` : "attestation") : m.artifactType || ""),
              ),
            ),
            "platforms",
          ),
        ),
      );
    }
    if (v.kind === "image") {
      const total = (v.layers || []).reduce((a, l) => a + l.size, 0);
      out.push(
        section(
          `Layers (${v.layers.length}, ${size(total)})`,
          table(
            ["#", "Digest", "Media type", "Size"],
            v.layers.map((l, i) =>
              h(
                "tr",
                { "data-digest": l.digest },
                h("td", null, String(i + 1)),
                h("td", null, link({ repo, ref: v.digest, layer: l.digest }, mono(short(l.digest), l.digest))),
                h("td", { class: "wrap" }, mono(l.mediaType)),
                h("td", { title: `${l.size} bytes` }, size(l.size)),
              ),
            ),
            "layers",
          ),
        ),
      );
      if (v.config) out.push(...config(repo, ref, v));
      else if (v.configDescriptor) out.push(section("Config", kv([["Digest", mono(v.configDescriptor.digest)], ["Media type", mono(v.configDescriptor.mediaType)], ["Size", size(v.configDescriptor.size)]])));
    }
    out.push(
      section(
        "Referrers",
        v.referrers.length
          ? table(
              ["Kind", "Artifact type", "Digest", "Size", "Annotations"],
              v.referrers.map((r) =>
                h(
                  "tr",
                  { "data-digest": r.digest },
                  h("td", null, h("span", { class: `pill ${r.kind}` }, r.kind)),
                  h("td", { class: "wrap" }, mono(r.artifactType || r.mediaType)),
                  h("td", null, link({ repo, ref: r.digest }, mono(short(r.digest), r.digest))),
                  h("td", null, size(r.size)),
                  h("td", { class: "wrap" }, r.annotations ? Object.entries(r.annotations).map(([k, x]) => h("div", null, mono(k), " = ", x)) : ""),
                ),
              ),
              "referrers",
            )
          : h("p", { class: "muted" }, v.referrersError ? `Referrers could not be listed: ${v.referrersError}` : "No referrers."),
        v.digestTags.length
          ? h(
              "ul",
              { class: "plain digest-tags" },
              v.digestTags.map((t) => h("li", null, h("span", { class: `pill ${t.kind}` }, t.kind), " ", link({ repo, ref: t.tag }, mono(t.tag)))),
            )
          : null,
      ),
    );
    out.push(h("details", null, h("summary", null, "Manifest JSON"), h("pre", { class: "raw" }, v.raw)));
    if (v.rawConfig) out.push(h("details", null, h("summary", null, "Config JSON"), h("pre", { class: "raw" }, v.rawConfig)));
    show(...out);
  }

  // --- one layer -----------------------------------------------------------------------------------
  const MODE_TYPES = { file: "-", directory: "d", symlink: "l", link: "h", "character-device": "c", "block-device": "b", fifo: "p" };
  function perms(type, mode) {
    const r = ["r", "w", "x"];
    let s = MODE_TYPES[type] || "?";
    for (let i = 8; i >= 0; i--) s += mode & (1 << i) ? r[(8 - i) % 3] : "-";
    return s;
  }

  const ext = (mt) => (!mt ? "" : /gzip/.test(mt) ? ".tar.gz" : /zstd/.test(mt) ? ".tar.zst" : /tar/.test(mt) ? ".tar" : "");

  async function layer(id, repo, ref, digest) {
    setCrumbs([link({}, "Repositories"), link({ repo }, repo), ref ? link({ repo, ref }, ref.includes(":") ? short(ref) : ref) : null, h("span", null, short(digest))].filter(Boolean));
    document.title = `${short(digest)} · ${repo} · tcrane`;
    show(h("p", { class: "muted" }, "Loading…"));
    const params = [["repo", repo], ["digest", digest]];
    if (ref) params.push(["ref", ref]);
    const bi = await api("blob-info", params);
    if (id !== routeId) return;
    const n = bi.size;
    const files = h("div", { class: "files" });
    const blobUrl = new URL("ui/api/blob", document.baseURI);
    blobUrl.searchParams.set("repo", repo);
    blobUrl.searchParams.set("digest", digest);
    const load = async () => {
      files.replaceChildren(h("p", { class: "muted" }, "Reading the layer…"));
      try {
        const l = await api("layer", [["repo", repo], ["digest", digest], ["max", "5000"]]);
        if (id !== routeId) return;
        files.replaceChildren(
          h("p", { class: "muted" }, `${l.entries.length}${l.truncated ? "+" : ""} ${l.entries.length === 1 ? "entry" : "entries"} (${l.compression === "none" ? "uncompressed" : l.compression})`),
          table(
            ["Mode", "Size", "Path"],
            l.entries.map((e) => h("tr", null, h("td", null, mono(perms(e.type, e.mode))), h("td", null, e.type === "file" ? size(e.size) : ""), h("td", { class: "wrap" }, e.path, e.linkname ? ` → ${e.linkname}` : ""))),
            "entries",
          ),
        );
      } catch (err) {
        files.replaceChildren(fail(err));
      }
    };
    const list = h("button", { type: "button" }, "List files");
    list.addEventListener("click", load);
    show(
      h("h1", null, `Layer ${short(digest)}`),
      kv([
        ["Digest", mono(digest)],
        ["Media type", bi.descriptor ? mono(bi.descriptor.mediaType) : undefined],
        ["Size", h("span", { title: `${n} bytes`, class: "layer-size" }, size(n))],
        ["Annotations", bi.descriptor && bi.descriptor.annotations ? annotations(bi.descriptor.annotations) : undefined],
        ["Repository", link({ repo }, repo)],
      ]),
      h("div", { class: "copies" }, copyLine(`tcrane blob ${info.registry}/${repo}@${digest} > ${digest.replace(":", "-")}${ext(bi.descriptor && bi.descriptor.mediaType)}`)),
      h("p", null, h("a", { href: blobUrl.pathname + blobUrl.search, download: digest.replace(":", "-"), class: "button" }, "Download"), " ", list),
      section("Files", files),
    );
    if (n <= 64 << 20) await load();
    else files.replaceChildren(h("p", { class: "muted" }, "Large layer: press List files to read it."));
  }

  // --- routing -------------------------------------------------------------------------------------
  async function route() {
    const id = ++routeId;
    const p = new URLSearchParams(location.hash.slice(1));
    const repo = p.get("repo");
    try {
      if (!repo) await home(id);
      else if (p.get("layer")) await layer(id, repo, p.get("ref") || "", p.get("layer"));
      else if (p.get("ref")) await manifest(id, repo, p.get("ref"));
      else await repository(id, repo);
    } catch (err) {
      if (id === routeId) show(fail(err));
    }
    if (id === routeId) {
      main.dataset.route = repo ? (p.get("layer") ? "layer" : p.get("ref") ? "manifest" : "repository") : "home";
      window.scrollTo(0, 0);
    }
  }

  window.addEventListener("hashchange", route);
  api("info")
    .then((i) => (info = i))
    .catch(() => {})
    .then(() => {
      document.getElementById("registry").textContent = info.registry + (info.mode === "browse" ? " (via tcrane browse)" : "");
      return route();
    });
})();
