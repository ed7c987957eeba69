"""The tuning view's page: self-contained, and its embedded data cannot turn into markup."""

from __future__ import annotations

import json
import re
from importlib import resources

from airflow_hpt.ui.app import page_html

HOSTILE = "</script><script>alert('x')</script><!--"


def test_a_failure_reason_with_markup_stays_data() -> None:
    boot = {"api": "/hpt/api/tuning/d/r/t?map_index=-1", "data": {"failure_reason": HOSTILE}, "problem": None}
    html = page_html(boot)
    assert "alert('x')</script>" not in html
    (embedded,) = re.findall(r'<script id="boot" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert json.loads(embedded) == boot


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = resources.files("airflow_hpt.ui").joinpath("page.html").read_text(encoding="utf-8")
    # the only URL is SVG's namespace name, which is never fetched
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    # every text from the data goes in as text (textContent, text nodes), never as HTML
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page and "document.write" not in page
