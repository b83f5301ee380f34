"""The page of an HTML report: sections of paragraphs, tables, figures and code, rendered with Jinja2.

The page is one self-contained file: its CSS is inline, its images are ``data:`` URIs (PNG, base64), and
a Content-Security-Policy forbids every other load, so it opens the same offline, from an e-mail or an
archive. Jinja2's autoescaping escapes every text that comes from a run (names, config values, class
labels).
"""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchlab.errors import ConfigError

__all__ = [
    "Code",
    "Facts",
    "Image",
    "Page",
    "Section",
    "Table",
    "Text",
    "cell",
    "image_from_file",
    "render_page",
    "rows_table",
    "table_from_rich",
]


@dataclass(frozen=True)
class Text:
    """A paragraph (or, with ``items``, a bulleted list)."""

    text: str = ""
    items: tuple[str, ...] = ()
    kind: str = "text"


@dataclass(frozen=True)
class Facts:
    """Name/value pairs shown as a two-column list (the run's status, the fitted critical batch...)."""

    pairs: tuple[tuple[str, str], ...]
    kind: str = "facts"


@dataclass(frozen=True)
class Table:
    """A table of ``rows`` under ``columns``; cells are already formatted text. ``note`` goes below it."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    note: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class Image:
    """A PNG embedded as a ``data:`` URI, with its alternative text and caption."""

    data_uri: str
    alt: str
    caption: str = ""
    kind: str = "image"


@dataclass(frozen=True)
class Code:
    """Preformatted text (the config as YAML)."""

    text: str
    kind: str = "code"


@dataclass
class Section:
    """A titled part of the page (``anchor`` is its id, for the table of contents)."""

    title: str
    anchor: str
    blocks: list[Text | Facts | Table | Image | Code] = field(default_factory=list)


@dataclass
class Page:
    """A whole report: its title, a one-line subtitle, the sections in order."""

    title: str
    subtitle: str
    kind: str
    sections: list[Section] = field(default_factory=list)


def image_from_file(path: str | Path, alt: str, caption: str = "") -> Image:
    """Embed the PNG file ``path`` (as written by the plot functions) as an :class:`Image`."""
    data = Path(path).read_bytes()
    return Image("data:image/png;base64," + base64.b64encode(data).decode("ascii"), alt, caption)


def render_page(page: Page, *, generated: _dt.datetime | None = None) -> str:
    """The page as one HTML document (UTF-8 text).

    Args:
        page: what to show.
        generated: the time printed in the footer (default now, UTC).

    Raises:
        ConfigError: Jinja2 is not installed (``pip install 'batchlab[report]'``).
    """
    try:
        import jinja2
    except ImportError:
        raise ConfigError("--html needs Jinja2: pip install 'batchlab[report]'") from None
    from batchlab.version import VERSION as __version__

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
    template = environment.from_string(_TEMPLATE)
    when = generated or _dt.datetime.now(_dt.timezone.utc)
    return template.render(page=page, css=_CSS, version=__version__, generated=when.strftime("%Y-%m-%d %H:%M:%S UTC"))


def rows_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    caption: str = "",
    limit: int | None = None,
) -> Table:
    """A :class:`Table` of dict rows: the given columns (default: every key, in first-seen order), numbers
    to four significant digits, missing values as ``-``; at most ``limit`` rows, saying so below."""
    if columns is None:
        names: list[str] = []
        for row in rows:
            names.extend(k for k in row if k not in names)
        columns = names
    shown = rows if limit is None else rows[:limit]
    note = f"The first {len(shown):,} of {len(rows):,} rows." if len(shown) < len(rows) else ""
    return Table(
        tuple(columns),
        tuple(tuple(cell(row.get(c)) for c in columns) for row in shown),
        caption=caption,
        note=note,
    )


def table_from_rich(table: Any, *, note: str = "") -> Table:
    """The same table as a terminal one (a ``rich.table.Table``), so the page and the terminal agree.

    Markup in cells (``[red]FAIL[/]``) becomes plain text; line breaks in headers become spaces.
    """
    from rich.text import Text as RichText

    def plain(value: Any) -> str:
        if isinstance(value, RichText):
            return value.plain
        return RichText.from_markup(str(value)).plain if isinstance(value, str) else str(value)

    columns = [" ".join(plain(column.header).split()) for column in table.columns]
    cells = [[plain(v) for v in column.cells] for column in table.columns]
    rows = tuple(zip(*cells, strict=True)) if cells else ()
    caption = plain(table.title) if table.title else ""
    return Table(tuple(columns), tuple(tuple(r) for r in rows), caption=caption, note=note)


def cell(value: Any) -> str:
    """A value as table text: integers with thousands separators, floats to 4 significant digits."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    return str(value)


_CSS = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6678; --line: #d8dee8; --band: #f4f6fa; --accent: #2f5fb3; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.subtitle { color: var(--muted); margin: 0 0 16px; }
nav { background: var(--band); padding: 8px 12px; border-radius: 6px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; margin: 6px 0; }
.scroll { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; }
th { background: var(--band); position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 6px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption, .note { color: var(--muted); font-size: 13px; }
p { white-space: pre-line; }
pre { background: var(--band); padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 12.5px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="batchlab {{ version }}">
<title>{{ page.title }}</title>
<style>{{ css }}</style>
</head>
<body data-report="{{ page.kind }}">
<h1>{{ page.title }}</h1>
<p class="subtitle">{{ page.subtitle }}</p>
<nav>{% for section in page.sections %}<a href="#{{ section.anchor }}">{{ section.title }}</a>{% endfor %}</nav>
{% for section in page.sections %}
<section id="{{ section.anchor }}">
<h2>{{ section.title }}</h2>
{% for block in section.blocks %}
{% if block.kind == "text" %}
{% if block.text %}<p>{{ block.text }}</p>{% endif %}
{% if block.items %}<ul>{% for item in block.items %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}
{% elif block.kind == "facts" %}
<dl class="facts">{% for name, value in block.pairs %}<dt>{{ name }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
{% elif block.kind == "table" %}
<div class="scroll"><table>
{% if block.caption %}<caption>{{ block.caption }}</caption>{% endif %}
<thead><tr>{% for column in block.columns %}<th>{{ column }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in block.rows %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>
{% if block.note %}<p class="note">{{ block.note }}</p>{% endif %}
{% elif block.kind == "image" %}
<figure><img src="{{ block.data_uri }}" alt="{{ block.alt }}">
{% if block.caption %}<figcaption>{{ block.caption }}</figcaption>{% endif %}</figure>
{% elif block.kind == "code" %}
<pre>{{ block.text }}</pre>
{% endif %}
{% endfor %}
</section>
{% endfor %}
<footer>Written by batchlab {{ version }} on {{ generated }}. Self-contained: it loads nothing from the network.
</footer>
</body>
</html>
"""
