"""report.html: one self-contained file (inline CSS, charts as data URIs, no network)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment

from analysis.report.document import Document

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ doc.title }}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1080px; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .8em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; }
td.bad { background: #f8d7da; color: #842029; font-weight: 600; }
nav.toc a { margin-right: .8em; white-space: nowrap; }
.warning { background: #fff3cd; border: 1px solid #e0c36a; padding: .5em 1em; }
.verdict li { margin: .3em 0; }
img { max-width: 100%; border: 1px solid #eee; margin: .5em 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
dt { font-weight: 600; } dd { margin: 0; font-family: ui-monospace, monospace; }
</style></head><body>
<h1>{{ doc.title }}</h1>
{% for w in doc.warnings %}<p class="warning"><strong>Warning:</strong> {{ w }}</p>{% endfor %}
{% macro table(t) %}<table><thead><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr>
</thead><tbody>{% for row in t.rows %}{% set i = loop.index0 %}<tr>{% for c in row %}<td
{%- if (i, loop.index0) in t.bad %} class="bad"{% endif %}>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>{% endmacro %}
{% if doc.overview %}<h2>At a glance</h2>
{{ table(doc.overview) }}
<p>Red: a client p99 of a second or more, errors of 1% or more, any work lost.</p>{% endif %}
<p>{{ doc.floor }}</p>
<nav class="toc"><strong>Scenarios:</strong>
{% for s in doc.sections %}<a href="#{{ s.anchor }}">{{ s.scenario }}</a>{% endfor %}</nav>
<h2>Verdict</h2>
<ul class="verdict">
{% for s in doc.sections %}
<li><a href="#{{ s.anchor }}"><strong>{{ s.scenario }}</strong></a> ({{ s.endpoint }}):
<ul>{% for line in s.verdict %}<li>{{ line }}</li>{% endfor %}</ul></li>
{% endfor %}<li><strong>enumeration</strong>: {{ doc.enumeration_verdict }}</li>
</ul>
{% for s in doc.sections %}
<h2 id="{{ s.anchor }}">{{ s.scenario }} ({{ s.endpoint }})</h2>
{{ table(s.table) }}
{% if s.others %}<p>Other endpoints:</p>{{ table(s.others) }}{% endif %}
{% for c in s.charts %}<figure><img alt="{{ c.title }}" src="{{ images[c.file] }}"></figure>
{% endfor %}{% endfor %}
{% if doc.tickets %}<h2>The ticket job's lesson</h2>
<ul>{% for t in doc.tickets %}<li>{{ t }}</li>{% endfor %}</ul>
{% for c in doc.ticket_charts %}
<figure><img alt="{{ c.title }}" src="{{ images[c.file] }}"></figure>
{% endfor %}{% endif %}
{% if doc.reliability %}<h2>Reliability</h2>
{{ table(doc.reliability) }}
<ul>{% for n in doc.reliability_notes %}<li>{{ n }}</li>{% endfor %}</ul>
{% endif %}
<h2>Account enumeration</h2>
{{ table(doc.enumeration) }}
{% for c in doc.charts %}<figure><img alt="{{ c.title }}" src="{{ images[c.file] }}"></figure>
{% endfor %}
<h2>Run</h2>
<dl>{% for k, v in metadata %}<dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl>
</body></html>
"""


def render_html(doc: Document, run_dir: Path, metadata: list[tuple[str, str]]) -> str:
    files = [c.file for s in doc.sections for c in s.charts] + [c.file for c in doc.charts]
    files += [c.file for c in doc.ticket_charts]
    images = {f: _data_uri(run_dir / f) for f in files}
    environment = Environment(autoescape=True, trim_blocks=True)
    return environment.from_string(TEMPLATE).render(doc=doc, images=images, metadata=metadata)


def run_metadata(meta: dict[str, Any], summary: dict[str, Any]) -> list[tuple[str, str]]:
    keys = ["label", "started_at", "finished_at", "git_sha", "seed", "cpu", "packages", "settings"]
    rows = [(k, _plain(meta.get(k))) for k in keys if k in meta]
    return [*rows, ("analysis", _plain(summary.get("analysis")))]


def _plain(value: Any) -> str:
    """A mapping as `key: value` pairs, not a Python dict's repr."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
