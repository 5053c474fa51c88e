"""Search results in the page: each hit a button that opens its file at that time.

The results come from jobs/search.py (the API's `GET /api/search` is the same call).
Everything shown is escaped; the matched words are wrapped in <mark> from the offsets
the index gives, never from HTML the index produced.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from whisper_ui.jobs.search import Hit
from whisper_ui.ui.view import stamp


def _marked(text: str, marks: Sequence[tuple[int, int]]) -> str:
    out, at = [], 0
    for start, end in marks:
        out.append(html.escape(text[at:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def results_html(query: str, hits: Sequence[Hit] | None, error: str = "") -> str:
    """The results pane: nothing before a search, the reason for a refused query, "no
    match", or one button per hit (file, time, the words around it)."""
    if error:
        return f'<p class="none">{html.escape(error)}</p>'
    if hits is None:
        return ""
    if not hits:
        return f'<p class="none">Nothing found for “{html.escape(query)}”.</p>'
    count = f"{len(hits)} {'match' if len(hits) == 1 else 'matches'}"
    items = "".join(
        f'<li><button type="button" class="hit" data-job="{html.escape(h.job_id, quote=True)}" '
        f'data-t="{h.start:.3f}"><span class="where"><span class="file">'
        f'{html.escape(h.name)}</span><span class="at">{stamp(h.start)}</span></span>'
        f'<span class="snippet">{_marked(h.snippet, h.marks)}</span></button></li>'
        for h in hits
    )
    return f'<p class="count">{count}</p><ul class="hits">{items}</ul>'


RESULTS_JS = """
element.addEventListener('click', (event) => {
  const hit = event.target.closest && event.target.closest('.hit');
  if (!hit) return;
  props.value = JSON.stringify({job: hit.dataset.job, t: +hit.dataset.t, at: Date.now()});
  trigger('click');
});
"""

RESULTS_CSS = """
.count, .none { margin: 4px 0; font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.hits { list-style: none; margin: 0; padding: 0; max-height: 40vh; overflow-y: auto;
  display: flex; flex-direction: column; gap: 4px; }
.hit { width: 100%; text-align: left; cursor: pointer; padding: 6px 10px; border-radius: 8px;
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill);
  color: var(--body-text-color); font: inherit; display: flex; flex-direction: column; gap: 2px; }
.hit:hover, .hit:focus-visible { border-color: var(--color-accent); }
.where { display: flex; gap: 8px; font-size: var(--text-sm); }
.file { font-weight: 600; overflow-wrap: anywhere; }
.at { color: var(--body-text-color-subdued); }
.snippet { overflow-wrap: anywhere; }
.snippet mark { background: #fde68a; color: #1f2937; border-radius: 3px; padding: 0 1px; }
"""
