import Mustache

/// The catalog's page templates (Mustache), compiled into the binary so that a deployed
/// `larder` needs no files beside it. Every value goes through `{{ }}`, which escapes it for
/// HTML (text and quoted attributes alike); the only triple braces insert SVG that
/// ``SVGPlot`` drew and escaped itself.
enum CatalogTemplates {
    /// The library holding every template, parsed once.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in texts {
            // The texts are constants of this file: a parse error is a defect a test catches.
            do { try library.register(text, named: name) } catch { fatalError("catalog template \(name): \(error)") }
        }
        return library
    }()

    static let texts: [String: String] = [
        "header": header, "footer": footer, "home": home, "search": search, "feature": feature, "view": view,
        "service": service, "source": source, "entity": entity, "error": error, "login": login, "tags": tags, "history": history,
    ]

    /// One small stylesheet, inline: no other request per page.
    static let style = #"""
        :root{--fg:#1f2933;--muted:#5f6b7a;--line:#dde3ea;--soft:#f5f7fa;--accent:#2b6cb0;--warn:#9c4221;--warnbg:#fff8eb}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;color:var(--fg);background:#fff}
        a{color:var(--accent);text-decoration:none}
        a:hover{text-decoration:underline}
        header.top{background:var(--soft);border-bottom:1px solid var(--line)}
        header.top .bar{max-width:74rem;margin:0 auto;padding:.55rem 1.25rem;display:flex;gap:.9rem;align-items:center;flex-wrap:wrap}
        header.top .home{font-weight:650;color:var(--fg)}
        header.top .project{color:var(--muted);font-size:.9rem}
        header.top form.search{display:flex;gap:.4rem;margin-left:auto}
        header.top form.logout{margin:0}
        input,select,button{font:inherit;font-size:.95rem}
        input[type=search],input[type=text],input[type=password],select{padding:.28rem .5rem;border:1px solid #c3ced9;border-radius:4px;background:#fff;color:var(--fg)}
        input[type=search]{width:16rem}
        button{padding:.28rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;cursor:pointer}
        button.plain{background:none;color:var(--accent);border-color:#c3ced9}
        main{max-width:74rem;margin:0 auto;padding:1.1rem 1.25rem 2rem}
        h1{font-size:1.55rem;margin:.1rem 0 .2rem;font-weight:650;word-break:break-word}
        h2{font-size:1.08rem;margin:2rem 0 .6rem;padding-bottom:.25rem;border-bottom:1px solid var(--line);font-weight:650}
        .kind{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.05em}
        .lede{color:var(--muted);margin:.2rem 0 1rem;max-width:48rem}
        .crumbs{font-size:.9rem;color:var(--muted)}
        table{border-collapse:collapse;width:100%;margin:.3rem 0}
        th,td{text-align:left;padding:.38rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
        th{font-weight:600;font-size:.82rem;color:var(--muted);white-space:nowrap}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        td.nowrap{white-space:nowrap}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1.4rem;margin:.6rem 0}
        dl.facts dt{color:var(--muted)}
        dl.facts dd{margin:0;word-break:break-word}
        .tag{display:inline-block;background:var(--soft);border:1px solid var(--line);border-radius:3px;padding:0 .35rem;margin:0 .25rem .15rem 0;font-size:.83rem;color:var(--fg)}
        code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86rem}
        pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:.75rem .9rem;overflow-x:auto;line-height:1.45}
        .counts{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.7rem;margin:1rem 0 .5rem}
        .counts a{display:block;border:1px solid var(--line);border-radius:6px;padding:.55rem .8rem;color:var(--fg)}
        .counts a:hover{border-color:var(--accent);text-decoration:none}
        .counts .n{font-size:1.55rem;font-weight:650;display:block;line-height:1.2}
        .counts .l{color:var(--muted);font-size:.85rem}
        .alert{background:var(--warnbg);border-left:4px solid #dd6b20;padding:.45rem .8rem;margin:.45rem 0}
        .status{font-size:.76rem;font-weight:650;text-transform:uppercase;letter-spacing:.04em;color:var(--warn);margin-right:.4rem}
        .ok{color:#276749}
        .muted{color:var(--muted)}
        .empty{color:var(--muted);font-style:italic;margin:.3rem 0}
        .filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end;margin:.6rem 0 1rem}
        .filters label{display:flex;flex-direction:column;font-size:.82rem;color:var(--muted);gap:.15rem}
        figure{margin:.6rem 0 1rem}
        figcaption{color:var(--muted);font-size:.85rem;margin-top:.2rem}
        svg{max-width:100%;height:auto}
        svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:12px;fill:#1f2933}
        svg .tick-label{fill:#5f6b7a}
        svg .axis-label{fill:#5f6b7a;font-size:12px}
        svg .axis{stroke:#8a96a3;fill:none}
        svg .grid{stroke:#e6ebf0}
        svg .tick{stroke:#8a96a3}
        svg .bar{fill:#6b9bc8}
        svg .line{fill:none;stroke:#2b6cb0;stroke-width:2}
        svg .point{fill:#2b6cb0}
        svg .guide{stroke:#c05621;stroke-dasharray:4 4}
        svg .guide-label{fill:#c05621;font-size:11px}
        .stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.5rem .9rem;margin:.6rem 0}
        .stats div{border-left:3px solid var(--line);padding:.1rem .6rem}
        .stats .k{display:block;color:var(--muted);font-size:.8rem}
        .stats .v{font-variant-numeric:tabular-nums;word-break:break-word}
        svg.lineage .node rect{fill:#fff;stroke:#a7b6c6;stroke-width:1.4}
        svg.lineage .node.current rect{fill:#ebf3fb;stroke:#2b6cb0;stroke-width:2}
        svg.lineage a:hover rect{stroke:#2b6cb0}
        svg.lineage .node-kind{fill:#5f6b7a;font-size:11px}
        svg.lineage .node-name{font-weight:600;fill:#1f2933}
        svg.lineage .edge{fill:none;stroke:#8a96a3;stroke-width:1.4}
        svg.lineage .arrowhead{fill:#8a96a3}
        svg.lineage .column-title{fill:#5f6b7a;font-weight:600}
        .login{max-width:24rem;margin:3rem auto}
        .login form{display:flex;flex-direction:column;gap:.6rem}
        .error{color:#b42318}
        footer{max-width:74rem;margin:0 auto;padding:0 1.25rem 2rem;color:var(--muted);font-size:.82rem}
        """#

    static let header = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{#layout}}{{title}}{{/layout}} · Larder catalog</title>
        <style>
        """# + style + #"""
            </style>
            </head>
            <body>
            {{#layout}}
            <header class="top"><div class="bar">
            <a class="home" href="/ui">Larder catalog</a>
            {{#project}}<span class="project">project {{project}}</span>{{/project}}
            {{#showSearch}}
            <form class="search" method="get" action="/ui/search" role="search">
            <input type="search" name="q" value="{{query}}" placeholder="Search features" aria-label="Search features">
            <button type="submit">Search</button>
            </form>
            {{/showSearch}}
            {{#loggedIn}}<form class="logout" method="post" action="/ui/logout"><button class="plain" type="submit">Log out</button></form>{{/loggedIn}}
            </div></header>
            {{/layout}}
            <main>
            """#

    static let footer = #"""
        </main>
        <footer>{{#layout}}{{#generatedAt}}As of {{generatedAt}} · {{/generatedAt}}{{/layout}}Larder feature catalog · the same answers as JSON under <code>GET /v1/catalog</code></footer>
        </body>
        </html>
        """#

    /// `tags`: `{key, value, url}` as links to the search for each.
    static let tags = #"{{#tags}}<a class="tag" href="{{url}}">{{key}}={{value}}</a>{{/tags}}"#

    /// `history`: the changes of a definition, newest first.
    static let history = #"""
        <h2 id="history">History</h2>
        {{^empty(history)}}
        <table>
        <thead><tr><th>Applied</th><th class="num">Version</th><th>Change</th><th>What changed</th></tr></thead>
        <tbody>
        {{#history}}
        <tr><td class="nowrap">{{appliedAt}}</td><td class="num">v{{version}}</td><td>{{change}}</td><td>{{#details}}<div>{{.}}</div>{{/details}}{{^details}}<span class="muted">—</span>{{/details}}</td></tr>
        {{/history}}
        </tbody>
        </table>
        {{/empty(history)}}
        {{^history}}<p class="empty">No applied change recorded.</p>{{/history}}
        """#

    static let home = #"""
        {{> header}}
        <h1>Feature catalog</h1>
        <p class="lede">Every definition this service serves, with its standing in the registry and what the offline store holds for it.</p>
        <div class="counts">
        {{#counts}}<a href="{{url}}"><span class="n">{{number}}</span><span class="l">{{label}}</span></a>{{/counts}}
        </div>

        <h2 id="attention">Views needing attention</h2>
        {{#alerts}}
        <div class="alert"><span class="status">{{status}}</span><a href="{{url}}">{{view}}</a>: {{reason}}</div>
        {{/alerts}}
        {{^alerts}}<p class="empty ok">None: every view is current and fresh.</p>{{/alerts}}

        <h2 id="applies">Recent applies</h2>
        {{^empty(applies)}}
        <table>
        <thead><tr><th>Applied</th><th>Definition</th><th class="num">Version</th><th>Change</th><th>What changed</th></tr></thead>
        <tbody>
        {{#applies}}
        <tr><td class="nowrap">{{appliedAt}}</td><td><span class="muted">{{kind}}</span> {{#url}}<a href="{{url}}">{{name}}</a>{{/url}}{{^url}}{{name}}{{/url}}</td><td class="num">v{{version}}</td><td>{{change}}</td><td>{{#details}}<div>{{.}}</div>{{/details}}</td></tr>
        {{/applies}}
        </tbody>
        </table>
        {{/empty(applies)}}
        {{^applies}}<p class="empty">Nothing applied yet: run <code>larder apply</code>.</p>{{/applies}}

        <h2 id="runs">Recent materialization runs</h2>
        {{^empty(runs)}}
        <table>
        <thead><tr><th>Finished</th><th>View</th><th class="num">Version</th><th class="num">Rows</th><th>Kind</th><th>Newest event when it ran</th></tr></thead>
        <tbody>
        {{#runs}}
        <tr><td class="nowrap">{{finishedAt}}</td><td><a href="{{url}}">{{view}}</a></td><td class="num">v{{version}}</td><td class="num">{{rows}}</td><td>{{mode}}</td><td>{{freshness}}</td></tr>
        {{/runs}}
        </tbody>
        </table>
        {{/empty(runs)}}
        {{^runs}}<p class="empty">No view has been materialized yet: run <code>larder materialize</code>.</p>{{/runs}}

        {{#sections}}
        <h2 id="{{id}}">{{title}}</h2>
        {{^empty(entries)}}
        <table>
        <thead><tr><th>Name</th><th>Description</th><th>Owner</th><th class="num">Version</th></tr></thead>
        <tbody>
        {{#entries}}
        <tr><td><a href="{{url}}">{{name}}</a></td><td>{{description}}</td><td>{{owner}}</td><td class="num">{{version}}</td></tr>
        {{/entries}}
        </tbody>
        </table>
        {{/empty(entries)}}
        {{^entries}}<p class="empty">None.</p>{{/entries}}
        {{/sections}}
        {{> footer}}
        """#

    static let search = #"""
        {{> header}}
        <h1>Search features</h1>
        <form class="filters" method="get" action="/ui/search">
        <label>Text in name or description<input type="search" name="q" value="{{q}}"></label>
        <label>Tag (key=value)<input type="text" name="tag" value="" placeholder="team=ranking"></label>
        <label>Owner<input type="text" name="owner" value="{{owner}}"></label>
        <label>Type<select name="type">{{#types}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/types}}</select></label>
        {{#activeTags}}<input type="hidden" name="tag" value="{{text}}">{{/activeTags}}
        <button type="submit">Search</button>
        </form>
        {{^empty(activeTags)}}<p>Tags: {{#activeTags}}<span class="tag">{{text}} <a href="{{removeURL}}" aria-label="Remove tag {{text}}">×</a></span>{{/activeTags}}</p>{{/empty(activeTags)}}
        {{#problem}}<p class="error">{{problem}}</p>{{/problem}}
        <p class="muted">{{summary}}</p>
        {{^empty(features)}}
        <table>
        <thead><tr><th>Feature</th><th>View</th><th>Kind</th><th>Type</th><th>Description</th><th>Owner</th><th>Tags</th></tr></thead>
        <tbody>
        {{#features}}
        <tr><td><a href="{{url}}">{{name}}</a></td><td><a href="{{viewURL}}">{{view}}</a></td><td class="nowrap">{{kind}}</td><td><code>{{type}}</code></td><td>{{description}}</td><td>{{owner}}</td><td>{{> tags}}</td></tr>
        {{/features}}
        </tbody>
        </table>
        {{/empty(features)}}
        {{^empty(definitions)}}
        <h2>Other definitions</h2>
        <table>
        <thead><tr><th>Kind</th><th>Name</th><th>Description</th><th>Owner</th></tr></thead>
        <tbody>
        {{#definitions}}<tr><td class="muted">{{kind}}</td><td><a href="{{url}}">{{name}}</a></td><td>{{description}}</td><td>{{owner}}</td></tr>{{/definitions}}
        </tbody>
        </table>
        {{/empty(definitions)}}
        {{> footer}}
        """#

    static let feature = #"""
        {{> header}}
        <div class="crumbs"><a href="{{viewURL}}">{{view}}</a> /</div>
        <div class="kind">{{kindLabel}}</div>
        <h1>{{name}}</h1>
        {{#description}}<p class="lede">{{description}}</p>{{/description}}
        <dl class="facts">
        <dt>Reference</dt><dd><code>{{reference}}</code></dd>
        <dt>View</dt><dd><a href="{{viewURL}}">{{view}}</a> <span class="muted">({{viewKind}}{{#version}}, v{{version}}{{/version}})</span></dd>
        <dt>Type</dt><dd><code>{{type}}</code></dd>
        <dt>Owner</dt><dd>{{owner}}{{^owner}}<span class="muted">—</span>{{/owner}}</dd>
        <dt>Tags</dt><dd>{{> tags}}{{^tags}}<span class="muted">—</span>{{/tags}}</dd>
        <dt>Computed</dt><dd>{{transformation}}</dd>
        {{#aggregation}}<dt>Window</dt><dd>{{function}} of {{input}} over {{window}}, hop {{hop}}</dd>{{/aggregation}}
        <dt>Inputs</dt><dd>{{#inputs}}<div>{{#url}}<a href="{{url}}">{{key}}</a>{{/url}}{{^url}}{{key}}{{/url}} <code>{{type}}</code> <span class="muted">{{role}}</span></div>{{/inputs}}{{^inputs}}<span class="muted">the events themselves</span>{{/inputs}}</dd>
        <dt>Used by services</dt><dd>{{#services}}<a href="{{url}}">{{name}}</a>{{^last()}}, {{/last()}}{{/services}}{{^services}}<span class="muted">none</span>{{/services}}</dd>
        <dt>Read by</dt><dd>{{#readBy}}<a href="{{url}}">{{name}}</a>{{^last()}}, {{/last()}}{{/readBy}}{{^readBy}}<span class="muted">no other feature</span>{{/readBy}}</dd>
        </dl>

        {{#isViewFeature}}
        <h2 id="statistics">Statistics</h2>
        {{#statistics}}
        <p class="muted">{{runLabel}}{{#referenceLabel}} Drift is measured against {{referenceLabel}}.{{/referenceLabel}}</p>
        {{^empty(summary)}}<div class="stats">{{#summary}}<div><span class="k">{{name}}</span><span class="v">{{value}}</span></div>{{/summary}}</div>{{/empty(summary)}}
        {{^empty(quantiles)}}
        <table>
        <thead><tr>{{#quantiles}}<th class="num">{{name}}</th>{{/quantiles}}</tr></thead>
        <tbody><tr>{{#quantiles}}<td class="num">{{value}}</td>{{/quantiles}}</tr></tbody>
        </table>
        {{/empty(quantiles)}}
        {{^empty(topValues)}}
        <table>
        <thead><tr><th>Most frequent value</th><th class="num">Count</th></tr></thead>
        <tbody>{{#topValues}}<tr><td><code>{{name}}</code></td><td class="num">{{value}}</td></tr>{{/topValues}}</tbody>
        </table>
        {{/empty(topValues)}}
        {{#histogramSVG}}<figure>{{{histogramSVG}}}<figcaption>Histogram of the values after the newest run.</figcaption></figure>{{/histogramSVG}}
        {{#driftSVG}}<figure>{{{driftSVG}}}<figcaption>Population stability index of each run against the reference: under 0.1 little change, 0.1 to 0.25 a moderate shift, above 0.25 a large one.</figcaption></figure>{{/driftSVG}}
        {{^empty(drift)}}
        <table>
        <thead><tr><th class="num">Run</th><th>Finished</th><th class="num">Drift (PSI)</th></tr></thead>
        <tbody>{{#drift}}<tr><td class="num">{{run}}</td><td class="nowrap">{{finishedAt}}</td><td class="num">{{psi}}</td></tr>{{/drift}}</tbody>
        </table>
        {{/empty(drift)}}
        {{/statistics}}
        {{^statistics}}<p class="empty">{{noStatistics}}</p>{{/statistics}}
        {{/isViewFeature}}

        <h2 id="code">Transformation</h2>
        {{#code}}<pre><code>{{code}}</code></pre>{{#codeHash}}<p class="muted">Code hash <code>{{codeHash}}</code>: editing this call’s code (not its comments or layout) makes a new version of the view.</p>{{/codeHash}}{{/code}}
        {{^code}}<p class="empty">{{noCode}}</p>{{/code}}
        {{> history}}
        {{> footer}}
        """#

    static let view = #"""
        {{> header}}
        <div class="kind">{{kindLabel}}</div>
        <h1>{{name}}</h1>
        {{#description}}<p class="lede">{{description}}</p>{{/description}}
        {{#alerts}}<div class="alert"><span class="status">{{status}}</span>{{reason}}</div>{{/alerts}}
        <dl class="facts">
        {{#entity}}<dt>Entity</dt><dd><a href="{{url}}">{{name}}</a> <span class="muted">keyed by {{keys}}</span></dd>{{/entity}}
        {{#source}}<dt>Source</dt><dd><a href="{{url}}">{{name}}</a></dd>{{/source}}
        {{#ttl}}<dt>Time to live</dt><dd>{{ttl}}</dd>{{/ttl}}
        {{^empty(reads)}}<dt>Reads</dt><dd>{{#reads}}<div><a href="{{url}}">{{name}}</a></div>{{/reads}}</dd>{{/empty(reads)}}
        {{^empty(requestFields)}}<dt>Request fields</dt><dd>{{#requestFields}}<div>{{name}} <code>{{type}}</code></div>{{/requestFields}}</dd>{{/empty(requestFields)}}
        <dt>Version</dt><dd>{{version}} <span class="muted">({{registration}})</span></dd>
        <dt>Owner</dt><dd>{{owner}}{{^owner}}<span class="muted">—</span>{{/owner}}</dd>
        <dt>Tags</dt><dd>{{> tags}}{{^tags}}<span class="muted">—</span>{{/tags}}</dd>
        <dt>Used by services</dt><dd>{{#services}}<a href="{{url}}">{{name}}</a>{{^last()}}, {{/last()}}{{/services}}{{^services}}<span class="muted">none</span>{{/services}}</dd>
        </dl>

        <h2 id="features">Features</h2>
        <table>
        <thead><tr><th>Feature</th><th>Kind</th><th>Type</th><th>Window</th><th>Description</th><th>Tags</th></tr></thead>
        <tbody>
        {{#features}}
        <tr><td><a href="{{url}}">{{name}}</a></td><td class="nowrap">{{kind}}</td><td><code>{{type}}</code></td><td class="nowrap">{{window}}</td><td>{{description}}</td><td>{{> tags}}</td></tr>
        {{/features}}
        </tbody>
        </table>

        <h2 id="lineage">Lineage</h2>
        <figure>{{{lineageSVG}}}<figcaption>Where the data comes from and where it goes: source → feature view → on-demand views → feature services. Each box links to its page.</figcaption></figure>

        {{#isFeatureView}}
        <h2 id="freshness">Freshness</h2>
        {{#materialization}}
        <dl class="facts">
        <dt>Materialized range</dt><dd>{{start}} to {{end}}</dd>
        <dt>Watermark</dt><dd>source rows up to <code>_seq</code> {{seqWatermark}}</dd>
        <dt>Newest materialized event</dt><dd>{{newestEvent}}</dd>
        <dt>Last materialized</dt><dd>{{updatedAt}}</dd>
        <dt>Online</dt><dd>{{online}}</dd>
        </dl>
        {{/materialization}}
        {{^materialization}}<p class="empty">Never materialized{{#version}}: run <code>larder materialize --views {{name}}</code>{{/version}}.</p>{{/materialization}}
        {{#freshnessSVG}}<figure>{{{freshnessSVG}}}<figcaption>Age of the newest materialized event when each run finished.</figcaption></figure>{{/freshnessSVG}}

        <h2 id="runs">Materialization runs</h2>
        {{^empty(runs)}}
        <table>
        <thead><tr><th class="num">Run</th><th>Finished</th><th class="num">Version</th><th class="num">Rows</th><th>Kind</th><th>Newest event</th><th>Its age then</th></tr></thead>
        <tbody>
        {{#runs}}<tr><td class="num">{{id}}</td><td class="nowrap">{{finishedAt}}</td><td class="num">v{{version}}</td><td class="num">{{rows}}</td><td>{{mode}}</td><td class="nowrap">{{newestEvent}}</td><td>{{age}}</td></tr>{{/runs}}
        </tbody>
        </table>
        {{/empty(runs)}}
        {{^runs}}<p class="empty">No run recorded.</p>{{/runs}}
        {{/isFeatureView}}
        {{> history}}
        {{> footer}}
        """#

    static let service = #"""
        {{> header}}
        <div class="kind">feature service</div>
        <h1>{{name}}</h1>
        {{#description}}<p class="lede">{{description}}</p>{{/description}}
        <dl class="facts">
        <dt>Version</dt><dd>{{version}}</dd>
        <dt>Owner</dt><dd>{{owner}}{{^owner}}<span class="muted">—</span>{{/owner}}</dd>
        <dt>Tags</dt><dd>{{> tags}}{{^tags}}<span class="muted">—</span>{{/tags}}</dd>
        <dt>Views</dt><dd>{{#views}}<a href="{{url}}">{{name}}</a>{{^last()}}, {{/last()}}{{/views}}</dd>
        <dt>Join keys</dt><dd>{{#joinKeys}}<div>{{name}} <code>{{type}}</code></div>{{/joinKeys}}{{^joinKeys}}<span class="muted">none</span>{{/joinKeys}}</dd>
        <dt>Request fields</dt><dd>{{#requestFields}}<div>{{name}} <code>{{type}}</code></div>{{/requestFields}}{{^requestFields}}<span class="muted">none</span>{{/requestFields}}</dd>
        </dl>

        <h2 id="features">Features</h2>
        <table>
        <thead><tr><th>#</th><th>Feature</th><th>View</th><th>Kind</th><th>Type</th><th>Description</th></tr></thead>
        <tbody>
        {{#features}}<tr><td class="num muted">{{position}}</td><td><a href="{{url}}">{{name}}</a></td><td><a href="{{viewURL}}">{{view}}</a></td><td class="nowrap">{{kind}}</td><td><code>{{type}}</code></td><td>{{description}}</td></tr>{{/features}}
        </tbody>
        </table>

        <h2 id="call">Call it</h2>
        <p>Look the features up for one entity with <code>POST /v1/features</code>{{#authorization}} (the token in <code>$LARDER_API_TOKEN</code>){{/authorization}}:</p>
        <pre><code>{{curl}}</code></pre>
        {{> history}}
        {{> footer}}
        """#

    static let source = #"""
        {{> header}}
        <div class="kind">source</div>
        <h1>{{name}}</h1>
        {{#description}}<p class="lede">{{description}}</p>{{/description}}
        <dl class="facts">
        <dt>Rows</dt><dd>{{rowCount}}</dd>
        <dt>Table</dt><dd><code>{{table}}</code></dd>
        <dt>Version</dt><dd>{{version}}</dd>
        <dt>Owner</dt><dd>{{owner}}{{^owner}}<span class="muted">—</span>{{/owner}}</dd>
        <dt>Tags</dt><dd>{{> tags}}{{^tags}}<span class="muted">—</span>{{/tags}}</dd>
        <dt>Read by</dt><dd>{{#views}}<a href="{{url}}">{{name}}</a>{{^last()}}, {{/last()}}{{/views}}{{^views}}<span class="muted">no view</span>{{/views}}</dd>
        </dl>

        <h2 id="schema">Schema</h2>
        <table>
        <thead><tr><th>Column</th><th>Type</th><th>Nullable</th><th>Role</th></tr></thead>
        <tbody>
        {{#columns}}<tr><td><code>{{name}}</code></td><td><code>{{type}}</code></td><td>{{#nullable}}yes{{/nullable}}{{^nullable}}no{{/nullable}}</td><td>{{role}}</td></tr>{{/columns}}
        </tbody>
        </table>

        <h2 id="ingests">Recent ingests</h2>
        {{^empty(ingests)}}
        <table>
        <thead><tr><th>Finished</th><th>File</th><th class="num">Rows</th><th class="num">Seconds</th><th><code>_seq</code></th></tr></thead>
        <tbody>
        {{#ingests}}<tr><td class="nowrap">{{finishedAt}}</td><td><code>{{file}}</code></td><td class="num">{{rows}}</td><td class="num">{{seconds}}</td><td>{{sequences}}</td></tr>{{/ingests}}
        </tbody>
        </table>
        {{/empty(ingests)}}
        {{^ingests}}<p class="empty">Nothing ingested yet: run <code>larder ingest {{name}} FILE</code> or push rows.</p>{{/ingests}}
        {{> history}}
        {{> footer}}
        """#

    static let entity = #"""
        {{> header}}
        <div class="kind">entity</div>
        <h1>{{name}}</h1>
        {{#description}}<p class="lede">{{description}}</p>{{/description}}
        <dl class="facts">
        <dt>Version</dt><dd>{{version}}</dd>
        <dt>Owner</dt><dd>{{owner}}{{^owner}}<span class="muted">—</span>{{/owner}}</dd>
        <dt>Tags</dt><dd>{{> tags}}{{^tags}}<span class="muted">—</span>{{/tags}}</dd>
        </dl>
        <h2 id="keys">Join keys</h2>
        <table>
        <thead><tr><th>Key</th><th>Type</th></tr></thead>
        <tbody>{{#joinKeys}}<tr><td><code>{{name}}</code></td><td><code>{{type}}</code></td></tr>{{/joinKeys}}</tbody>
        </table>
        <h2 id="views">Feature views keyed by it</h2>
        {{^empty(views)}}
        <table>
        <thead><tr><th>View</th><th>Description</th><th>Owner</th></tr></thead>
        <tbody>{{#views}}<tr><td><a href="{{url}}">{{name}}</a></td><td>{{description}}</td><td>{{owner}}</td></tr>{{/views}}</tbody>
        </table>
        {{/empty(views)}}
        {{^views}}<p class="empty">No feature view is keyed by it.</p>{{/views}}
        {{> footer}}
        """#

    static let error = #"""
        {{> header}}
        <div class="kind">{{status}}</div>
        <h1>{{heading}}</h1>
        <p>{{message}}</p>
        <p><a href="/ui">Back to the catalog</a></p>
        {{> footer}}
        """#

    static let login = #"""
        {{> header}}
        <div class="login">
        <h1>Sign in</h1>
        <p class="muted">This service needs its API token (<code>serve.api_token</code>).</p>
        {{#problem}}<p class="error" role="alert">{{problem}}</p>{{/problem}}
        <form method="post" action="/ui/login">
        <label for="token">Token</label>
        <input id="token" type="password" name="token" autocomplete="current-password" required autofocus>
        <input type="hidden" name="next" value="{{next}}">
        <button type="submit">Sign in</button>
        </form>
        </div>
        {{> footer}}
        """#
}
