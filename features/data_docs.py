"""Great Expectations Data Docs that render with no network.

GX 1.24's page templates load their look and behaviour from content delivery networks:
bootstrap 4.3.1 (CSS and JS), jQuery 3.7.1, popper.js, bootstrap-table 1.19 with its
filter-control extension, bootstrap-datepicker, bootstrap-dark, Font Awesome 6.6 and vega 5
(`render/view/templates/js_script_imports.j2`, `page.j2`, `index_page.j2`, `page_minimal.j2`),
and the logo from an S3 bucket (`top_navbar.j2`). Opened without a network, the index page is
an empty frame: its two tables are filled in by bootstrap-table from data in a script.

No installed package ships those assets (none of the project's Python dependencies carries
bootstrap, jQuery, bootstrap-table or vega; Debian's jQuery is not something the project can
rely on), and the project does not vendor copies of them. So the pages are rendered with the
references stripped, through GX's own extension points: a site's section and index builders
take a `view` class by `module_name`, and a project's `plugins/` folder is on `sys.path`.
`OfflinePageView` and `OfflineIndexPageView` are GX's page views with these templates put
first, made at import time from the installed GX templates themselves:

- `js_script_imports.j2`, `page.j2`, `index_page.j2`, `page_minimal.j2`: the packaged
  templates with every `<script src="http...">` and `<link href="http...">` removed;
- `top_navbar.j2` and `favicon.j2`: the logo and the icon from the site's own
  `static/images/` (GX copies them there), at the one depth `STATIC_IMAGES_DIR` gives per kind
  of page (GX 1.24's `favicon.j2` points validation pages one folder too shallow, and its
  navbar's local depths only apply to a logo it then loads from S3); the logo's address
  without GX's `?d=<time>&dataContextId=<id>` suffix;
- `data_docs_default_styles.css`: the packaged stylesheet without its dark-theme rule that
  hides the logo and draws one from S3 instead;
- `bootstrap_table.j2`: the tables written as plain HTML rows (the index's validation runs and
  suites, with a link to each run page) instead of data for bootstrap-table to render;
- `data_docs_custom_styles.css` (which every page inlines): a short stylesheet of our own
  (tables with borders, the hidden dialog and tooltips kept hidden, success and failure marks
  in place of the Font Awesome icons).

What is lost offline: sorting and filtering of the index tables, the collapsible sections
(shown open), the dark theme, and vega charts (the validation rules' expectations draw none).

This module imports nothing from leadscore, so that it is also the plugin of the GX project
`leadscore validate --save` writes (`features.gx_project` copies it there as
`plugins/leadscore_offline_docs.py`): a user who runs that project's checkpoint with GX alone
gets the same offline pages. `leadscore validate`'s own Data Docs use it as
`features.data_docs`.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

STRIPPED_TEMPLATES = ("js_script_imports.j2", "page.j2", "index_page.j2", "page_minimal.j2")
"""Packaged templates whose external <script>/<link> tags are removed."""

_EXTERNAL_TAG = re.compile(
    r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*"
    r"|<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>\s*", re.IGNORECASE)
_REMOTE_IMAGES = re.compile(r"\{%\s*set static_images_dir = \"https?://[^\"]*\"\s*-?%\}")
STATIC_IMAGES_DIR = """{#- leadscore: the site's static/images/ seen from this page. A suite's page is
    expectations/<suite name, a folder per dot>.html; a run's page is
    validations/<suite name, a folder per dot>/<run name>/<run time>/<batch>.html. -#}
{%- set leadscore_dots = expectation_suite_name.count(".") if expectation_suite_name else 0 -%}
{%- if "ValidationResults" in renderer_type or "ProfilingResults" in renderer_type -%}
  {%- set static_images_dir = ((leadscore_dots + 4) * "../") + "static/images/" -%}
{%- elif "ExpectationSuite" in renderer_type -%}
  {%- set static_images_dir = ((leadscore_dots + 1) * "../") + "static/images/" -%}
{%- else -%}
  {%- set static_images_dir = "./static/images/" -%}
{%- endif -%}
"""
"""Where a page finds the site's images: the one definition the logo and the icon use."""

FAVICON = STATIC_IMAGES_DIR + """<link rel="shortcut icon" href="{{ static_images_dir + "favicon.ico" }}" type="image/x-icon"/>
"""
_LOGO_SUFFIX = re.compile(r"\"logo-long\.png\"\s*\|\s*add_data_context_id_to_url")
_DARK_REMOTE_LOGO = re.compile(r"\.navbar-brand a \{[^}]*url\('https?://[^']*'\)[^}]*\}\s*"
                               r"\.navbar-brand a img \{[^}]*\}")

STATIC_TABLE = """{% include 'content_block_header.j2' %}
{#- leadscore: the table as plain HTML rows, readable with no script and no network
    (the packaged template hands the rows to bootstrap-table, loaded from a CDN). -#}
{% if "styling" in content_block and "body" in content_block["styling"] -%}
  {% set content_block_body_styling = content_block["styling"]["body"] | render_styling -%}
{% else -%}
  {% set content_block_body_styling = "" -%}
{% endif -%}
{% set table_columns = content_block["table_columns"] %}
{% set rows = content_block["table_data"] | render_bootstrap_table_data %}
<table id="{{ content_block_id ~ '-body-table' }}" class="leadscore-static-table"
  {{ content_block_body_styling | replace("{{section_id}}", section_id) | replace("{{content_block_id}}", content_block_id) }}>
  <thead>
  {% if "title_row" in content_block -%}
    <tr><th colspan="{{ table_columns | length }}">{{ content_block["title_row"] | render_content_block }}</th></tr>
  {%- endif %}
    <tr>{% for column in table_columns %}<th>{{ column["title"] }}</th>{% endfor %}</tr>
  </thead>
  <tbody>
  {% for row in rows -%}
    <tr>{% for column in table_columns %}<td>
      {%- if loop.first and row.get("_table_row_link_path") -%}
        <a href="{{ row["_table_row_link_path"] }}" title="open this run">{{ row.get(column["field"], "") }}</a>
      {%- else -%}{{ row.get(column["field"], "") }}{%- endif -%}
    </td>{% endfor %}</tr>
  {% endfor -%}
  </tbody>
</table>
"""

OFFLINE_STYLES = """/* leadscore: the Data Docs without their CDN stylesheets (features/data_docs.py). */
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 1rem; line-height: 1.4; }
.modal, .invisible, .d-none, .sr-only, .cooltip .top, #ge-cta-footer { display: none; }
.navbar { display: flex; align-items: center; border-bottom: 1px solid #ddd; padding: .25rem 0; }
ul.nav, ol.breadcrumb { list-style: none; display: flex; gap: 1rem; padding: 0; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: .5rem 1rem; margin: .75rem 0; }
table { border-collapse: collapse; margin: .5rem 0; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #f3f4f6; }
pre, code { white-space: pre-wrap; word-break: break-word; }
.text-success { color: #1e7e34; }
.text-danger { color: #bd2130; }
.text-warning { color: #a66d00; }
.fas.fa-check-circle::before { content: "\\2714"; }
.fas.fa-times::before, .fas.fa-times-circle::before { content: "\\2718"; }
.fas.fa-exclamation-triangle::before { content: "\\26A0"; }
.fas.fa-question-circle::before { content: "?"; }
@media (min-width: 768px) {
  .row { display: flex; gap: 1rem; }
  .col-md-2 { flex: 0 0 16%; max-width: 16%; }
  .col-md-10 { flex: 1 1 80%; min-width: 0; }
}
"""


def packaged_template(name: str, folder: str = "templates") -> str:
    """The text of one of the installed Great Expectations page templates (or, with
    folder="static/styles", of its stylesheets)."""
    return (resources.files("great_expectations") / "render" / "view" / folder / name).read_text(
        encoding="utf-8")


def offline_templates() -> dict[str, str]:
    """{template name: text} of the views that replace GX's own, made from the installed ones."""
    views = {name: _EXTERNAL_TAG.sub("", packaged_template(name)) for name in STRIPPED_TEMPLATES}
    navbar = _LOGO_SUFFIX.sub('"logo-long.png"', packaged_template("top_navbar.j2"))
    views["top_navbar.j2"] = _REMOTE_IMAGES.sub(lambda _: STATIC_IMAGES_DIR, navbar)
    views["favicon.j2"] = FAVICON
    views["data_docs_default_styles.css"] = _DARK_REMOTE_LOGO.sub(
        "", packaged_template("data_docs_default_styles.css", "static/styles"))
    views["bootstrap_table.j2"] = STATIC_TABLE
    for name, text in views.items():  # a newer GX with other remote assets must not slip by
        if re.search(r"(src|href)=\"https?://|url\(['\"]?https?://", text) or "amazonaws" in text:
            raise RuntimeError(f"great_expectations' {name} still loads a remote asset after "
                               "stripping: update features/data_docs.py for this GX version")
    if "add_data_context_id_to_url" in views["top_navbar.j2"] or STATIC_IMAGES_DIR not in views["top_navbar.j2"]:
        raise RuntimeError("great_expectations' top_navbar.j2 changed: update features/data_docs.py")
    return views


@functools.lru_cache(maxsize=1)
def _offline_loader() -> Any:
    from jinja2 import DictLoader

    views = offline_templates()
    views["data_docs_custom_styles.css"] = OFFLINE_STYLES
    return DictLoader(views)


def _offline(view: Any) -> None:
    """Put the offline templates before the view's own loaders."""
    from jinja2 import ChoiceLoader

    view.env.loader = ChoiceLoader([_offline_loader(), view.env.loader])


class OfflinePageView(DefaultJinjaPageView):
    """GX's page view (suites, validation results) rendering with no remote asset."""

    def __init__(self, custom_styles_directory: Any = None, custom_views_directory: Any = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _offline(self)


class OfflineIndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view rendering with no remote asset."""

    def __init__(self, custom_styles_directory: Any = None, custom_views_directory: Any = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        _offline(self)


def site_config(module_name: str, base_directory: str) -> dict:
    """A Data Docs site (GX's `SiteBuilder`) whose pages render offline, written under
    `base_directory` (relative to a file project's root, or absolute); `module_name` is where
    GX imports the views from (this module's name where it is installed)."""
    def view(class_name: str) -> dict:
        return {"module_name": module_name, "class_name": class_name}

    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": base_directory},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": view("OfflineIndexPageView")},
        "site_section_builders": {section: {"view": view("OfflinePageView")}
                                  for section in ("expectations", "validations", "profiling")},
    }


def remote_assets(html: str) -> list[str]:
    """The http(s) addresses a page loads as a script, stylesheet or image (links a reader
    may follow are not counted)."""
    tags = re.findall(r"<(?:script|link|img)\b[^>]*>", html, flags=re.IGNORECASE)
    return [address for tag in tags
            for address in re.findall(r"\b(?:src|href)=[\"'](https?://[^\"']+)", tag, flags=re.IGNORECASE)]
